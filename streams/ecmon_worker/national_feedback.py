"""The national level's answer to the provinces' monthly reports (avro/v4/national_feedback.avsc).

The national state (the single key 'CN') keeps, per month, the latest report of every province
that reported: its total, its totals by industry, its completeness and the enterprises below the
threshold. Any province's new report version changes the national total and the rankings, so the
feedback of every province of that month is re-issued with the month's next feedback version, marked
provisional (``final`` false) while provinces expected to report the month (enterprises registered in it)
have not, and final once all have::

    "reports":  {"2026-09": {"370000": {"version": 2, "total": ..., "industries": {...},
                                        "completeness_bp": 9712, "threshold_bp": 9000, "failing": [...]}}},
    "feedback": {"2026-09": 5}
"""

from __future__ import annotations

import time
from typing import Any

from ecmon_worker.month_close import basis_points
from ecmon_worker.rollup_states import NationMonth


def note_report(state: NationMonth, report: dict[str, Any]) -> bool:
    """Keep the province's report if it is newer than the one held; True when it was."""
    month = state.setdefault("reports", {}).setdefault(report["period"], {})
    held = month.get(report["province"])
    if held is not None and held["version"] >= report["version"]:
        return False
    industries: dict[str, int] = {}
    for line in report["totals"]:
        industries[line["industry_code"]] = industries.get(line["industry_code"], 0) + line["coal_mgce"]
    threshold = report["completeness_threshold_bp"]
    failing = sorted(
        ({"uscc": e["uscc"], "received": e["completeness"]["received"], "expected": e["completeness"]["expected"],
          "completeness_bp": e["completeness"]["ratio_bp"]}
         for e in report["enterprises"] if e["completeness"]["ratio_bp"] < threshold),
        key=lambda f: (f["completeness_bp"], f["uscc"]),
    )
    month[report["province"]] = {"version": report["version"], "total": report["total_coal_mgce"],
                                 "industries": industries, "completeness_bp": report["completeness"]["ratio_bp"],
                                 "threshold_bp": threshold, "failing": failing}
    return True


def _rank(values: dict[str, int], key: str) -> int:
    """1 = largest; ties share the better rank."""
    return 1 + sum(1 for v in values.values() if v > values[key])


def feedback(state: NationMonth, period: str, provinces_expected: list[str] | None = None) -> list[dict[str, Any]]:
    """Feedback for every province that reported ``period``, with the month's next version: one version per
    report version received (a revision is answered by one feedback revision). Final once every province in
    ``provinces_expected`` has reported (shares and ranks then cover the month); provisional before."""
    reports = state["reports"][period]
    expected = sorted(set(provinces_expected or ()) | set(reports))
    final = provinces_expected is not None and all(p in reports for p in expected)
    versions = state.setdefault("feedback", {})
    versions[period] = version = versions.get(period, 0) + 1
    totals = {p: r["total"] for p, r in reports.items()}
    national = sum(totals.values())
    by_industry: dict[str, dict[str, int]] = {}
    for province, r in reports.items():
        for industry, mgce in r["industries"].items():
            by_industry.setdefault(industry, {})[province] = mgce
    now = int(time.time() * 1000)
    out = []
    for province, r in sorted(reports.items()):
        rankings = []
        for industry, mgce in sorted(r["industries"].items()):
            peers = by_industry[industry]
            industry_total = sum(peers.values())
            rankings.append({"industry_code": industry, "coal_mgce": mgce, "national_coal_mgce": industry_total,
                             "share_bp": basis_points(mgce, industry_total) if industry_total else 0,
                             "rank": _rank(peers, province), "provinces": len(peers)})
        out.append({
            "province": province, "period": period, "version": version, "generated_at": now,
            "provinces_reported": len(reports), "national_coal_mgce": national, "province_coal_mgce": r["total"],
            "share_bp": basis_points(r["total"], national) if national else 0,
            "province_rank": _rank(totals, province), "industry_rankings": rankings,
            "completeness_threshold_bp": r["threshold_bp"], "province_completeness_bp": r["completeness_bp"],
            "failing_enterprises": r["failing"], "final": final, "provinces_expected": len(expected),
        })
    return out
