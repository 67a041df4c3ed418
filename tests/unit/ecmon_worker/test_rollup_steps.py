"""Province and national rollup steps (streams/ecmon_worker/rollup_steps.py): a message either changes the tables and
sends its messages, or is refused and changes nothing (review defect B: a province total beyond 2^63 made the
encode of the monthly report raise after the table values had been changed in place, so in-memory state and the
changelog disagreed)."""

from __future__ import annotations

import copy

from ecmon import codec
from ecmon.metric_defs import PROVINCE_COMPLETENESS, REGION_EARLY_WARNING
from ecmon.months import month_start_ms
from ecmon.rejection import Rejection
from ecmon_worker import rollup_steps
from ecmon_worker.dead_letters import REASONS

DAY = 86_400_000
GRACE = 3 * DAY
OCT, NOV = month_start_ms("2026-10"), month_start_ms("2026-11")
HUGE = 2**62  # each fits in a long; two of them do not


class Registry:
    """What the province step reads of the registry: the coverage list, expected readings, no targets."""

    def __init__(self, *usccs: str) -> None:
        self.records = [{"uscc": u, "region_code": "370100", "industry_code": "C31", "valid_from": OCT,
                         "meters": [{"meter_id": "M0", "energy_type": "electricity", "unit": "kWh", "interval_s": 900}]}
                        for u in usccs]

    def enterprises_in(self, province, period=None):
        return [r for r in self.records if r["region_code"][:2] == province[:2]]

    def expected_for(self, record, period, province=None, until_ms=None):
        return 2976 if until_ms is None else max(0, min(until_ms, NOV) - OCT) // 900_000

    def expected_readings(self, province, period):
        return 2976 * len(self.records)

    def target(self, scope, entity_code, year, month):
        return None


def totals(uscc: str, period: str, mgce: int, version: int, watermark: int, region: str = "370100") -> dict:
    return {"uscc": uscc, "region_code": region, "industry_code": "C31", "watermark": watermark,
            "totals": [{"energy_type": "electricity", "unit": "kWh", "period": period, "physical_milli": 10,
                        "coal_mgce": mgce, "readings": 96, "version": version, "daily_coal_mgce": mgce, "days": 31}]}


def region(table: dict, province: str, message: dict, registry: Registry):
    step = rollup_steps.region_steps(table.get, province, [message], registry, grace_ms=GRACE,
                                    revision_window_ms=30 * DAY, event_key=province.encode())
    if not isinstance(step, Rejection):
        table.update(step.store)  # what the agent does after the sends
    return step


def test_a_province_total_beyond_the_avro_long_is_refused_and_changes_nothing():
    table: dict = {}
    registry = Registry("A", "B")
    assert not isinstance(region(table, "370000", totals("A", "2026-10", HUGE, 1, OCT + DAY), registry), Rejection)
    before = copy.deepcopy(table)
    refused = region(table, "370000", totals("B", "2026-10", HUGE, 1, OCT + 2 * DAY), registry)
    assert isinstance(refused, Rejection) and refused.reason == "value_out_of_range" and refused.reason in REASONS
    assert "2^63" in refused.detail
    assert table == before  # neither the month nor the province-wide value moved
    # the enterprise's next, sane figure goes on from the state before the refused message
    ok = region(table, "370000", totals("B", "2026-10", 5, 2, OCT + 3 * DAY), registry)
    assert not isinstance(ok, Rejection)
    assert table["370000|2026-10"]["totals"]["PROVINCE|370000|*|electricity|kWh|2026-10"][1] == HUGE + 5


def test_a_monthly_report_beyond_the_avro_long_is_refused_before_anything_changes():
    table: dict = {}
    registry = Registry("A", "B")
    region(table, "370000", totals("A", "2026-10", HUGE, 1, OCT + DAY), registry)
    # October closes with a total that fits; B's late figure would push the month (and its revision) over
    step = region(table, "370000", totals("A", "2026-11", 1, 2, NOV + GRACE), registry)
    assert not isinstance(step, Rejection)
    assert len(submitted(step)) == 1
    before = copy.deepcopy(table)
    refused = region(table, "370000", totals("B", "2026-10", HUGE, 1, NOV + GRACE + DAY), registry)
    assert isinstance(refused, Rejection) and refused.reason == "value_out_of_range"
    assert table == before


def submitted(step) -> list[dict]:
    """The monthly reports a step submits (or revises): not the month-to-date figures (version 0)."""
    decoded = [codec.decode(v, "monthly_report")[1] for c, _, v in step.out if c == "monthly_reports"]
    return [r for r in decoded if not r["month_to_date"]]


class Targets(Registry):
    """With province targets: the early warning reads every month of the year."""

    def target(self, scope, entity_code, year, month):
        return {"coal_mgce": 1_000}


def test_a_step_never_changes_the_values_it_read():
    table: dict = {}
    registry = Targets("A")
    region(table, "370000", totals("A", "2025-10", 50, 1, month_start_ms("2025-10") + DAY), registry)
    region(table, "370000", totals("A", "2026-09", 70, 1, month_start_ms("2026-09") + DAY), registry)
    region(table, "370000", totals("A", "2026-10", 100, 1, OCT + DAY), registry)
    before = copy.deepcopy(table)
    step = rollup_steps.region_steps(table.get, "370000", [totals("A", "2026-10", 200, 2, NOV + GRACE)], registry,
                                    grace_ms=GRACE, revision_window_ms=0, event_key=b"370000")
    assert not isinstance(step, Rejection) and table == before  # only the agent stores, after the sends
    assert step.store["370000|2026-10"]["totals"]["PROVINCE|370000|*|electricity|kWh|2026-10"][1] == 200
    assert set(step.store) == {"370000", "370000|2026-10"}
    channels = [c for c, _, _ in step.out]
    assert channels[-2:] == ["aggregates", "province_totals"]
    (value,) = [v for c, k, v in step.out if c == "monthly_reports" and k == b"370000/2026-10"]  # September too
    _, report = codec.decode(value, "monthly_report")
    assert report["total_coal_mgce"] == 200 and {"province": "370000", "period": "2026-10"} in [
        labels for labels, _ in step.gauges(PROVINCE_COMPLETENESS)]
    assert report["change_mom_bp"] is not None and report["change_yoy_bp"] is not None  # read Sept. and last year


def _province_rows(province: str, mgce: int, version: int) -> dict:
    return {"aggregates": [{"level": "PROVINCE", "entity": province, "province": province, "industry_code": "*",
                            "energy_type": "electricity", "period": "2026-10", "unit": "kWh", "physical_milli": 1,
                            "coal_mgce": mgce, "readings": 1, "version": version}]}


def test_a_national_total_beyond_the_avro_long_is_refused_and_changes_nothing():
    table: dict = {}

    def nation(message):
        step = rollup_steps.nation_steps(table.get, "CN", [("aggregate_batch", message)], b"CN")
        if not isinstance(step, Rejection):
            table.update(step.store)
        return step

    assert not isinstance(nation(_province_rows("370000", HUGE, 1)), Rejection)
    before = copy.deepcopy(table)
    refused = nation(_province_rows("350000", HUGE, 1))
    assert isinstance(refused, Rejection) and refused.reason == "value_out_of_range"
    assert table == before
    assert not isinstance(nation(_province_rows("350000", 7, 2)), Rejection)


def test_national_feedback_beyond_the_avro_long_is_refused_and_changes_nothing():
    reports = []
    for province, region_code in (("370000", "370100"), ("350000", "350100")):
        registry = Registry("A")
        registry.records[0]["region_code"] = region_code
        table: dict = {}
        region(table, province, totals("A", "2026-10", HUGE, 1, OCT + DAY, region_code), registry)
        step = region(table, province, totals("A", "2026-11", 1, 2, NOV + GRACE, region_code), registry)
        (report,) = submitted(step)
        reports.append(report)
    nation_table: dict = {}
    first = rollup_steps.nation_steps(nation_table.get, "CN", [("monthly_report", reports[0])], b"CN")
    nation_table.update(first.store)
    before = copy.deepcopy(nation_table)
    refused = rollup_steps.nation_steps(nation_table.get, "CN", [("monthly_report", reports[1])], b"CN")
    assert isinstance(refused, Rejection) and refused.reason == "value_out_of_range"
    assert nation_table == before


def test_beyond_long_names_the_place():
    assert rollup_steps.beyond_long({"a": [1, {"b": 2**63}]}) == "a.1.b = 9223372036854775808"
    assert rollup_steps.beyond_long({"a": [-(2**63), 2**63 - 1, True]}) is None


class FullTargets(Targets):
    """Every expected reading in: the forecast is the measured total (no interval)."""

    def expected_readings(self, province, period):
        return 96


def test_the_gauge_shows_the_level_of_the_last_event_not_the_raw_level():
    table: dict = {}
    registry = FullTargets("A")
    first = region(table, "370000", totals("A", "2026-10", 1_000, 1, OCT + 20 * DAY), registry)
    events = [anomaly_events_decode(v) for c, _, v in first.out if c == "anomalies"]
    assert any(e["type"] == "early_warning_month" and e["severity"] == "CRITICAL" for e in events)
    assert first.gauges(REGION_EARLY_WARNING) == [({"province": "370000"}, 2)]
    # 990 clears the target by 1 %: green by itself, but within the hysteresis (2 %) the level stays red, no
    # event says otherwise, and the gauge must say red too.
    second = region(table, "370000", totals("A", "2026-10", 990, 2, OCT + 21 * DAY), registry)
    assert not [e for e in (anomaly_events_decode(v) for c, _, v in second.out if c == "anomalies")
                if e["type"] == "early_warning_month"]
    assert second.gauges(REGION_EARLY_WARNING) == [({"province": "370000"}, 2)]


def anomaly_events_decode(value: bytes) -> dict:
    return codec.decode(value, "anomaly")[1]


def test_month_to_date_figures_go_to_the_sink_once_a_day_and_never_to_the_national_level():
    table: dict = {}
    registry = Registry("A", "B")
    step = region(table, "370000", totals("A", "2026-10", 100, 1, OCT + DAY), registry)
    (mtd,) = [codec.decode(v, "monthly_report")[1] for c, _, v in step.out if c == "monthly_reports"]
    assert (mtd["version"], mtd["month_to_date"], mtd["expected_until"]) == (0, True, OCT + DAY)
    by_uscc = {e["uscc"]: e["completeness"] for e in mtd["enterprises"]}
    assert by_uscc["A"] == {"received": 96, "expected": 96, "ratio_bp": 10_000}  # one day of one day: complete
    assert by_uscc["B"] == {"received": 0, "expected": 96, "ratio_bp": 0}
    assert [c for c, _, v in step.out if c == "province_totals" and v[:2] == b"\xc3\x01"
            and codec.decode(v)[0] == "monthly_report"] == []
    # the month's completeness gauge (and its alert) waits for the submission
    assert step.gauges(PROVINCE_COMPLETENESS) == []
    # the same CST day of event time: no second version 0
    again = region(table, "370000", totals("B", "2026-10", 100, 1, OCT + DAY), registry)
    assert [c for c, _, _ in again.out].count("monthly_reports") == 0


def test_the_national_level_ignores_month_to_date_figures():
    table: dict = {}
    step = region(table, "370000", totals("A", "2026-10", 100, 1, OCT + DAY), Registry("A"))
    (value,) = [v for c, _, v in step.out if c == "monthly_reports"]
    answer = rollup_steps.nation_steps({}.get, "CN", [("monthly_report", codec.decode(value)[1])], b"CN")
    assert not isinstance(answer, Rejection) and answer.out == [] and answer.store == {}


def _month_rows(step) -> dict[tuple, tuple]:
    """The aggregate rows a step sends, newest version per region key: what ClickHouse keeps of them."""
    rows: dict[tuple, tuple] = {}
    for channel, _, value in step.out:
        if channel == "aggregates":
            for r in codec.decode(value, "aggregate_batch")[1]["aggregates"]:
                key = (r["level"], r["entity"], r["industry_code"], r["energy_type"], r["unit"], r["period"])
                if key not in rows or rows[key][-1] < r["version"]:
                    rows[key] = (r["coal_mgce"], r["readings"], r["version"])
    return rows


def test_a_micro_batch_of_a_province_is_one_step_that_ends_where_its_messages_one_by_one_end():
    """region_steps: the months copied and stored once, the rows sent once at their last version; the tables,
    the reports and what ClickHouse keeps are those of the messages taken one at a time."""
    registry = Targets("A", "B", "C")
    messages = [totals("A", "2026-10", 100, 1, OCT + DAY), totals("B", "2026-10", 40, 1, OCT + DAY),
                totals("A", "2026-10", 150, 2, OCT + 2 * DAY), totals("C", "2026-11", 7, 1, NOV + DAY),
                totals("B", "2026-11", 9, 2, NOV + GRACE)]  # closes October: a report
    one_by_one: dict = {}
    singles = [region(one_by_one, "370000", m, registry) for m in messages]
    batched: dict = {}
    step = rollup_steps.region_steps(batched.get, "370000", messages, registry, grace_ms=GRACE,
                                     revision_window_ms=30 * DAY, event_key=b"370000")
    assert not isinstance(step, Rejection) and batched == {}  # nothing stored by the step itself
    batched.update(step.store)
    assert batched == one_by_one
    newest: dict[tuple, tuple] = {}
    for single in singles:
        for key, row in _month_rows(single).items():
            if key not in newest or newest[key][-1] < row[-1]:
                newest[key] = row
    assert _month_rows(step) == newest
    assert sum(c == "aggregates" for c, _, _ in step.out) == 1  # one batch of rows, not one per message
    assert [r["period"] for r in submitted(step)] == [r["period"] for s in singles for r in submitted(s)] == ["2026-10"]


def test_a_micro_batch_of_the_nation_is_one_step_that_ends_where_its_messages_one_by_one_end():
    messages = [("aggregate_batch", _province_rows("370000", 10, 1)),
                ("aggregate_batch", _province_rows("350000", 5, 1)),
                ("aggregate_batch", _province_rows("370000", 12, 2))]
    one_by_one: dict = {}
    for kind, message in messages:
        single = rollup_steps.nation_steps(one_by_one.get, "CN", [(kind, message)], b"CN")
        assert not isinstance(single, Rejection)
        one_by_one.update(single.store)
    step = rollup_steps.nation_steps({}.get, "CN", messages, b"CN")
    assert not isinstance(step, Rejection) and step.store == one_by_one
    ((national,),) = [codec.decode(v, "aggregate_batch")[1]["aggregates"] for c, _, v in step.out if c == "aggregates"]
    assert national["coal_mgce"] == 17


def test_a_refused_message_refuses_the_whole_micro_batch_step():
    """The agent then takes its messages one by one (tests/unit/ecmon_worker/test_agents.py)."""
    registry = Registry("A", "B")
    refused = rollup_steps.region_steps({}.get, "370000", [totals("A", "2026-10", HUGE, 1, OCT + DAY),
                                                           totals("B", "2026-10", HUGE, 1, OCT + DAY)], registry,
                                        grace_ms=GRACE, revision_window_ms=0, event_key=b"370000")
    assert isinstance(refused, Rejection) and refused.reason == "value_out_of_range"
