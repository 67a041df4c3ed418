"""National energy-consumption quota standards (单位产品能源消耗限额): the limit value per product.

Each mandatory standard sets, for existing plants, a *limit value* (限定值, in the 2021+ editions the
grade-3 value, "3级") of the unit-product comprehensive energy consumption (单位产品综合能耗): the
standard coal a plant may use per unit of product. A plant above it is in breach of a mandatory
national standard (Energy Conservation Law, art. 16). The platform compares each enterprise's
month with the limit of its product (``streams/ecmon_worker/enterprise_benchmarks.py``, ``ecmon report benchmark``).

Limits are exact integers in mgce per unit (1 kgce = 10**6 mgce), like every quantity of the platform,
so 13.5 kgce per weight box is 13_500_000 and no float enters the comparison.

Sources and how sure each value is (read this before using a verdict for enforcement):

- The values were taken from the editions named in each row, as reproduced in the NDRC list of
  benchmark and baseline energy-efficiency levels of energy-intensive industries
  (发改产业〔2021〕1609号, "基准水平", which were set at the limit values of the standards then in
  force), cross-checked with the author's knowledge of the standards' tables. They were NOT checked
  against the standard texts in this repository (the texts are sold by SAC and not stored here).
- Newer editions exist or are in preparation for some products (GB 21257-2024 replaced GB 21257-2014
  on 2025-05-01 and introduced grades; GB 21344 and GB 21256 have been revised). Their values could not
  be verified here, so the older editions are used and named. When a newer edition is confirmed, add a
  row with its number and year; the standard number and year travel with every verdict.
- Most products have several limits (by process route or plant size). One route per product is used,
  named in ``route``; where the plant size is unknown, the least strict size class is taken, so a
  breach shown is a breach for every size.
- Product codes: crude steel, cement clinker and synthetic ammonia are the codes the gateways send
  (``producers/ecmon_simulator/profiles.py``). The codes for flat glass and caustic soda are this platform's
  assignment in the same catalogue style (统计用产品分类目录) and must be confirmed against the
  National Bureau of Statistics catalogue before gateways are told to use them.
- Energy scope (what the numerator counts) is the standard's, not the enterprise's: each row names
  the energy types that belong to the product's process (``energy_types``; None = every type the
  enterprise meters) and the electricity method the standard prescribes. Electricity counts at its
  calorific value (当量值, 0.1229 kgce/kWh, GB/T 2589): GB 21256-2013 made its limit values under the
  当量值 mandatory and kept the 等价值 only for its advanced values (verified in the standard's
  foreword); for the other rows the 当量值 is this platform's reading of their calculation clauses (not
  verified against the texts). The benchmark converts the metered quantities itself
  (:func:`scope_energy_mgce`), so it does not change with ``ECMON_ELECTRICITY_METHOD``, which sets the
  method of the platform's totals.
- The platform measures energy by type, not by process: within an energy type in scope it counts the
  whole enterprise (a cement works' electricity includes its cement mills, a steel works' its rolling
  mill). Its figure is therefore an upper bound of the standard's; a breach found here is a screening
  signal for an energy-conservation inspection, not its verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from ecmon.energy import ENERGY_TYPES, Method, coal_factor
from ecmon.industries import industry

MGCE_PER_KGCE = 10**6

#: Units a production output may be reported in (avro/v1/production_output.avsc ``unit``), with their
#: size in the base unit of their dimension, so a quantity in kg can be compared with a limit per t.
PRODUCT_UNITS: Mapping[str, tuple[str, Fraction]] = MappingProxyType({
    "t": ("mass", Fraction(1)),
    "kg": ("mass", Fraction(1, 1000)),
    "m": ("length", Fraction(1)),
    "m2": ("area", Fraction(1)),
    "m3": ("volume", Fraction(1)),
    "10k_m3": ("volume", Fraction(10_000)),
    "kWh": ("energy", Fraction(1)),
    "piece": ("count", Fraction(1)),
    # 重量箱: 50 kg of 2 mm flat glass, the unit flat-glass output and its quota are counted in.
    "weight_box": ("weight_box", Fraction(1)),
})


class UnknownProductUnit(ValueError):
    """A unit code no production output may use."""


class IncompatibleProductUnit(ValueError):
    """A known unit that cannot measure the product's quota unit (pieces of cement clinker)."""


@dataclass(frozen=True, slots=True)
class QuotaStandard:
    standard: str  # e.g. "GB 16780"
    year: int  # edition
    title_zh: str
    product_code: str  # as the gateways send it (product_code of ProductionOutput)
    product_zh: str
    product_en: str
    unit: str  # the unit the limit is per (a PRODUCT_UNITS code)
    limit_mgce: int  # limit value (限定值) of unit-product comprehensive energy consumption, mgce per unit
    industry_code: str  # GB/T 4754-2017
    route: str  # which of the standard's limits this is
    confidence: str  # how well the value is supported (see the module docstring)
    #: Energy types counted in the product's comprehensive energy consumption; None counts every type.
    energy_types: frozenset[str] | None = None
    scope: str = "every energy type the enterprise meters"  # the boundary, in words
    electricity_method: Method = "equivalent"  # 当量值, 0.1229 kgce/kWh

    def counts(self, energy_type: str) -> bool:
        """Whether ``energy_type`` is inside the standard's energy scope."""
        return self.energy_types is None or energy_type in self.energy_types

    @property
    def number(self) -> str:
        """The full standard number, e.g. "GB 16780-2021"."""
        return f"{self.standard}-{self.year}"

    @property
    def limit_kgce(self) -> Fraction:
        return Fraction(self.limit_mgce, MGCE_PER_KGCE)


def _kgce(value: str) -> int:
    """'13.5' kgce -> 13_500_000 mgce, exactly (a decimal string, never a float)."""
    exact = Fraction(value) * MGCE_PER_KGCE
    if exact.denominator != 1:
        raise ValueError(f"{value} kgce is not a whole number of mgce")
    return int(exact)


_ROWS = (
    QuotaStandard(
        "GB 32050", 2015, "电弧炉冶炼单位产品能源消耗限额", "3206010100", "粗钢", "crude steel", "t",
        _kgce("86"), "3120", "electric-arc furnace smelting of ordinary steel, nominal capacity 30-50 t (the "
        "less strict class; 50 t and above: 72 kgce/t)",
        "low-medium: GB 21256-2013 dropped its EAF limit (verified in its foreword), which is why this row is "
        "not GB 21256; 86 kgce/t is recalled as the NDRC 2021 baseline level for EAF smelting, set at this "
        "standard's limit value, and was not checked against the text",
        frozenset({"electricity", "natural_gas", "coke_oven_gas", "converter_gas", "fuel_oil", "diesel", "oxygen",
                   "nitrogen", "compressed_air", "water"}),
        "the EAF process: electricity, fuel gases and oils, oxygen and other working media; coke and "
        "blast-furnace gas belong to ironmaking (GB 21256 blast-furnace process) and are not counted",
    ),
    QuotaStandard(
        "GB 16780", 2021, "水泥单位产品能源消耗限额", "3101010000", "水泥熟料", "cement clinker", "t",
        _kgce("117"), "3011", "clinker, grade 3 (3级 = limit value)",
        "high: equals the NDRC 2021 baseline level for clinker (117 kgce/t), set at this edition's grade 3",
        frozenset({"raw_coal", "washed_coal", "other_washed_coal", "coke", "fuel_oil", "diesel", "natural_gas",
                   "electricity"}),
        "clinker: kiln and calciner fuel plus electricity of raw meal, coal mill and kiln system; steam, "
        "heat and water are not counted",
    ),
    QuotaStandard(
        "GB 21340", 2019, "玻璃和铸石单位产品能源消耗限额", "3141010000", "平板玻璃", "flat glass", "weight_box",
        _kgce("13.5"), "3041", "float glass, melting capacity 500-800 t/d (the less strict size class; "
        "above 800 t/d the limit is 12 kgce per weight box)",
        "medium-high: equals the NDRC 2021 baseline level for flat glass; product code is a platform "
        "assignment",
    ),
    QuotaStandard(
        "GB 21257", 2014, "烧碱单位产品能源消耗限额", "2601030000", "烧碱", "caustic soda", "t",
        _kgce("350"), "2612", "ion-exchange membrane liquid caustic soda, NaOH >= 30 %, per t of 100 % NaOH "
        "(折百), existing plants",
        "medium: recalled from the 2014 table; GB 21257-2024 (in force 2025-05-01) replaces it with graded "
        "limits not verified here; product code is a platform assignment",
    ),
    QuotaStandard(
        "GB 21344", 2015, "合成氨单位产品能源消耗限额", "2601010000", "合成氨", "synthetic ammonia", "t",
        _kgce("1200"), "2621", "natural-gas feedstock, existing plants (anthracite lump 1200, coal fines "
        "1550 kgce/t)",
        "medium: equals the NDRC 2021 baseline level for natural-gas ammonia; a 2023 revision was not "
        "verified here",
        None,
        "feedstock and fuel gas, electricity, purchased steam and heat and working media: every type",
    ),
)

STANDARDS: Mapping[str, QuotaStandard] = MappingProxyType({s.product_code: s for s in _ROWS})
"""Product code -> its quota standard."""


def standard_for(product_code: str) -> QuotaStandard | None:
    """The quota standard of a product, or None when the platform knows none for it."""
    return STANDARDS.get(product_code)


def quantity_in(unit: str, quantity_milli: int, target_unit: str) -> Fraction:
    """``quantity_milli`` thousandths of ``unit`` expressed in whole ``target_unit`` (exact)."""
    try:
        dimension, size = PRODUCT_UNITS[unit]
        target_dimension, target_size = PRODUCT_UNITS[target_unit]
    except KeyError as exc:
        raise UnknownProductUnit(f"unit {exc.args[0]!r} is not a product unit; accepted: "
                                 f"{', '.join(PRODUCT_UNITS)}") from None
    if dimension != target_dimension:
        raise IncompatibleProductUnit(f"{unit} ({dimension}) cannot measure a product counted in {target_unit} "
                                      f"({target_dimension})")
    return Fraction(quantity_milli, 1000) * size / target_size


def scope_energy_mgce(standard: QuotaStandard, physical: Iterable[tuple[str, str, int]]) -> int:
    """The standard's comprehensive energy consumption of metered quantities, in mgce.

    ``physical`` holds (energy type, unit, thousandths of the unit) rows, e.g. an enterprise's monthly
    totals; types outside the scope are left out, and each (type, unit) total is converted once with
    the standard's electricity method, whatever method the platform's totals used. The worker and
    ``ecmon report benchmark`` both call this, so they agree on the same quantities exactly.
    """
    totals: dict[tuple[str, str], int] = {}
    for energy_type, unit, milli in physical:
        if standard.counts(energy_type):
            totals[(energy_type, unit)] = totals.get((energy_type, unit), 0) + milli
    return sum(coal_factor(energy_type, unit, method=standard.electricity_method).to_mgce(milli)
               for (energy_type, unit), milli in sorted(totals.items()))


def _check() -> None:
    """The table's own consistency, at import: a typo here would silently mis-benchmark a sector."""
    for s in _ROWS:
        industry(s.industry_code)  # raises for a code the platform does not monitor
        unknown = (s.energy_types or frozenset()) - set(ENERGY_TYPES)
        if unknown:
            raise ValueError(f"quota row {s.number}: unknown energy types {sorted(unknown)}")
        if s.unit not in PRODUCT_UNITS or s.limit_mgce <= 0:
            raise ValueError(f"bad quota row {s.number} {s.product_en}")
    if len(STANDARDS) != len(_ROWS):
        raise ValueError("two quota rows share a product code")


_check()
