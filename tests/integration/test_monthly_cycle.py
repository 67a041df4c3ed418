"""The monthly cycle through the real stack (issue 18): a fleet runs a month and five days into the next;
each province submits the month once (every enterprise past the end + grace), the national level answers each
submission with one feedback version marked provisional or final, and `ecmon report completeness` gives the
figures the worker computed (submitted month: the report; open month: month to date), never above 100 %.

Its own provinces and months (no other test uses them), and its batches go into the main stack's ledger, so
the reconciliation of the other tests stays exact.
"""

from __future__ import annotations

import time

import pytest
from rich.console import Console

from ecmon_cli.demo import ledger_path, wait_for_month_close, wait_for_reconciliation
from ecmon_reports import analyst
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, run_fleet
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

PROVINCES = ("320000", "330000")
RUN = FleetRun(enterprises=6, provinces=PROVINCES, start="2025-12", months=1, close_days=5, intervals_per_batch=96,
               seed=18, production=False)


def test_a_month_is_submitted_once_answered_once_and_its_completeness_agrees(pipeline):
    settings = pipeline
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    run_fleet(settings, RUN, ledger, show_progress=False)
    ledger.save(ledger_path(settings))
    assert wait_for_reconciliation(settings, ledger, timeout=180, console=Console(), show_progress=False).exact
    submitted, answered = wait_for_month_close(settings, "2025-12", PROVINCES, timeout=90)
    time.sleep(5)  # anything the worker would still send (a revision, another feedback) has arrived by now
    client, db = connect(settings), settings.clickhouse_database
    submitted = analyst.run(client, db, "submissions", "2025-12")
    rows = [r for r in submitted.as_dicts() if r["province"] in PROVINCES]
    assert [(r["province"], r["report_version"], r["rule"], r["is_revision"]) for r in rows] == [
        ("320000", 1, "all_reported", 0), ("330000", 1, "all_reported", 0)]

    # one feedback version per submitted report version the national level received
    versions = client.execute(f"SELECT DISTINCT version FROM {db}.national_feedback WHERE period = '2025-12-01' "
                              f"AND province IN {PROVINCES}")
    assert len(versions) == 2
    for r in analyst.run(client, db, "feedback", "2025-12").as_dicts():
        assert r["status"] == ("final" if r["reported"] >= r["of_expected"] else "provisional")

    # completeness: the report's figures, per enterprise, within 100 %
    by_province: dict[str, list[int]] = {}
    for r in analyst.run(client, db, "completeness", "2025-12").as_dicts():
        if r["province"] in PROVINCES:
            assert r["received"] <= r["expected"]
            got = by_province.setdefault(r["province"], [0, 0])
            got[0] += r["received"]
            got[1] += r["expected"]
    assert {p: tuple(v) for p, v in by_province.items()} == {
        r["province"]: (r["received_intervals"], r["expected_intervals"]) for r in rows}

    # the open month: month to date, only the elapsed part expected
    next_month = [r for r in analyst.run(client, db, "completeness", "2026-01").as_dicts()
                  if r["province"] in PROVINCES]
    full_month = 31 * 96  # per meter
    # as of the province's event time at its last CST day change: an enterprise on a slower partition may
    # not have sent January by then (0 received), none can exceed what is expected
    assert next_month and all(r["received"] <= r["expected"] for r in next_month)
    assert any(r["received"] > 0 for r in next_month)
    assert all(r["expected"] % 96 == 0 and r["expected"] < full_month for r in next_month), "whole days elapsed"
