"""The simulated fleet's output is calibrated to realistic unit consumption (issue 18): every product's
kgce per unit, counted as its quota standard counts it, lies in its band; plants have plausible sizes."""

from collections import defaultdict
from fractions import Fraction

import pytest

from ecmon.energy import coal_factor
from ecmon.months import month_start_ms
from ecmon.quota_standards import scope_energy_mgce, standard_for
from ecmon_simulator.faults import FaultPlan
from ecmon_simulator.fleet import build_fleet, plan_batches
from ecmon_simulator.production import production_records
from ecmon_simulator.profiles import PROFILES
from ecmon_simulator.unit_consumption import BANDS, FAIL_SHARE, drawn_kgce_per_unit

DAY = 86_400_000
DAYS = 10
# Plausible output per day, in the product's unit (see ecmon_simulator.unit_consumption for the sources).
SIZES = {
    "crude steel": (300, 6_000),  # t/d: an EAF works of 0.1-2 Mt a year
    "cement clinker": (1_000, 20_000),  # t/d: one to three kiln lines
    "synthetic ammonia": (150, 1_500),  # t/d: 50-500 kt a year
    "machine-made paper": (100, 2_000),  # t/d
    "printed and dyed cloth": (10_000, 300_000),  # m/d
    "metal-cutting machine tools": (1, 40),  # pieces/d
}


def test_every_product_has_a_band_and_a_driving_process():
    for profile in PROFILES.values():
        band = BANDS[profile.product.code]
        assert 0 < band.low < band.high and band.source
        assert any(m.process == profile.product.driver for m in profile.meters)
        standard = standard_for(profile.product.code)
        if standard is not None:  # the band straddles the limit: most pass, some fail, none absurd
            assert band.low < standard.limit_kgce < band.high <= standard.limit_kgce * Fraction(5, 4)


def test_the_drawn_unit_consumption_stays_in_the_band_and_a_few_are_above_the_limit():
    for profile in PROFILES.values():
        band = BANDS[profile.product.code]
        drawn = [drawn_kgce_per_unit(profile, seed) for seed in range(2000)]
        assert all(band.low <= d <= band.high for d in drawn)
        standard = standard_for(profile.product.code)
        if standard is not None:
            above = sum(d > standard.limit_kgce for d in drawn) / len(drawn)
            assert FAIL_SHARE - 0.04 < above < FAIL_SHARE + 0.04
            assert not any(d == standard.limit_kgce for d in drawn)  # never a tie at the limit


@pytest.fixture(scope="module")
def seeded_fleet():
    """Three enterprises per industry, ten days of October with meter faults, as the demo sends them."""
    fleet = build_fleet(18, ("210000", "310000", "370000"), seed=2026)
    start = month_start_ms("2026-10")
    plan = FaultPlan.parse("spike,drop,stuck,silence,duplicate")
    out = []
    for ent in fleet:
        batches = list(plan_batches(ent, start, start + DAYS * DAY, 900, 24, plan))
        physical: dict[tuple[str, str], int] = defaultdict(int)
        for b in batches:
            for r in b.countable:
                physical[(r["energy_type"], r["unit"])] += r["value_milli"]
        records = production_records([ent], batches, 0)
        out.append((ent, dict(physical), records))
    return out


def test_every_simulated_products_unit_consumption_is_in_its_band(seeded_fleet):
    seen = set()
    for ent, physical, records in seeded_fleet:
        product = ent.profile.product
        output = Fraction(sum(r["quantity_milli"] for _, r in records), 1000)
        standard = standard_for(product.code)
        rows = [(t, u, v) for (t, u), v in physical.items()]
        energy = (scope_energy_mgce(standard, rows) if standard is not None
                  else sum(coal_factor(t, u).to_mgce(v) for t, u, v in rows))
        kgce_per_unit = Fraction(energy, 10**6) / output
        band = BANDS[product.code]
        # meter noise and faults move the realised figure a little around the drawn one
        assert band.low * Fraction(9, 10) <= kgce_per_unit <= band.high * Fraction(11, 10), (product.name, float(
            kgce_per_unit))
        low, high = SIZES[product.name]
        assert low <= output / DAYS <= high, (product.name, float(output / DAYS))
        assert {r["unit"] for _, r in records} == {product.unit} and len(records) == DAYS
        seen.add(product.name)
    assert seen == set(SIZES)


def test_output_stops_with_the_process_not_with_a_meter():
    # a cement works in its winter staggered-peak stoppage makes almost no clinker, though its mills run
    ent = next(e for e in build_fleet(6, ("210000",), seed=3) if e.profile.label == "cement")
    start = month_start_ms("2027-01")
    records = production_records([ent], plan_batches(ent, start, start + 2 * DAY, 900, 24), 0)
    october = production_records([ent], plan_batches(ent, month_start_ms("2026-10") + 10 * DAY,
                                                     month_start_ms("2026-10") + 12 * DAY, 900, 24), 0)
    assert sum(r["quantity_milli"] for _, r in records) < 0.1 * sum(r["quantity_milli"] for _, r in october)
