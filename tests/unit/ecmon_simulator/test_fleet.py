"""Fleet simulator: deterministic, INTERVAL-only by default, realistic profiles, meters and faults."""

from datetime import date

import pytest

from ecmon_simulator.faults import BadFaultSpec, FaultPlan
from ecmon_simulator.fleet import MeterReader, build_fleet, plan_batches
from ecmon_simulator.meters import Register, consumption_between
from ecmon_simulator.profiles import PROFILES, Clock, days_from_spring_festival
from ecmon_simulator.runs import FleetRun, _interleaved

RUN = FleetRun(enterprises=6, start="2026-10", months=1)


def test_the_default_run_sends_only_interval_readings_and_is_deterministic():
    first = list(_interleaved(RUN.fleet(), RUN))
    again = list(_interleaved(RUN.fleet(), RUN))
    assert [(b.batch_id, b.readings) for b in first] == [(b.batch_id, b.readings) for b in again]
    assert {r["kind"] for b in first for r in b.readings} == {"INTERVAL"}
    assert all(b.counted is None and not b.duplicate and not b.corrupt_copy for b in first)


def test_every_industry_has_a_profile_and_meters_per_enterprise_splits_the_load():
    fleet = build_fleet(6, ("370000",), 1, meters_per_enterprise=5)
    assert {e.industry_code for e in fleet} == set(PROFILES)
    steel = next(e for e in fleet if e.industry_code == "3120")
    assert len(steel.meters) == 5
    electricity = [m for m in steel.meters if m.energy_type == "electricity"]
    assert len(electricity) == 2 and electricity[0].mean_per_interval == electricity[1].mean_per_interval


def _daily_total(industry: str, day: date) -> float:
    fleet = build_fleet(6, ("370000",), 7)
    ent = next(e for e in fleet if e.industry_code == industry)
    from datetime import datetime

    from ecmon.months import CST

    start = int(datetime(day.year, day.month, day.day, tzinfo=CST).timestamp() * 1000)
    reader = MeterReader(ent)
    return sum(reader.read(start + k * 900_000)[0][0]["value_milli"] for k in range(1, 97))


def test_machinery_rests_on_sundays_and_textiles_over_spring_festival():
    assert _daily_total("3412", date(2026, 10, 18)) < 0.3 * _daily_total("3412", date(2026, 10, 14))  # Sun vs Wed
    assert _daily_total("1713", date(2026, 2, 19)) < 0.2 * _daily_total("1713", date(2026, 3, 25))
    assert days_from_spring_festival(date(2026, 2, 17)) == 0


def test_a_reading_stamped_at_midnight_belongs_to_the_previous_day():
    from datetime import datetime

    from ecmon.months import CST

    ts = int(datetime(2026, 10, 12, tzinfo=CST).timestamp() * 1000)
    assert Clock.of(ts).day == date(2026, 10, 11)


def test_cumulative_registers_roll_over_and_the_ledger_counts_true_consumption():
    reg = Register(digits=2)
    shown = [reg.advance(60_000), reg.advance(60_000)]
    assert shown == [60_000, 20_000]  # 99.999 is the last value, then it wraps
    assert consumption_between(60_000, 20_000, reg.modulus_milli) == 60_000
    ent = build_fleet(1, ("370000",), 3, cumulative=True)[0]
    batches = list(plan_batches(ent, 1_790_000_000_000, 1_790_000_000_000 + 86_400_000, 900, 24))
    assert {r["kind"] for b in batches for r in b.readings} == {"CUMULATIVE"}
    # the first reading of each meter is only the baseline
    assert sum(len(b.countable) for b in batches) == sum(len(b.readings) for b in batches) - len(ent.meters)


def test_fault_plans_parse_and_inject_deterministically():
    plan = FaultPlan.parse("spike@*-M01=0.05,silence=0.01,duplicate")
    assert plan.rate("spike", "X-M01") == 0.05 and plan.rate("spike", "X-M02") == 0.0
    with pytest.raises(BadFaultSpec):
        FaultPlan.parse("meltdown")
    with pytest.raises(BadFaultSpec):
        FaultPlan.parse("spike=2")
    run = FleetRun(enterprises=3, faults="spike=0.05,silence=0.01,duplicate=0.2,late=0.05,corrupt=0.1")
    a = [(b.batch_id, b.readings, b.duplicate, b.corrupt_copy) for b in _interleaved(run.fleet(), run)]
    b = [(b.batch_id, b.readings, b.duplicate, b.corrupt_copy) for b in _interleaved(run.fleet(), run)]
    assert a == b
    clean = sum(len(x.readings) for x in _interleaved(RUN.fleet()[:3], RUN))
    assert sum(len(x[1]) for x in a) < clean  # silence removed readings
    assert any(x[2] for x in a) and any(x[3] for x in a)
