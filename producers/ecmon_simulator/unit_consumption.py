"""How much each simulated plant makes: output calibrated to a realistic unit consumption.

A plant's output follows the activity of its product's own process (the kiln for clinker, the arc
furnace for crude steel, the synthesis loop for ammonia), read from the industry profile's load, not
from its meters: a kiln stoppage stops clinker, a spiking meter does not make more of it. The scale
is set per enterprise so that its comprehensive energy consumption per unit of product, counted as the
product's quota standard counts it (``ecmon.quota_standards``: the energy types in scope, electricity
at 0.1229 kgce/kWh), lands on a figure drawn from the band below: most plants between the industry's
advanced level and the limit value, about one in seven above the limit, none outside the band.

The bands (kgce per unit of product). "Recalled" marks a figure taken from the author's knowledge of
the published source, which could not be checked against the text here; ``docs/analyst-guide.md``
lists them with the same marks.

- crude steel, EAF process (GB 32050-2015, limit 86): 58-95. Low end near the NDRC 2021 benchmark
  level for EAF smelting (61, 发改产业〔2021〕1609号, recalled); China Iron and Steel Association
  members' EAF process energy has been about 55-65 in recent years (recalled). The simulated works'
  meters (36 MWh an hour of electricity with hot metal from its own small blast furnace) then make
  about 20-120 kt of crude steel a month, an EAF works of 0.25-1.4 Mt a year.
- cement clinker (GB 16780-2021, limit 117): 100-125. 100 is the NDRC 2021 benchmark level for
  clinker (recalled); national average around 105-110 (China Cement Association, recalled). With the
  profile's 12 t of raw coal per 15 minutes this is about 3.5-17 kt of clinker a day, one to three
  kiln lines of 3,000-6,000 t/d.
- synthetic ammonia, natural gas (GB 21344-2015, limit 1200): 1000-1300. 1000 is the NDRC 2021
  benchmark level for gas-based ammonia (recalled); modern gas-based plants run at 1000-1150. Plant
  size about 250-1200 t a day (80-400 kt a year).
- machine-made paper (no quota standard in ecmon.quota_standards): 330-520 per t; GB 31825-2015
  (pulp and paper) sets limits of this order for non-integrated paper grades and the China Paper
  Association reports about 0.4 tce per tonne of paper and board (both recalled).
- printed and dyed cloth (no quota standard): 0.28-0.45 per m, i.e. 28-45 kgce per 100 m; the
  printing and dyeing industry's conditions (印染行业规范条件, 2017) ask at most 30 kgce/100 m of
  cotton and chemical-fibre woven cloth from new plants (recalled).
- metal-cutting machine tools (no quota standard): 800-2500 per piece. No public per-piece figure
  was found; this is the platform's assumption (a mid-size CNC machine and a typical workshop).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ecmon.energy import coal_factor
from ecmon.quota_standards import standard_for
from ecmon_simulator.profiles import IndustryProfile, chance

_QUARTER_HOUR_MS = 900_000
#: Share of enterprises drawn above the limit value of their product's quota standard.
FAIL_SHARE = 0.15


@dataclass(frozen=True)
class UnitConsumptionBand:
    """Plausible comprehensive energy consumption per unit of product, kgce per unit."""

    low: Fraction
    high: Fraction
    source: str


BANDS: dict[str, UnitConsumptionBand] = {
    "3206010100": UnitConsumptionBand(Fraction(58), Fraction(95), "GB 32050-2015 limit 86; NDRC 2021 EAF levels"),
    "3101010000": UnitConsumptionBand(Fraction(100), Fraction(125), "GB 16780-2021 limit 117; NDRC 2021 level 100"),
    "2601010000": UnitConsumptionBand(Fraction(1000), Fraction(1300),
                                      "GB 21344-2015 limit 1200 (natural gas); NDRC 2021 level 1000"),
    "2221010000": UnitConsumptionBand(Fraction(330), Fraction(520), "GB 31825-2015 order of magnitude (recalled)"),
    "1713010000": UnitConsumptionBand(Fraction(28, 100), Fraction(45, 100),
                                      "印染行业规范条件 2017: 30 kgce/100 m (recalled)"),
    "3412000000": UnitConsumptionBand(Fraction(800), Fraction(2500), "platform assumption"),
}


def drawn_kgce_per_unit(profile: IndustryProfile, seed: int) -> Fraction:
    """The enterprise's unit consumption, stable for its seed: below the limit for most, above for a few."""
    band = BANDS[profile.product.code]
    u = Fraction(chance(seed, "unit-consumption")).limit_denominator(10**6)
    standard = standard_for(profile.product.code)
    if standard is None:
        return band.low + (band.high - band.low) * u
    limit = standard.limit_kgce
    share = Fraction(FAIL_SHARE).limit_denominator(100)
    if u < share:  # above the limit, by 1 % to the top of the band
        return limit * Fraction(101, 100) + (band.high - limit * Fraction(101, 100)) * u / share
    return band.low + (limit * Fraction(99, 100) - band.low) * (u - share) / (1 - share)


def scope_kgce_per_activity(profile: IndustryProfile) -> float:
    """kgce within the product's scope per unit of the product's process activity, at the profile's
    mean loads: the meters in scope over the meters of the driving process (scale cancels out)."""
    standard = standard_for(profile.product.code)
    in_scope = sum(m.mean_per_interval * coal_factor(m.energy_type, m.unit).to_mgce(1000) / 10**6
                   for m in profile.meters if standard is None or standard.counts(m.energy_type))
    driver = sum(m.mean_per_interval for m in profile.meters if m.process == profile.product.driver)
    return in_scope / driver


def day_activity(profile: IndustryProfile, seed: int, day_start_ms: int) -> float:
    """The driving process's mean-normalised activity over one CST day: the sum of its load factors
    over the day's 96 quarter hours (96.0 for a day at the mean)."""
    return sum(profile.load(seed, day_start_ms + k * _QUARTER_HOUR_MS)[profile.product.driver]
               for k in range(1, 97))


def output_per_activity(profile: IndustryProfile, seed: int, driver_mean: float) -> float:
    """Units of product per unit of ``day_activity``: what the enterprise's meters of the driving process
    use at load 1.0 in a quarter hour (``driver_mean``, in their unit), turned into product at its drawn
    unit consumption."""
    return driver_mean * scope_kgce_per_activity(profile) / float(drawn_kgce_per_unit(profile, seed))
