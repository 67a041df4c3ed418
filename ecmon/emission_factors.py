"""CO2 from energy consumption, per energy type and year, exact like standard coal (ecmon/energy.py).

China is moving from dual control of energy consumption to dual control of carbon emissions, so every
figure the platform gives in tce it also gives in tonnes of CO2. Quantities are ``int`` grams of CO2
(gCO2, 1 tCO2 = 10**6 g). Factors are exact rationals; nothing here touches floats.

Scope (GB/T 32150-2015 and the national accounting guidelines report the two apart, never as one sum
without saying so; the GHG Protocol calls them scope 1 and scope 2):

- ``direct``: fuels burnt on site (燃料燃烧排放). Factor = net calorific value x carbon content per unit
  of heat x oxidation rate x 44/12 (the GB/T 32150-2015 formula; the IPCC 2006 Tier 1 method).
- ``indirect``: purchased electricity and heat (购入电力、热力产生的排放): the emissions happen at the
  power or heat plant. Electricity uses the national average CO2 emission factor of electricity of the
  reading's year as published by the Ministry of Ecology and Environment (MEE) with the National Bureau
  of Statistics; heat and steam the default 0.11 tCO2/GJ.
- ``none``: energy-consuming working media of GB/T 2589 Appendix B (water, compressed air, oxygen,
  nitrogen ...): their emissions are those of the electricity and fuel that made them, counted there;
  counting them again would double count.

Rounding happens once per enterprise x energy type x unit x calendar month bucket (half to even, to 1 g):
an enterprise's monthly CO2 is a function of its exact monthly physical total, so it does not depend
on how readings were batched, corrected or ordered, and every higher level is a sum of those integers
(a province's CO2 is exactly the sum of its enterprises'). The ledger (producers/ecmon_simulator/ledger.py)
computes the same buckets from what the gateways sent.

Sources. Fuel net calorific values are GB/T 2589-2020 Appendix A, the same figures ecmon/energy.py
converts to tce (so tce and CO2 use one heat content per fuel). Carbon contents are the IPCC 2006
defaults; the oxidation rate is IPCC 2006 Tier 1's 1 (100 %). GB/T 32150-2015 Appendix B and the
sector guidelines print Chinese defaults with oxidation rates of 93-99 %; those tables could not be
verified for this release (docs/analyst-guide.md, "Carbon next to coal"), so they are not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache
from types import MappingProxyType
from typing import Literal

from ecmon.energy import divide_half_even, lookup_energy_type, unit_factor

Scope = Literal["direct", "indirect", "none"]

G_PER_TCO2 = 10**6
CO2_PER_C = Fraction(44, 12)  # molar masses of CO2 and C

IPCC_2006 = ("IPCC 2006 Guidelines for National Greenhouse Gas Inventories, Vol. 2 Energy, Ch. 1 Introduction, "
             "Table 1.3 (default carbon content, kg C/GJ) and Ch. 2 Stationary Combustion (oxidation factor 1); "
             "https://www.ipcc-nggip.iges.or.jp/public/2006gl/vol2.html")
GB_T_2589 = "GB/T 2589-2020 Appendix A (net calorific value, as ecmon/energy.py)"
GB_T_32150 = ("GB/T 32150-2015 工业企业温室气体排放核算和报告通则 (General guideline of greenhouse gas emissions "
              "accounting and reporting for industrial enterprises), SAC/AQSIQ 2015: formula NCV x CC x OF x 44/12; "
              "purchased electricity and heat reported apart from fuel combustion")
HEAT_SOURCE = ("Default 0.11 tCO2/GJ for purchased heat, the value of the national accounting guidelines for "
               "enterprises (NDRC 2013-2015, 24 industries) used with GB/T 32150-2015; not verified against the "
               "printed text for this release")


@dataclass(frozen=True, slots=True)
class GridFactor:
    year: int
    kg_co2_per_kwh: Decimal
    source: str


_MEE_2021 = ("生态环境部 国家统计局 关于发布2021年电力二氧化碳排放因子的公告 (MEE and NBS announcement "
             "2024 No. 12, 2024-04-12): 全国电力平均二氧化碳排放因子 (national average)")
_MEE_2022 = ("生态环境部 国家统计局 关于发布2022年电力二氧化碳排放因子的公告 (MEE and NBS, 2024-12-20): "
             "全国电力平均二氧化碳排放因子 (national average)")
_MEE_2023 = ("生态环境部 国家统计局 关于发布2023年电力二氧化碳排放因子的公告 (MEE and NBS, published January "
             "2026): 全国电力平均二氧化碳排放因子 (national average)")

#: The national average CO2 emission factor of electricity (全国电力平均二氧化碳排放因子), kgCO2/kWh, by
#: the year it describes. Each is published a year or two later; add a year here when it is.
GRID_FACTORS: Mapping[int, GridFactor] = MappingProxyType({
    2021: GridFactor(2021, Decimal("0.5568"), _MEE_2021),
    2022: GridFactor(2022, Decimal("0.5366"), _MEE_2022),
    2023: GridFactor(2023, Decimal("0.5306"), _MEE_2023),
})


def grid_factor_year(year: int) -> int:
    """The published year whose factor prices electricity of ``year``: the year itself when published, the
    newest published year for later years (not yet published), the earliest for years before the series."""
    published = sorted(GRID_FACTORS)
    if year in GRID_FACTORS:
        return year
    if year > published[-1]:
        return published[-1]
    return published[0]


@dataclass(frozen=True, slots=True)
class FuelCarbon:
    """What burning one canonical unit of a fuel emits: NCV x carbon content x oxidation x 44/12."""

    ncv_kj_per_unit: Decimal
    carbon_kg_per_gj: Decimal
    ipcc_fuel: str
    oxidation: Decimal = Decimal(1)

    @property
    def kg_co2_per_unit(self) -> Fraction:
        return (Fraction(self.ncv_kj_per_unit) / 10**6 * Fraction(self.carbon_kg_per_gj)
                * Fraction(self.oxidation) * CO2_PER_C)


def _fuel(ncv_kj: str, carbon: str, ipcc_fuel: str) -> FuelCarbon:
    return FuelCarbon(Decimal(ncv_kj), Decimal(carbon), ipcc_fuel)


#: Direct emissions per fuel (canonical units of ecmon/energy.py: kg, m3). NCV: GB/T 2589-2020; carbon
#: content: IPCC 2006 Table 1.3, the IPCC fuel named.
FUELS: Mapping[str, FuelCarbon] = MappingProxyType({
    "raw_coal": _fuel("20908", "25.8", "Other bituminous coal (most Chinese raw coal is bituminous)"),
    "washed_coal": _fuel("26344", "25.8", "Coking coal"),
    "other_washed_coal": _fuel("8363", "25.8", "Other bituminous coal"),
    "coke": _fuel("28435", "29.2", "Coke oven coke and lignite coke"),
    "coal_tar": _fuel("33453", "22.0", "Coal tar"),
    "crude_oil": _fuel("41816", "20.0", "Crude oil"),
    "fuel_oil": _fuel("41816", "21.1", "Residual fuel oil"),
    "gasoline": _fuel("43070", "18.9", "Motor gasoline"),
    "kerosene": _fuel("43070", "19.6", "Other kerosene"),
    "diesel": _fuel("42652", "20.2", "Gas/Diesel oil"),
    "lpg": _fuel("50179", "17.2", "Liquefied petroleum gases"),
    "refinery_gas": _fuel("46055", "15.7", "Refinery gas"),
    "crude_benzene": _fuel("41816", "20.0", "Other petroleum products (no IPCC entry for crude benzene)"),
    "natural_gas": _fuel("35544", "15.3", "Natural gas"),
    "coke_oven_gas": _fuel("16726", "12.1", "Coke oven gas"),
    "blast_furnace_gas": _fuel("3763", "70.8", "Blast furnace gas"),
    "converter_gas": _fuel("6700", "49.6", "Oxygen steel furnace gas"),
})

#: Fuels with no default in the sources used: producer and water gas vary too much with the coal and
#: the process (IPCC's "gas works gas" is town gas, not them). They are direct emissions the platform
#: cannot yet price: counted as 0 gCO2 and listed as such in the analyst guide.
UNPRICED_FUELS = frozenset({"producer_gas", "water_gas"})

HEAT_KG_CO2_PER_GJ = Decimal(110)
#: GB/T 2589 low-pressure steam: 3763 MJ/t (ecmon/energy.py), so 3.763 MJ per kg of steam.
STEAM_MJ_PER_KG = Decimal("3.763")

INDIRECT = frozenset({"electricity", "heat", "steam"})
DIRECT = frozenset(FUELS) | UNPRICED_FUELS


def scope(energy_type: str) -> Scope:
    """Whether CO2 of ``energy_type`` is direct (scope 1), indirect (scope 2) or not counted (working media)."""
    code = lookup_energy_type(energy_type).code
    if code in DIRECT:
        return "direct"
    if code in INDIRECT:
        return "indirect"
    return "none"


def kg_co2_per_unit(energy_type: str, year: int) -> Fraction:
    """kgCO2 per canonical unit of ``energy_type`` (ecmon/energy.py) for readings of ``year``; exact."""
    code = lookup_energy_type(energy_type).code
    if code == "electricity":
        return Fraction(GRID_FACTORS[grid_factor_year(year)].kg_co2_per_kwh)
    if code == "heat":  # canonical unit MJ
        return Fraction(HEAT_KG_CO2_PER_GJ) / 1000
    if code == "steam":  # canonical unit kg
        return Fraction(HEAT_KG_CO2_PER_GJ) / 1000 * Fraction(STEAM_MJ_PER_KG)
    fuel = FUELS.get(code)
    return fuel.kg_co2_per_unit if fuel is not None else Fraction(0)


def source(energy_type: str, year: int) -> str:
    """Where the factor of ``energy_type`` for ``year`` comes from, in words for the reports and the docs."""
    code = lookup_energy_type(energy_type).code
    if code == "electricity":
        used = grid_factor_year(year)
        note = "" if used == year else f" (no factor published for {year}: the {used} factor is used)"
        return GRID_FACTORS[used].source + note
    if code in ("heat", "steam"):
        return HEAT_SOURCE + ("; steam by its GB/T 2589 heat content 3763 MJ/t" if code == "steam" else "")
    if code in FUELS:
        return f"{GB_T_32150}; NCV {GB_T_2589}; carbon content {IPCC_2006}: {FUELS[code].ipcc_fuel}"
    if code in UNPRICED_FUELS:
        return "no default factor in the sources used: counted as 0 until a measured factor is configured"
    return "energy-consuming working medium (GB/T 2589 Appendix B): its CO2 is counted with the energy that made it"


@dataclass(frozen=True, slots=True)
class Co2Factor:
    """gCO2 per thousandth of a reported unit, as an exact reduced fraction."""

    numerator: int
    denominator: int

    def to_g(self, value_milli: int) -> int:
        """gCO2 of ``value_milli`` thousandths, rounded half to even (also for negative values)."""
        return divide_half_even(value_milli * self.numerator, self.denominator)


@cache
def co2_factor(energy_type: str, unit: str, year: int) -> Co2Factor:
    """The exact factor turning ``value_milli`` of ``unit`` of ``energy_type`` of ``year`` into gCO2.

    g = value_milli / 1000 * unit_factor * kgCO2_per_unit * 1000 = value_milli * unit_factor * kgCO2_per_unit.
    """
    f = unit_factor(energy_type, unit) * kg_co2_per_unit(energy_type, year)
    return Co2Factor(f.numerator, f.denominator)


def co2_of_month(energy_type: str, unit: str, period: str, physical_milli: int) -> int:
    """gCO2 of one enterprise's monthly total of one energy type and unit (``period`` 'YYYY-MM')."""
    return co2_factor(energy_type, unit, int(period[:4])).to_g(physical_milli)


def g_to_tco2(g: int) -> Decimal:
    """Tonnes of CO2, exact (string construction avoids Decimal context rounding)."""
    return Decimal(f"{g}e-6")
