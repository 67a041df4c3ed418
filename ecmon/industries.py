"""GB/T 4754-2017 industry codes of the energy-intensive industries the platform monitors.

Only the sectors that key energy-consuming enterprises belong to are listed, at the level the
national energy statistics and the energy-consumption-quota standards (GB 16780 cement,
GB 21256 crude steel, ...) use: two-digit divisions plus the four-digit classes that have their
own quota. Codes and names follow GB/T 4754-2017 (as amended 2019, which changed no code here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Industry:
    code: str
    name_zh: str
    name_en: str

    @property
    def division(self) -> str:
        """The two-digit division (大类) this code belongs to; rollups aggregate to it."""
        return self.code[:2]


class UnknownIndustry(ValueError):
    """An industry code the platform does not monitor; the message lists the accepted ones."""


_ROWS = (
    # Mining: large own-use consumers of electricity and diesel.
    ("06", "煤炭开采和洗选业", "Mining and washing of coal"),
    ("07", "石油和天然气开采业", "Extraction of petroleum and natural gas"),
    ("08", "黑色金属矿采选业", "Mining and processing of ferrous metal ores"),
    ("09", "有色金属矿采选业", "Mining and processing of non-ferrous metal ores"),
    # Light industry with boilers and drying.
    ("13", "农副食品加工业", "Processing of food from agricultural products"),
    ("15", "酒、饮料和精制茶制造业", "Manufacture of liquor, beverages and refined tea"),
    ("17", "纺织业", "Manufacture of textiles"),
    ("1713", "棉印染精加工", "Dyeing and finishing of cotton textiles"),
    ("22", "造纸和纸制品业", "Manufacture of paper and paper products"),
    ("2211", "木竹浆制造", "Manufacture of wood and bamboo pulp"),
    ("2221", "机制纸及纸板制造", "Manufacture of machine-made paper and paperboard"),
    # The six energy-intensive divisions of the national statistics (25, 26, 30, 31, 32, 44).
    ("25", "石油、煤炭及其他燃料加工业", "Processing of petroleum, coal and other fuels"),
    ("2511", "原油加工及石油制品制造", "Processing of crude oil and manufacture of petroleum products"),
    ("2521", "炼焦", "Coking"),
    ("26", "化学原料和化学制品制造业", "Manufacture of raw chemical materials and chemical products"),
    ("2611", "无机酸制造", "Manufacture of inorganic acids"),
    ("2612", "无机碱制造", "Manufacture of inorganic alkalis (caustic soda, soda ash)"),
    ("2614", "有机化学原料制造", "Manufacture of organic chemical raw materials"),
    ("2619", "其他基础化学原料制造", "Manufacture of other basic chemical materials (incl. calcium carbide)"),
    ("2621", "氮肥制造", "Manufacture of nitrogen fertilisers (incl. synthetic ammonia)"),
    ("2651", "初级形态塑料及合成树脂制造", "Manufacture of primary plastics and synthetic resins"),
    ("28", "化学纤维制造业", "Manufacture of chemical fibres"),
    ("30", "非金属矿物制品业", "Manufacture of non-metallic mineral products"),
    ("3011", "水泥制造", "Manufacture of cement"),
    ("3012", "石灰和石膏制造", "Manufacture of lime and gypsum"),
    ("3041", "平板玻璃制造", "Manufacture of flat glass"),
    ("3071", "建筑陶瓷制品制造", "Manufacture of building ceramics"),
    ("31", "黑色金属冶炼和压延加工业", "Smelting and pressing of ferrous metals"),
    ("3110", "炼铁", "Iron making"),
    ("3120", "炼钢", "Steel making"),
    ("3130", "钢压延加工", "Steel rolling"),
    ("3140", "铁合金冶炼", "Ferroalloy smelting"),
    ("32", "有色金属冶炼和压延加工业", "Smelting and pressing of non-ferrous metals"),
    ("3211", "铜冶炼", "Copper smelting"),
    ("3212", "铅锌冶炼", "Lead and zinc smelting"),
    ("3216", "铝冶炼", "Aluminium smelting"),
    ("3218", "硅冶炼", "Silicon smelting"),
    # Equipment manufacturing: many enterprises, moderate intensity.
    ("33", "金属制品业", "Manufacture of metal products"),
    ("34", "通用设备制造业", "Manufacture of general-purpose machinery"),
    ("3412", "金属切削机床制造", "Manufacture of metal-cutting machine tools"),
    ("36", "汽车制造业", "Manufacture of automobiles"),
    ("39", "计算机、通信和其他电子设备制造业",
     "Manufacture of computers, communication and other electronic equipment"),
    # Energy supply.
    ("44", "电力、热力生产和供应业", "Production and supply of electricity and heat"),
    ("4411", "火力发电", "Thermal power generation"),
    ("4412", "热电联产", "Combined heat and power generation"),
    ("4430", "热力生产和供应", "Production and supply of heat"),
    ("45", "燃气生产和供应业", "Production and supply of gas"),
    ("46", "水的生产和供应业", "Production and supply of water"),
)

INDUSTRIES: Mapping[str, Industry] = MappingProxyType({c: Industry(c, zh, en) for c, zh, en in _ROWS})


def industry(code: str) -> Industry:
    """The monitored industry with this GB/T 4754-2017 code, or :class:`UnknownIndustry`."""
    try:
        return INDUSTRIES[code]
    except (KeyError, TypeError):
        hint = ""
        if isinstance(code, str) and code[:2] in INDUSTRIES and code != code[:2]:
            hint = f"; its division {code[:2]!r} ({INDUSTRIES[code[:2]].name_en}) is monitored"
        raise UnknownIndustry(
            f"industry code {code!r} is not a monitored GB/T 4754-2017 code{hint}. "
            f"Accepted: {', '.join(INDUSTRIES)}"
        ) from None
