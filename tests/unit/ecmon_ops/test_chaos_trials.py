"""The fault suite's plan (deploy/ecmon_ops/chaos/trials.py): reproducible from the seed, trials that never mix."""

from datetime import datetime

from ecmon.months import CST
from ecmon_ops.chaos.expected import merge, planned_ledger
from ecmon_ops.chaos.run import FULL, SHORT
from ecmon_ops.chaos.trials import GATEWAY_START_S, SuiteShape, fleet_run, plan_trials, recent_months
from ecmon_simulator.faults import FaultPlan
from ecmon_simulator.fleet import plan_batches
from ecmon_simulator.ledger import Ledger


def test_the_same_seed_plans_the_same_run_and_another_seed_another():
    shape = SuiteShape()
    assert plan_trials(1, FULL, shape) == plan_trials(1, FULL, shape)
    assert plan_trials(1, FULL, shape) != plan_trials(2, FULL, shape)


def test_the_full_run_has_ten_kills_of_each_process_and_every_trial_its_own_province_month_and_fleet():
    specs = plan_trials(1, FULL, SuiteShape())
    kinds = [s.kind for s in specs]
    assert all(kinds.count(k) >= 10 for k in ("gateway", "worker", "sink"))
    assert kinds.count("broker") >= 1 and kinds.count("clickhouse") >= 1
    assert len({(s.province, s.month) for s in specs}) == len(specs)
    assert len({s.seed % 1000 for s in specs}) == len(specs)  # USCCs are made from seed % 1000
    assert sorted(s.kind for s in plan_trials(5, SHORT, SuiteShape())) == sorted(SHORT)


def test_faults_other_than_the_gateway_kill_strike_while_batches_flow():
    shape = SuiteShape()
    for s in plan_trials(3, FULL, shape):
        assert s.fault_at_s <= GATEWAY_START_S + shape.send_s
        assert s.fault_at_s >= (1.0 if s.kind == "gateway" else GATEWAY_START_S)
        assert s.down_s == {"broker": s.down_s, "clickhouse": 60.0}.get(s.kind, 0.0)


def test_months_are_complete_and_inside_the_workers_horizon():
    assert recent_months(3, datetime(2026, 1, 15, tzinfo=CST)) == ["2025-10", "2025-11", "2025-12"]
    assert len(set(recent_months(12))) == 12


def test_an_outage_trial_keeps_the_fleet_sending_through_the_outage():
    shape = SuiteShape(send_s=10.0)
    spec = next(s for s in plan_trials(1, FULL, shape) if s.kind == "clickhouse")
    run = fleet_run(spec, shape)
    assert (run.end_ms - run.start_ms) / 1000 / run.speed == 70.0
    assert run.spool and run.provinces == (spec.province,) and run.start == spec.month


def test_the_plan_counts_each_batch_once_like_the_gateways_ledger():
    spec = plan_trials(1, SHORT, SuiteShape())[0]
    run = fleet_run(spec, SuiteShape(enterprises=2))
    plan = planned_ledger(run, "equivalent")
    total = Ledger()
    merge(total, plan)
    merge(total, Ledger())
    assert total.by_province_month() == plan.by_province_month()
    assert list(plan.by_province_month()) == [(spec.province, spec.month)]


def test_the_plan_numbers_a_gateway_that_sent_before_as_the_gateway_does():
    from ecmon_simulator.runs import numbered

    spec = plan_trials(1, SHORT, SuiteShape())[0]
    run = fleet_run(spec, SuiteShape(enterprises=2))
    first, second = run.fleet()
    fresh = planned_ledger(run, "equivalent")
    again = planned_ledger(run, "equivalent", {first.gateway_id: 500})
    assert again.by_province_month() == fresh.by_province_month()  # the same readings
    moved = fresh.batch_ids - again.batch_ids
    assert moved and len(again.batch_ids) == len(fresh.batch_ids)  # the first gateway's batches, with new ids
    planned = next(iter(plan_batches(first, run.start_ms, run.end_ms, run.interval_s, run.intervals_per_batch,
                                     FaultPlan.parse(run.faults))))
    assert numbered(planned, 500, run.start_ms).batch_id in again.batch_ids and planned.batch_id in moved
