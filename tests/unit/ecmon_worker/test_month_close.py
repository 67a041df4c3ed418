"""Month close (province report) and the national feedback, on the pure state functions."""

from __future__ import annotations

from ecmon import codec
from ecmon.months import month_start_ms
from ecmon_worker import month_close as mc
from ecmon_worker import national_feedback as nf
from ecmon_worker import regional_rollup

DAY = 86_400_000
GRACE = 3 * DAY
WINDOW = 30 * DAY
OCT, NOV = month_start_ms("2026-10"), month_start_ms("2026-11")


def enterprise(uscc: str, region: str = "370100", industry: str = "C31", meters: int = 1) -> dict:
    return {"uscc": uscc, "region_code": region, "industry_code": industry, "valid_from": OCT,
            "meters": [{"meter_id": f"M{i}", "energy_type": "electricity", "unit": "kWh", "interval_s": 900}
                       for i in range(meters)]}


class Registry:
    def __init__(self, *records: dict) -> None:
        self.records = list(records)

    def enterprises_in(self, province, period=None):
        return [r for r in self.records if r["region_code"][:2] == province[:2]]

    @staticmethod
    def expected_for(record, period, *, until_ms=None):  # 31 days x 96, or the intervals ended by until_ms
        intervals = 2976 if until_ms is None else (min(until_ms, NOV) - OCT) // 900_000
        return intervals * len(record["meters"])


def totals_message(uscc, period, mgce, readings, version, watermark, industry="C31", daily=None):
    return {"uscc": uscc, "region_code": "370100", "industry_code": industry, "watermark": watermark,
            "totals": [{"energy_type": "electricity", "unit": "kWh", "period": period, "physical_milli": mgce // 10,
                        "coal_mgce": mgce, "readings": readings, "version": version,
                        "daily_coal_mgce": mgce if daily is None else daily, "days": 31}]}


class Province:
    """The province's state as the worker keeps it: a province-wide value and one value per month."""

    def __init__(self) -> None:
        self.meta: dict = {}
        self.months: dict[str, dict] = {}


def new_state() -> Province:
    return Province()


def feed(state: Province, message, registry):
    for row in message["totals"]:
        part = {**message, "totals": [row]}
        month = state.months.setdefault(row["period"], regional_rollup.new_state())
        regional_rollup.apply_totals(month, "370000", part)
        mc.note_totals(state.meta, month, part)
    return mc.close_months(state.meta, state.months.get, "370000", {r["period"] for r in message["totals"]},
                           registry, GRACE, revision_window_ms=WINDOW, sender=(message["uscc"], message["watermark"]))


def test_the_month_closes_once_the_grace_period_has_passed_in_event_time():
    registry = Registry(enterprise("A"), enterprise("B"))
    state = new_state()
    assert feed(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV - 1), registry) == []
    assert feed(state, totals_message("B", "2026-10", 500, 1000, 1, NOV + DAY), registry) == []  # within grace
    (report,) = feed(state, totals_message("A", "2026-11", 10, 10, 2, NOV + GRACE), registry)
    assert (report["period"], report["version"], report["total_coal_mgce"]) == ("2026-10", 1, 1500)
    assert report["completeness"] == {"received": 3976, "expected": 5952, "ratio_bp": 6680}
    by_uscc = {e["uscc"]: e["completeness"]["ratio_bp"] for e in report["enterprises"]}
    assert by_uscc == {"A": 10000, "B": 3360}
    assert report["consistent"] and report["consistency"][0]["difference_mgce"] == 0
    codec.encode("monthly_report", {**report})  # fits the wire contract


def test_late_data_revises_the_report_and_an_unchanged_input_does_not():
    # The revision is due once the province's event time enters the next CST day (REVISION_TICK_MS).
    registry = Registry(enterprise("A"))
    state = new_state()
    feed(state, totals_message("A", "2026-10", 1000, 2000, 1, NOV + GRACE), registry)
    assert feed(state, totals_message("A", "2026-10", 1400, 2976, 2, NOV + GRACE), registry) == []  # pending
    (revised,) = feed(state, totals_message("A", "2026-11", 10, 10, 3, NOV + GRACE + DAY), registry)
    assert (revised["version"], revised["total_coal_mgce"], revised["revised"]) == (2, 1400, True)
    assert feed(state, totals_message("A", "2026-10", 1400, 2976, 2, NOV + GRACE + 2 * DAY), registry) == []


def test_late_data_inside_the_window_makes_exactly_one_flagged_revision_with_the_difference():
    registry = Registry(enterprise("A"), enterprise("B"))
    state = new_state()
    feed(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE - DAY), registry)
    (first,) = feed(state, totals_message("A", "2026-11", 10, 10, 2, NOV + GRACE + 1), registry)  # October closes
    assert (first["version"], first["revised"], first["previous_total_coal_mgce"], first["revision_reason"]) == (
        1, False, None, "")
    # Late October data of A (already past the close itself) trickles in over the same day: batched.
    for version, mgce in ((3, 1100), (4, 1250), (5, 1300)):
        assert feed(state, totals_message("A", "2026-10", mgce, 2976, version, NOV + GRACE + 2 * 3_600_000),
                    registry) == []
    (revision,) = feed(state, totals_message("A", "2026-11", 20, 20, 6, NOV + GRACE + DAY), registry)
    assert (revision["period"], revision["version"], revision["revised"]) == ("2026-10", 2, True)
    assert (revision["previous_total_coal_mgce"], revision["total_coal_mgce"]) == (1000, 1300)
    assert "1000 -> 1300 (+300 mgce)" in revision["revision_reason"]
    assert "after the revision window" not in revision["revision_reason"]
    codec.encode("monthly_report", revision)  # the v3 contract carries the flag
    assert feed(state, totals_message("A", "2026-11", 30, 30, 7, NOV + GRACE + 3 * DAY), registry) == []
    # The national level answers the revision with one feedback version.
    national: dict = {}
    for r in (first, revision):
        assert nf.note_report(national, r)
        (answer,) = nf.feedback(national, "2026-10")
    assert (answer["version"], answer["province_coal_mgce"]) == (2, 1300)


def test_a_backfilling_enterprise_is_one_revision_when_it_has_reported_past_the_close():
    registry = Registry(enterprise("A"), enterprise("B"))
    state = new_state()
    feed(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE), registry)  # October closes
    # B was behind: its October arrives after the close, batch by batch, all in the same event-time day.
    for version in range(1, 6):
        assert feed(state, totals_message("B", "2026-10", 100 * version, 96 * version, version,
                                          OCT + version * DAY), registry) == []
    (revision,) = feed(state, totals_message("B", "2026-11", 5, 5, 6, NOV + GRACE), registry)  # B is past the close
    assert (revision["version"], revision["previous_total_coal_mgce"], revision["total_coal_mgce"]) == (2, 1000, 1500)
    assert "backlog of B" in revision["revision_reason"]


def test_the_same_messages_replayed_make_the_same_reports():
    registry = Registry(enterprise("A"), enterprise("B"))
    messages = [totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE),
                totals_message("B", "2026-10", 300, 500, 1, OCT + 5 * DAY),
                totals_message("A", "2026-10", 1200, 2976, 2, NOV + GRACE + 5),
                totals_message("B", "2026-10", 400, 600, 2, OCT + 6 * DAY),
                totals_message("A", "2026-11", 10, 10, 3, NOV + GRACE + 2 * DAY),
                totals_message("B", "2026-11", 10, 10, 3, NOV + GRACE + 2 * DAY)]

    def run() -> list[dict]:
        state = new_state()
        return [{k: v for k, v in r.items() if k != "closed_at"} for m in messages for r in feed(state, m, registry)]

    first = run()
    assert first == run()
    assert [(r["version"], r["revised"], r["total_coal_mgce"]) for r in first] == [(1, False, 1000), (2, True, 1600)]


def test_a_revision_beyond_the_window_says_so():
    # An enterprise whose own event time lags can still change a long-closed month: the figures stay true and
    # the revision says where it came from (the enterprise stage turns away everyone past the window).
    registry = Registry(enterprise("A"), enterprise("B"))
    state = new_state()
    feed(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE), registry)
    feed(state, totals_message("A", "2026-12", 10, 10, 2, NOV + GRACE + WINDOW + 10 * DAY), registry)
    assert feed(state, totals_message("B", "2026-10", 50, 50, 1, OCT + DAY), registry) == []
    (revision,) = feed(state, totals_message("A", "2026-12", 20, 20, 3, NOV + GRACE + WINDOW + 11 * DAY), registry)
    assert revision["revised"] and "after the revision window" in revision["revision_reason"]


def test_a_state_from_before_revisions_is_revised_without_a_previous_total():
    registry = Registry(enterprise("A"))
    state = new_state()
    feed(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE), registry)
    state.meta["closed"]["2026-10"] = state.meta["closed"]["2026-10"][:2]  # [version, digest], as stored before
    feed(state, totals_message("A", "2026-10", 1100, 2976, 2, NOV + GRACE), registry)
    (revision,) = feed(state, totals_message("A", "2026-11", 1, 1, 3, NOV + GRACE + DAY), registry)
    assert (revision["version"], revision["previous_total_coal_mgce"], revision["total_coal_mgce"]) == (2, None, 1100)


def test_a_silent_enterprise_is_in_the_report_with_nothing_received():
    registry = Registry(enterprise("A"), enterprise("SILENT"))
    state = new_state()
    (report,) = feed(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE), registry)
    silent = next(e for e in report["enterprises"] if e["uscc"] == "SILENT")
    assert silent["completeness"] == {"received": 0, "expected": 2976, "ratio_bp": 0}


def test_a_daily_sum_that_disagrees_is_flagged():
    registry = Registry(enterprise("A"))
    state = new_state()
    (report,) = feed(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE, daily=990), registry)
    assert not report["consistent"] and report["consistency"][0]["difference_mgce"] == 10


def test_change_against_the_previous_month_in_basis_points():
    registry = Registry(enterprise("A"))
    state = new_state()
    feed(state, totals_message("A", "2026-09", 1000, 10, 1, OCT), registry)
    (oct_report,) = [r for r in feed(state, totals_message("A", "2026-10", 1025, 10, 2, NOV + GRACE), registry)
                     if r["period"] == "2026-10"]
    assert oct_report["change_mom_bp"] == 250 and oct_report["change_yoy_bp"] is None
    assert mc.change_bp(3, 2) == 5000 and mc.basis_points(1, 3) == 3333 and mc.basis_points(1, 20000) == 0


def report(province, version, total, industries, completeness_bp=10000, failing=()):
    return {"province": province, "period": "2026-10", "version": version, "total_coal_mgce": total,
            "totals": [{"industry_code": i, "coal_mgce": v} for i, v in industries.items()],
            "completeness_threshold_bp": 9000, "completeness": {"ratio_bp": completeness_bp},
            "enterprises": [{"uscc": u, "completeness": {"received": r, "expected": 100, "ratio_bp": r * 100}}
                            for u, r in failing]}


def test_feedback_ranks_provinces_and_industries_and_lists_failing_enterprises():
    state = {}
    assert nf.note_report(state, report("370000", 1, 600, {"C31": 500, "C26": 100}, 8000, [("X", 50), ("Y", 95)]))
    assert nf.note_report(state, report("210000", 1, 400, {"C31": 400}))
    answers = {a["province"]: a for a in nf.feedback(state, "2026-10")}
    sd = answers["370000"]
    assert (sd["national_coal_mgce"], sd["share_bp"], sd["province_rank"], sd["provinces_reported"]) == (
        1000, 6000, 1, 2)
    assert [(r["industry_code"], r["rank"], r["provinces"], r["share_bp"]) for r in sd["industry_rankings"]] == [
        ("C26", 1, 1, 10000), ("C31", 1, 2, 5556)]
    assert [f["uscc"] for f in sd["failing_enterprises"]] == ["X"]
    assert answers["210000"]["province_rank"] == 2 and answers["210000"]["version"] == 1
    for a in answers.values():
        codec.encode("national_feedback", a)


def test_an_old_report_version_changes_nothing():
    state = {}
    assert nf.note_report(state, report("370000", 2, 600, {"C31": 600}))
    assert not nf.note_report(state, report("370000", 1, 999, {"C31": 999}))
    assert state["reports"]["2026-10"]["370000"]["total"] == 600


def test_the_sink_writes_the_revision_flag_the_previous_total_and_the_reason():
    from ecmon_sink.rows import COLUMNS, Rows

    registry = Registry(enterprise("A"))
    state = new_state()
    feed(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE), registry)
    feed(state, totals_message("A", "2026-10", 1250, 2976, 2, NOV + GRACE), registry)
    (revision,) = feed(state, totals_message("A", "2026-11", 1, 1, 3, NOV + GRACE + DAY), registry)
    rows = Rows("ecmon")
    rows.add_message("ecmon.monthly-reports.v1", 0, 1, b"370000/2026-10", codec.encode("monthly_report", revision))
    (row,) = rows.tables[("ecmon_370000", "monthly_reports")]
    written = dict(zip(COLUMNS["monthly_reports"], row))
    assert (written["version"], written["revised"], written["previous_total_coal_mgce"]) == (2, 1, 1000)
    assert "+250 mgce" in written["revision_reason"]


def feed_until(state: Province, message, registry, deadline_ms: int):
    for row in message["totals"]:
        part = {**message, "totals": [row]}
        month = state.months.setdefault(row["period"], regional_rollup.new_state())
        regional_rollup.apply_totals(month, "370000", part)
        mc.note_totals(state.meta, month, part)
    return mc.close_months(state.meta, state.months.get, "370000", {r["period"] for r in message["totals"]},
                           registry, GRACE, revision_window_ms=WINDOW, deadline_ms=deadline_ms,
                           sender=(message["uscc"], message["watermark"]))


def test_a_month_is_submitted_once_every_expected_enterprise_has_passed_the_grace():
    registry = Registry(enterprise("A"), enterprise("B"), enterprise("C"))
    state = new_state()
    deadline = 2 * DAY
    assert feed_until(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE + 1), registry, deadline) == []
    # B and C are on slower partitions: their October batches arrive after A passed the close; no report yet.
    for version in range(1, 8):
        for uscc in ("B", "C"):
            assert feed_until(state, totals_message(uscc, "2026-10", 100 * version, 400 * version, version,
                                                    OCT + 4 * version * DAY), registry, deadline) == []
    assert feed_until(state, totals_message("B", "2026-11", 1, 1, 8, NOV + GRACE), registry, deadline) == []
    (report,) = feed_until(state, totals_message("C", "2026-11", 1, 1, 8, NOV + GRACE), registry, deadline)
    assert (report["version"], report["submission_rule"], report["total_coal_mgce"]) == (1, "all_reported", 2400)
    assert report["completeness"]["received"] == 2976 + 2 * 2800
    # nothing changes afterwards: no revision
    assert feed_until(state, totals_message("A", "2026-11", 5, 5, 2, NOV + GRACE + 3 * DAY), registry, deadline) == []


def test_a_silent_enterprise_holds_the_month_only_until_the_submission_deadline():
    registry = Registry(enterprise("A"), enterprise("S"))
    state = new_state()
    assert feed_until(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE), registry, DAY) == []
    assert feed_until(state, totals_message("A", "2026-11", 5, 5, 2, NOV + GRACE + DAY - 1), registry, DAY) == []
    (report,) = feed_until(state, totals_message("A", "2026-11", 6, 6, 3, NOV + GRACE + DAY), registry, DAY)
    assert (report["version"], report["submission_rule"]) == (1, "deadline")
    assert {e["uscc"]: e["completeness"]["ratio_bp"] for e in report["enterprises"]} == {"A": 10_000, "S": 0}


def test_late_batches_of_several_enterprises_after_the_deadline_are_one_revision():
    registry = Registry(enterprise("A"), enterprise("B"), enterprise("C"))
    state = new_state()
    (first,) = feed_until(state, totals_message("A", "2026-10", 1000, 2976, 1, NOV + GRACE), registry, 0)
    assert first["submission_rule"] == "deadline"
    out = []
    for version in range(1, 13):  # B and C catch up, batch by batch, within the same CST day of event time
        for uscc in ("B", "C"):
            out += feed_until(state, totals_message(uscc, "2026-10", 10 * version, 200 * version, version,
                                                    OCT + 2 * version * DAY), registry, 0)
    assert out == []
    assert feed_until(state, totals_message("B", "2026-11", 1, 1, 13, NOV + GRACE), registry, 0) == []
    (revision,) = feed_until(state, totals_message("C", "2026-11", 1, 1, 13, NOV + GRACE), registry, 0)
    assert (revision["version"], revision["revised"], revision["previous_total_coal_mgce"],
            revision["total_coal_mgce"]) == (2, True, 1000, 1240)
    assert "backlog of B, C" in revision["revision_reason"]
    national: dict = {}
    answers = []
    for r in (first, revision):
        assert nf.note_report(national, r)
        answers += nf.feedback(national, "2026-10", ["370000"])
    assert [(a["version"], a["final"]) for a in answers] == [(1, True), (2, True)]  # one feedback per version


def test_month_to_date_completeness_expects_only_the_elapsed_part_and_never_exceeds_100_percent():
    registry = Registry(enterprise("A"), enterprise("B"))
    state = new_state()
    feed(state, totals_message("A", "2026-10", 100, 960, 1, OCT + 10 * DAY), registry)
    feed(state, totals_message("B", "2026-10", 100, 480, 1, OCT + 5 * DAY), registry)
    (mtd,) = mc.month_to_date(state.meta, state.months.get, "370000", {"2026-10"}, registry, 0)
    assert (mtd["version"], mtd["month_to_date"], mtd["expected_until"]) == (0, True, OCT + 10 * DAY)
    by_uscc = {e["uscc"]: e["completeness"] for e in mtd["enterprises"]}
    assert by_uscc == {"A": {"received": 960, "expected": 960, "ratio_bp": 10_000},
                       "B": {"received": 480, "expected": 960, "ratio_bp": 5_000}}
    assert mtd["completeness"] == {"received": 1440, "expected": 1920, "ratio_bp": 7_500}
    assert mc.month_to_date(state.meta, state.months.get, "370000", {"2026-10"}, registry, 0) == []  # same day
    assert mc.enterprise_completeness(3000, 2976) == {"received": 2976, "expected": 2976, "ratio_bp": 10_000}
    codec.encode("monthly_report", mtd)


def test_feedback_is_provisional_until_every_expected_province_has_reported():
    state: dict = {}
    assert nf.note_report(state, report("370000", 1, 600, {"C31": 600}))
    (alone,) = nf.feedback(state, "2026-10", ["210000", "370000"])
    assert (alone["final"], alone["provinces_reported"], alone["provinces_expected"]) == (False, 1, 2)
    assert nf.note_report(state, report("210000", 1, 400, {"C31": 400}))
    both = nf.feedback(state, "2026-10", ["210000", "370000"])
    assert [(a["version"], a["final"]) for a in both] == [(2, True), (2, True)]
    for a in both:
        codec.encode("national_feedback", a)
