"""How figures and codes read for people: Chinese names for codes, units with thousands separators, China
Standard Time. The HTML report and every `ecmon report` format that a person reads use these; the exact
integers (mgce, gCO2, thousandths) stay beside them for machines.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from ecmon.display_units import UNIT_NAMES_ZH, display_unit
from ecmon.emission_factors import G_PER_TCO2
from ecmon.energy import ENERGY_TYPES
from ecmon.industries import INDUSTRIES
from ecmon.months import CST
from ecmon.regions import UnknownRegion, region

MGCE_PER_TCE = 10**9

#: How GB/T 32150-2015 names the two kinds of emission it reports apart; working media (GB/T 2589 Appendix B)
#: are not counted, their emissions being those of the electricity and fuel that made them.
SCOPES_ZH = {"direct": "直接排放", "indirect": "间接排放", "none": "不计入"}
LEVELS_ZH = {"green": "绿灯", "orange": "橙灯", "red": "红灯"}
SEVERITY_LEVEL = {"INFO": "green", "WARNING": "orange", "CRITICAL": "red"}
ANOMALY_TYPES_ZH = {
    "early_warning_month": "月度用能预警", "early_warning_year": "年度用能预警",
    "intensity_above_standard": "单位产品能耗超限额", "silent_enterprise": "企业停报", "silent_meter": "计量器具停报",
    "spike": "突增", "noisy": "波动异常", "drop": "骤降", "level_shift": "水平突变", "drift": "漂移",
    "stuck": "读数停滞", "counter_regression": "计数器回退", "impossible_value": "不可能值",
}


def region_name(code: str) -> str:
    """'370000' -> '山东省'; '*' or '' -> '全国'; an unknown code stays a code."""
    if code in ("", "*", "CN", "000000"):
        return "全国"
    try:
        return region(code).name
    except (UnknownRegion, ValueError):
        return code


def industry_name(code: str) -> str:
    """'3110' -> '炼钢'; '*' -> '全部行业'; an unknown code stays a code."""
    if code in ("", "*"):
        return "全部行业"
    found = INDUSTRIES.get(code)
    return found.name_zh if found else code


def energy_name(code: str) -> str:
    found = ENERGY_TYPES.get(code)
    return found.name_zh if found else code


def unit_name(code: str) -> str:
    return UNIT_NAMES_ZH.get(code, code)


def anomaly_type_name(code: str) -> str:
    return ANOMALY_TYPES_ZH.get(code, code)


def grouped(value: Decimal | int, places: int) -> str:
    """Thousands separators and a fixed number of decimals, rounded half to even: 1234567.8915 -> '1,234,567.892'."""
    q = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{q:,.{places}f}"


def tce_text(mgce: int, places: int = 3) -> str:
    """Standard coal in tonnes with separators: 1_234_567_891_234 mgce -> '1,234.568'."""
    return grouped(Decimal(mgce) / MGCE_PER_TCE, places)


def co2_text(g: int, places: int = 3) -> str:
    """CO2 in tonnes with separators, from the exact grams: 1_234_567_891_500 g -> '1,234,567.892'."""
    return grouped(Decimal(g) / G_PER_TCO2, places)


def co2_scope_name(code: str) -> str:
    """'indirect' -> '间接排放'; an unknown scope stays as it is."""
    return SCOPES_ZH.get(code, code)


def physical(quantity_milli: int, unit: str) -> tuple[Decimal, str]:
    """Thousandths of ``unit`` -> (quantity, display unit): 1_500_000_000 thousandths of kWh -> (1500, 'MWh')."""
    display, per = display_unit(unit)
    return Decimal(quantity_milli) / per, display


def physical_text(quantity_milli: int, unit: str, places: int = 3) -> str:
    value, display = physical(quantity_milli, unit)
    return f"{grouped(value, places)} {display}"


def percent_bp(bp: int | None, places: int = 2) -> str:
    """Basis points -> '12.34 %' (signed when asked by the caller with a '+'); None -> '—'."""
    if bp is None:
        return "—"
    return f"{grouped(Decimal(bp) / 100, places)} %"


def change_text(current: int, previous: int | None) -> str:
    """Relative change as '+3.2 %' / '−1.0 %'; '—' without a base."""
    if not previous:
        return "—"
    change = (Decimal(current) / Decimal(previous) - 1) * 100
    text = grouped(abs(change), 1)
    return f"+{text} %" if change > 0 else (f"−{text} %" if change < 0 else "0.0 %")


def cst(moment: datetime | int) -> str:
    """A UTC moment (naive datetimes from ClickHouse are UTC; ints are epoch ms) in China Standard Time."""
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment / 1000, tz=UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M 北京时间")


def month_zh(month: str) -> str:
    """'2026-10' -> '2026年10月'."""
    year, mon = month.split("-")
    return f"{int(year)}年{int(mon)}月"
