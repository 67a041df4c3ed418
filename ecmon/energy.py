"""Energy types, units and exact conversion to standard coal equivalent (GB/T 2589-2020).

The pipeline must reproduce regional totals exactly after any replay, so nothing here touches
floats. Readings carry ``value_milli`` (thousandths of the reported unit, an ``int``); standard
coal is carried as ``int`` milligrams of coal equivalent (mgce, 1 tce = 10**9 mgce). Each
(energy type, unit, method, year) becomes one rational :class:`CoalFactor`, computed once, and
each reading costs one multiplication and one ``divmod``.

Rounding happens once per reading (half to even, to 1 mgce). Sums of rounded readings can differ
from the rounded sum by at most 0.5 mgce per reading, i.e. below 1 gce per million readings,
and, more importantly, they are the same on every run in every order.

Electricity has two accounting methods. The naming follows the issue tracker, which calls the
calorific value (当量值, 0.1229 kgce/kWh, the physical heat content of 1 kWh) the "equivalent"
method; it is the default, as in GB/T 2589 comprehensive energy consumption. The "equal" method
(等价值) charges each kWh with the coal burnt to supply it: the national average coal
consumption of thermal power supply for the year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache
from types import MappingProxyType
from typing import Any, Literal

Method = Literal["equivalent", "equal"]
Dimension = Literal["energy", "mass", "volume"]

MGCE_PER_TCE = 10**9
EDITION = "GB/T 2589-2020"
_A = f"{EDITION} Appendix A"
_B = f"{EDITION} Appendix B (energy-consuming working media, 耗能工质)"


class UnknownEnergyType(ValueError):
    """An energy type code the platform does not know; the message lists the accepted codes."""


class UnknownUnit(ValueError):
    """A unit code the platform does not know; the message lists the accepted codes."""


class IncompatibleUnit(ValueError):
    """A known unit that cannot measure the given energy type (e.g. kWh of raw coal)."""


class NoCoefficientForYear(ValueError):
    """The equal-value method was asked for a year without a published figure."""


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    dimension: Dimension
    #: Size in the dimension's base unit (kJ, kg or m3); exact decimals, so conversions are exact.
    base_factor: Decimal


@dataclass(frozen=True, slots=True)
class EnergyType:
    code: str
    name_zh: str
    name_en: str
    canonical_unit: str
    kgce_per_unit: Decimal
    source: str
    #: Only for types metered by volume as often as by mass (water: 1 m3 counts as 1 t by the
    #: statistical convention); None forbids mixing mass and volume units.
    density_kg_per_m3: Decimal | None = None


def _units(*rows: tuple[str, Dimension, str]) -> Mapping[str, Unit]:
    return MappingProxyType({code: Unit(code, dim, Decimal(f)) for code, dim, f in rows})


UNITS: Mapping[str, Unit] = _units(
    ("Wh", "energy", "3.6"),
    ("kWh", "energy", "3600"),
    ("10k_kWh", "energy", "36000000"),  # 万千瓦时, the unit of Chinese energy statistics
    ("MWh", "energy", "3600000"),
    ("GWh", "energy", "3600000000"),
    ("kJ", "energy", "1"),
    ("MJ", "energy", "1000"),
    ("GJ", "energy", "1000000"),
    ("kg", "mass", "1"),
    ("t", "mass", "1000"),
    ("m3", "volume", "1"),  # gases: standard cubic metres (0 °C, 101.325 kPa) as in GB/T 2589
    ("10k_m3", "volume", "10000"),  # 万立方米
)

_WATER = Decimal(1000)


def _types(*rows: tuple[Any, ...]) -> Mapping[str, EnergyType]:
    out = {}
    for code, zh, en, unit, coef, source, *density in rows:
        out[code] = EnergyType(code, zh, en, unit, Decimal(coef), source, *density)
    return MappingProxyType(out)


ENERGY_TYPES: Mapping[str, EnergyType] = _types(
    ("electricity", "电力", "Electricity", "kWh", "0.1229",
     f"{_A}: calorific value (当量值) 3600 kJ/kWh; equal value (等价值) via electricity_coefficient()"),
    ("raw_coal", "原煤", "Raw coal", "kg", "0.7143", f"{_A}: 20908 kJ/kg"),
    ("washed_coal", "洗精煤", "Cleaned coal", "kg", "0.9000", f"{_A}: 26344 kJ/kg"),
    ("other_washed_coal", "其他洗煤(洗中煤)", "Other washed coal (middlings)", "kg", "0.2857",
     f"{_A}: 8363 kJ/kg"),
    ("coke", "焦炭", "Coke", "kg", "0.9714", f"{_A}: 28435 kJ/kg"),
    ("coal_tar", "煤焦油", "Coal tar", "kg", "1.1429", f"{_A}: 33453 kJ/kg"),
    ("crude_oil", "原油", "Crude oil", "kg", "1.4286", f"{_A}: 41816 kJ/kg"),
    ("fuel_oil", "燃料油", "Fuel oil", "kg", "1.4286", f"{_A}: 41816 kJ/kg"),
    ("gasoline", "汽油", "Gasoline", "kg", "1.4714", f"{_A}: 43070 kJ/kg"),
    ("kerosene", "煤油", "Kerosene", "kg", "1.4714", f"{_A}: 43070 kJ/kg"),
    ("diesel", "柴油", "Diesel oil", "kg", "1.4571", f"{_A}: 42652 kJ/kg"),
    ("lpg", "液化石油气", "Liquefied petroleum gas", "kg", "1.7143", f"{_A}: 50179 kJ/kg"),
    ("refinery_gas", "炼厂干气", "Refinery dry gas", "kg", "1.5714", f"{_A}: 46055 kJ/kg"),
    ("crude_benzene", "粗苯", "Crude benzene", "kg", "1.4286", f"{_A}: 41816 kJ/kg"),
    ("natural_gas", "天然气", "Natural gas", "m3", "1.2143",
     f"Convention: {_A} gives a range 1.1000-1.3300 kgce/m3 (32238-38931 kJ/m3); 1.2143 "
     "(35544 kJ/m3, its gas-field value, near the midpoint) is the value national energy "
     "statistics use when no measured calorific value is available"),
    ("coke_oven_gas", "焦炉煤气", "Coke oven gas", "m3", "0.5714",
     f"Convention: {_A} gives a range 0.5714-0.6143 kgce/m3 (16726-17981 kJ/m3); the lower "
     "bound, a value the standard prints, is used rather than an invented midpoint"),
    ("blast_furnace_gas", "高炉煤气", "Blast furnace gas", "m3", "0.1286", f"{_A}: 3763 kJ/m3"),
    ("converter_gas", "转炉煤气", "Converter (BOF) gas", "m3", "0.2286",
     "Convention, not from GB/T 2589: typical BOF-gas calorific value 6700 kJ/m3 used in "
     "steel-industry energy accounting; to be confirmed against the enterprise's measured value"),
    ("producer_gas", "发生炉煤气", "Producer gas", "m3", "0.1786", f"{_A}: 5227 kJ/m3"),
    ("water_gas", "水煤气", "Water gas", "m3", "0.3571", f"{_A}: 10454 kJ/m3"),
    ("steam", "蒸汽(低压)", "Steam (low pressure)", "kg", "0.1286",
     f"{_A}: low-pressure steam 3763 MJ/t. Convention for other steam: report it as 'heat' "
     "in MJ/GJ by its enthalpy"),
    ("heat", "热力", "Heat", "MJ", "0.03412", f"{_A}: 1 MJ / 29.3076 MJ per kgce"),
    ("water", "新水", "New (fresh) water", "t", "0.0857",
     f"{_B}: 2.51 MJ/t. GB/T 2589-1990 had 7.54 MJ/t = 0.2571 kgce/t; 1 m3 counted as 1 t",
     _WATER),
    ("softened_water", "软化水", "Softened water", "t", "0.4857", f"{_B}: 14.23 MJ/t; 1 m3 counted as 1 t",
     _WATER),
    ("deoxygenated_water", "除氧水", "Deoxygenated water", "t", "0.9714",
     f"{_B}: 28.45 MJ/t; 1 m3 counted as 1 t", _WATER),
    ("compressed_air", "压缩空气", "Compressed air", "m3", "0.0400", f"{_B}: 1.17 MJ/m3"),
    ("blast_air", "鼓风", "Blast air", "m3", "0.0300", f"{_B}: 0.88 MJ/m3"),
    ("oxygen", "氧气", "Oxygen", "m3", "0.4000", f"{_B}: 11.72 MJ/m3"),
    ("nitrogen", "氮气", "Nitrogen", "m3", "0.4000",
     f"{_B}: 11.72 MJ/m3, nitrogen as a by-product of air separation (0.6714 when the main product)"),
    ("carbon_dioxide", "二氧化碳气", "Carbon dioxide", "m3", "0.2143", f"{_B}: 6.28 MJ/m3"),
    ("acetylene", "乙炔", "Acetylene", "m3", "8.3143", f"{_B}: 243.67 MJ/m3"),
    ("calcium_carbide", "电石", "Calcium carbide", "kg", "2.0786", f"{_B}: 60.92 MJ/kg"),
)

#: National average coal consumption of thermal power supply, gce/kWh (6000 kW and larger
#: units), the basis of the equal-value (等价值) method. Source: China Electricity Council annual
#: statistics as commonly quoted; confirm against the official yearbook before regulatory use.
#: Add a year here when its figure is published.
EQUAL_VALUE_GCE_PER_KWH: Mapping[int, Decimal] = MappingProxyType({
    2015: Decimal("315"),
    2016: Decimal("312"),
    2017: Decimal("309"),
    2018: Decimal("307.6"),
    2019: Decimal("306.4"),
    2020: Decimal("305.5"),
    2021: Decimal("302.5"),
    2022: Decimal("300.7"),
    2023: Decimal("301.6"),
})
EQUAL_VALUE_SOURCE = "China Electricity Council annual statistics (to be confirmed against the official yearbook)"


def equal_value_year(year: int) -> int:
    """The year whose equal-value figure prices readings of ``year``: the national figure of a year is
    published the year after, so until then the newest published one applies."""
    return min(year, max(EQUAL_VALUE_GCE_PER_KWH))


@dataclass(frozen=True, slots=True)
class CoalFactor:
    """mgce per thousandth of a reported unit, as an exact reduced fraction."""

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if self.denominator <= 0:
            raise ValueError(f"CoalFactor denominator must be positive, got {self.denominator}")

    def to_mgce(self, value_milli: int) -> int:
        """Standard coal of one reading in mgce, rounded half to even (also for negative values)."""
        return divide_half_even(value_milli * self.numerator, self.denominator)


def lookup_energy_type(code: str) -> EnergyType:
    """The energy type with this code, or :class:`UnknownEnergyType` listing the accepted ones."""
    try:
        return ENERGY_TYPES[code]
    except (KeyError, TypeError):
        raise UnknownEnergyType(
            f"energy type {code!r} is not known; accepted: {', '.join(ENERGY_TYPES)}"
        ) from None


def lookup_unit(code: str) -> Unit:
    """The unit with this code, or :class:`UnknownUnit` listing the accepted ones."""
    try:
        return UNITS[code]
    except (KeyError, TypeError):
        raise UnknownUnit(
            f"unit {code!r} is not known; accepted (case-sensitive): {', '.join(UNITS)}"
        ) from None


def _compatible(et: EnergyType, u: Unit) -> bool:
    canonical = UNITS[et.canonical_unit].dimension
    if u.dimension == canonical:
        return True
    return et.density_kg_per_m3 is not None and {u.dimension, canonical} == {"mass", "volume"}


def accepted_units(energy_type_code: str) -> list[str]:
    """The unit codes that can measure this energy type."""
    et = lookup_energy_type(energy_type_code)
    return [code for code, u in UNITS.items() if _compatible(et, u)]


def unit_factor(energy_type_code: str, unit_code: str) -> Fraction:
    """How many canonical units of the energy type one ``unit_code`` is (exact)."""
    et = lookup_energy_type(energy_type_code)
    u = lookup_unit(unit_code)
    canonical = UNITS[et.canonical_unit]
    if not _compatible(et, u):
        raise IncompatibleUnit(
            f"unit {unit_code!r} measures {u.dimension}, but energy type {et.code!r} is measured in "
            f"{et.canonical_unit!r} ({canonical.dimension}); accepted units for {et.code}: "
            f"{', '.join(accepted_units(et.code))}"
        )
    factor = Fraction(u.base_factor)
    if u.dimension != canonical.dimension:  # mass <-> volume through the type's density
        assert et.density_kg_per_m3 is not None  # _compatible: volume and mass meet only through a density
        rho = Fraction(et.density_kg_per_m3)
        factor *= rho if u.dimension == "volume" else 1 / rho
    return factor / Fraction(canonical.base_factor)


def electricity_coefficient(method: Method = "equivalent", year: int | None = None) -> Decimal:
    """kgce per kWh of electricity under ``method``; ``year`` is needed only for "equal"."""
    if method == "equivalent":
        return ENERGY_TYPES["electricity"].kgce_per_unit
    if method != "equal":
        raise ValueError(f"electricity method must be 'equivalent' (当量值) or 'equal' (等价值), got {method!r}")
    if year is None:
        raise NoCoefficientForYear("the 'equal' electricity method needs the year of the reading")
    gce = EQUAL_VALUE_GCE_PER_KWH.get(year)
    if gce is None:
        known = sorted(EQUAL_VALUE_GCE_PER_KWH)
        raise NoCoefficientForYear(
            f"no national thermal power supply coal consumption figure for {year} "
            f"(have {known[0]}-{known[-1]}: {EQUAL_VALUE_SOURCE}); use method='equivalent' "
            f"or add the published figure to EQUAL_VALUE_GCE_PER_KWH"
        )
    return gce.scaleb(-3)


@cache
def coal_factor(
    energy_type: str, unit: str, *, method: Method = "equivalent", year: int | None = None
) -> CoalFactor:
    """The exact factor turning ``value_milli`` of ``unit`` of ``energy_type`` into mgce.

    mgce = value_milli / 1000 * unit_factor * kgce_per_unit * 10**6
         = value_milli * (unit_factor * kgce_per_unit * 1000).

    ``method``/``year`` change only electricity, but "equal" without a year is refused for every
    type, so a misconfigured pipeline fails on its first reading, not its first kWh.
    """
    if method not in ("equivalent", "equal"):
        raise ValueError(f"method must be 'equivalent' or 'equal', got {method!r}")
    if method == "equal" and year is None:
        raise NoCoefficientForYear("method='equal' needs the year of the reading")
    et = lookup_energy_type(energy_type)
    coef = electricity_coefficient(method, year) if et.code == "electricity" else et.kgce_per_unit
    f = unit_factor(et.code, unit) * Fraction(coef) * 1000
    return CoalFactor(f.numerator, f.denominator)



def to_mgce(
    energy_type: str, unit: str, value_milli: int, *, method: Method = "equivalent", year: int | None = None
) -> int:
    """Standard coal in mgce of ``value_milli`` thousandths of ``unit`` of ``energy_type``."""
    return coal_factor(energy_type, unit, method=method, year=year).to_mgce(value_milli)


def mgce_to_tce(mgce: int) -> Decimal:
    """Tonnes of coal equivalent, exact (string construction avoids Decimal context rounding)."""
    return Decimal(f"{mgce}e-9")


def divide_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half to even, exactly, also for a negative numerator."""
    if denominator == 1:
        return numerator
    q, r = divmod(numerator, denominator)  # floor division, so 0 <= r < denominator
    r += r
    if r > denominator or (r == denominator and q & 1):
        q += 1
    return q
