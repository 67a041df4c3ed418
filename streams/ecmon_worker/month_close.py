"""Month close: a province's monthly report to the national level (avro/v4/monthly_report.avsc).

A province's event time is the furthest watermark any of its enterprises reported (each EnterpriseTotals
carries the enterprise's watermark); every decision below is a function of the messages and the registry
only, so a replay submits and revises as the first run did.

**Submitted once.** A month is submitted (version 1) when the grace period has passed for every enterprise
expected to report it, that is when each enterprise with expected intervals in the month (registry records
in force then) has reported past the month's end + grace (``submission_rule`` 'all_reported'); or, so
that a silent enterprise cannot hold its province back, when the province's event time passes the
submission deadline, the month's end + grace + ``deadline_ms`` ('deadline'). Partitions are processed at
different speeds, so the province's event time runs ahead of its slower enterprises: closing on it alone
re-issued October 13-39 times per province in a two-month run as the others' late batches arrived.

**Revisions.** Anything later is an explicit revision: late data an enterprise was still allowed to send
(streams/ecmon_worker/enterprise_rollup.py ``closed_before``) makes the next version, flagged ``revised``
with the previous total and what changed. Revisions are batched: a closed month's pending change goes out

- when the province's event time enters a new CST day (``REVISION_TICK_MS``) after the change, or
- when every enterprise that was behind the month's close when it sent late data (a backfill) has
  reported past that close: the backlogs are complete, so they are one revision.

The national level answers each version with one feedback version (national_feedback.py).

**Month to date.** While a month is open its completeness is published as version 0 of the report
(``month_to_date``, never sent to the national level) once per CST day of the province's event time, with
the intervals expected up to that event time: the same function (``report_content``) computes the
month-to-date figures and the submitted report, and `ecmon report completeness` reads what it computed.

The province's state is split by month (streams/ecmon_worker/rollup_steps.py): ``"<province>|<YYYY-MM>"`` holds the
regional rollup of that month (members, totals, versions) plus what month close needs of it::

    "ind":    {"<uscc>": "<industry>"},                           # for the enterprise counts
    "daily":  {"<uscc>|<energy>|<unit>": [daily_coal_mgce, days, version]},

and ``"<province>"`` holds the small province-wide part::

    "pwm":     1793462400000,                                    # the province's event time
    "periods": ["2026-09", "2026-10"],                           # months with a state
    "closed":  {"2026-09": [report version, digest of its content, its total_coal_mgce, its received,
                            tick of the pending revision (-1: none), enterprises behind (see above)]},
    "ewm":     {"<uscc>": 1793462400000},                        # each enterprise's event time
    "mtd":     {"2026-10": 20754}                                # CST day of the last month-to-date figures

so a message rewrites one month's value, not the province's whole history.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Protocol

from ecmon.emission_factors import scope
from ecmon.months import month_start_ms, next_period
from ecmon_worker.rollup_states import ProvinceMonth, ProvinceState
from ecmon_worker.versioned_totals import co2_of_total

THRESHOLD_BP = 9000  # the national specification: at least 90 % of the expected intervals
REVISION_TICK_MS = 86_400_000  # a closed month's pending revision waits for the next CST day of event time
CST_OFFSET_MS = 8 * 3_600_000

MonthStates = Callable[[str], "ProvinceMonth | None"]
"""The province's state of a month ('YYYY-MM'), or None when it has none."""


class ProvinceRegistry(Protocol):
    def enterprises_in(self, province: str, period: str | None = None) -> list[dict[str, Any]]: ...

    def expected_for(self, record: dict[str, Any], period: str, *, until_ms: int | None = None) -> int: ...


SUBMITTED_ALL_REPORTED = "all_reported"
SUBMITTED_AT_DEADLINE = "deadline"


def _expected(registry: ProvinceRegistry, record: dict[str, Any], period: str, until_ms: int | None) -> int:
    if until_ms is None:
        return registry.expected_for(record, period)
    return registry.expected_for(record, period, until_ms=until_ms)


def enterprise_completeness(received: int, expected: int) -> dict[str, int]:
    """The completeness of one enterprise: distinct intervals received of those expected, in basis points.
    Readings outside the enterprise's registration (before it, or of a meter outside the span it was
    registered) count in the totals but are no expected interval, so they cannot lift it past 100 %."""
    got = min(received, expected)
    return {"received": got, "expected": expected, "ratio_bp": ratio_bp(got, expected)}


def close_at_ms(period: str, grace_ms: int) -> int:
    """Event time at which the month's grace period has passed."""
    return month_start_ms(next_period(period)) + grace_ms


def submission_due(province_state: ProvinceState, province: str, period: str, registry: ProvinceRegistry,
                   grace_ms: int, deadline_ms: int) -> str | None:
    """Whether the month is due for submission, and by which rule (see the module docstring), or None."""
    close_at = close_at_ms(period, grace_ms)
    pwm = province_state.get("pwm", 0)
    if pwm < close_at:
        return None
    reported = province_state.get("ewm", {})
    expected = (r["uscc"] for r in registry.enterprises_in(province, period) if registry.expected_for(r, period) > 0)
    if all(reported.get(uscc, 0) >= close_at for uscc in expected):
        return SUBMITTED_ALL_REPORTED
    return SUBMITTED_AT_DEADLINE if pwm >= close_at + deadline_ms else None


def basis_points(part: int, whole: int) -> int:
    """part / whole in basis points, rounded half to even."""
    return round(Fraction(part * 10_000, whole))


def ratio_bp(received: int, expected: int) -> int:
    """Completeness in basis points, rounded down (10000 = complete); 0 when nothing is expected."""
    return received * 10_000 // expected if expected else 0


def change_bp(current: int, previous: int | None) -> int | None:
    if not previous:
        return None
    return basis_points(current - previous, previous)


def previous_period(period: str) -> str:
    year, month = (int(p) for p in period.split("-"))
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def same_month_last_year(period: str) -> str:
    return f"{int(period[:4]) - 1:04d}{period[4:]}"


def note_totals(province: ProvinceState, month: ProvinceMonth, message: dict[str, Any]) -> None:
    """Remember what month close needs from one EnterpriseTotals message (its rows of one month)."""
    uscc = message["uscc"]
    month.setdefault("ind", {})[uscc] = message["industry_code"]
    daily = month.setdefault("daily", {})
    for row in message["totals"]:
        key = f"{uscc}|{row['energy_type']}|{row['unit']}"
        old = daily.get(key)
        if old is None or old[2] < row["version"]:
            daily[key] = [row.get("daily_coal_mgce", 0), row.get("days", 0), row["version"]]
        periods = province.setdefault("periods", [])
        if row["period"] not in periods:
            periods.append(row["period"])
            periods.sort()
    province["pwm"] = max(province.get("pwm", 0), message.get("watermark", 0))


def closable(province: ProvinceState, grace_ms: int, periods: set[str]) -> list[str]:
    """Months to (re)consider: those this message touched and those its watermark just closed."""
    limit = province.get("pwm", 0) - grace_ms
    closed = province.setdefault("closed", {})
    pending = {p for p, entry in closed.items() if len(entry) > 4 and entry[4] >= 0}
    candidates = periods | pending | {p for p in province.get("periods", []) if p not in closed}
    return sorted(p for p in candidates if month_start_ms(next_period(p)) <= limit)


def _province_total(month: ProvinceMonth | None, province: str, industry: str = "*") -> int | None:
    if not month:
        return None
    prefix = f"PROVINCE|{province}|{industry}|"
    values = [v[1] for k, v in month["totals"].items() if k.startswith(prefix)]
    return sum(values) if values else None


def report_content(month_of: MonthStates, province: str, period: str, registry: ProvinceRegistry,
                   until_ms: int | None = None) -> dict[str, Any]:
    """The report's figures; with ``until_ms`` the month to date (intervals expected up to that event time)."""
    month: ProvinceMonth = month_of(period) or {"v": 0, "members": {}, "totals": {}, "ver": {}}
    before, last_year = month_of(previous_period(period)), month_of(same_month_last_year(period))
    totals, members = month["totals"], month["members"]
    industry_of = month.get("ind", {})
    lines = []
    direct_co2 = indirect_co2 = 0
    for key, total_row in sorted(totals.items()):
        physical, mgce = total_row[:2]
        level, entity, industry, energy, unit, _month = key.split("|")
        if level == "PROVINCE" and industry == "*":
            co2_scope = scope(energy)
            direct_co2 += co2_of_total(total_row) if co2_scope == "direct" else 0
            indirect_co2 += co2_of_total(total_row) if co2_scope == "indirect" else 0
        if level != "PROVINCE" or industry == "*":
            continue
        tail = f"|{energy}|{unit}|{period}"
        counted = sum(1 for m in members if m.endswith(tail) and industry_of.get(m.split("|", 1)[0]) == industry)
        mom = (before["totals"] if before else {}).get(f"PROVINCE|{province}|{industry}|{energy}|{unit}|"
                                                   f"{previous_period(period)}")
        yoy = (last_year["totals"] if last_year else {}).get(f"PROVINCE|{province}|{industry}|{energy}|{unit}|"
                                                      f"{same_month_last_year(period)}")
        lines.append({"industry_code": industry, "energy_type": energy, "unit": unit, "physical_milli": physical,
                      "coal_mgce": mgce, "enterprises": counted,
                      "change_mom_bp": change_bp(mgce, mom[1] if mom else None),
                      "change_yoy_bp": change_bp(mgce, yoy[1] if yoy else None), "co2_g": co2_of_total(total_row)})
    total = _province_total(month, province) or 0

    received: dict[str, int] = {}
    coal: dict[str, int] = {}
    co2: dict[str, int] = {}
    for key, member in members.items():
        uscc = key.split("|", 1)[0]
        received[uscc] = received.get(uscc, 0) + member[2]
        coal[uscc] = coal.get(uscc, 0) + member[1]
        co2[uscc] = co2.get(uscc, 0) + (member[4] if len(member) > 4 else 0)
    enterprises = []
    for record in sorted(registry.enterprises_in(province, period), key=lambda r: r["uscc"]):
        expected = _expected(registry, record, period, until_ms)
        enterprises.append({"uscc": record["uscc"], "industry_code": record["industry_code"],
                            "coal_mgce": coal.get(record["uscc"], 0), "co2_g": co2.get(record["uscc"], 0),
                            "completeness": enterprise_completeness(received.get(record["uscc"], 0), expected)})
    all_received = sum(e["completeness"]["received"] for e in enterprises)
    all_expected = sum(e["completeness"]["expected"] for e in enterprises)

    by_energy: dict[str, list[int]] = {}
    for key, (daily_mgce, days, _) in month.get("daily", {}).items():
        energy = key.split("|")[1]
        entry = by_energy.setdefault(energy, [0, 0])
        entry[0] += daily_mgce
        entry[1] = max(entry[1], days)
    consistency = []
    for energy in sorted(by_energy):
        monthly = sum(v[1] for k, v in totals.items() if k.startswith(f"PROVINCE|{province}|*|{energy}|"))
        daily_sum, days = by_energy[energy]
        consistency.append({"energy_type": energy, "days": days, "daily_sum_coal_mgce": daily_sum,
                            "monthly_coal_mgce": monthly, "difference_mgce": monthly - daily_sum})
    return {
        "province": province, "period": period, "total_coal_mgce": total,
        "change_mom_bp": change_bp(total, _province_total(before, province)),
        "change_yoy_bp": change_bp(total, _province_total(last_year, province)),
        "totals": lines,
        "completeness": {"received": all_received, "expected": all_expected,
                         "ratio_bp": ratio_bp(all_received, all_expected)},
        "completeness_threshold_bp": THRESHOLD_BP,
        "enterprises": enterprises,
        "consistency": consistency,
        "consistent": all(c["difference_mgce"] == 0 for c in consistency),
        "expected_until": month_start_ms(next_period(period)) if until_ms is None else until_ms,
        "total_co2_g": direct_co2 + indirect_co2,
        "total_direct_co2_g": direct_co2,
        "total_indirect_co2_g": indirect_co2,
    }


def revision_tick(event_time_ms: int) -> int:
    """The CST day of the province's event time: a pending revision goes out once this moves on."""
    return (event_time_ms + CST_OFFSET_MS) // REVISION_TICK_MS


def revision_reason(previous: list[Any], content: dict[str, Any], behind: list[str], past_window: bool) -> str:
    """What changed since the previous version, in words an analyst reads beside the figures."""
    total, received = content["total_coal_mgce"], content["completeness"]["received"]
    old_total, old_received = previous[2], previous[3]
    parts = [f"late data after close: total_coal_mgce {old_total} -> {total}"
             + (f" ({total - old_total:+d} mgce)" if old_total is not None else "")]
    if old_received is not None and old_received != received:
        parts.append(f"intervals received {old_received} -> {received} ({received - old_received:+d})")
    if behind:
        parts.append(f"backlog of {', '.join(behind[:5])}"
                     + (f" and {len(behind) - 5} more" if len(behind) > 5 else ""))
    if past_window:
        parts.append("after the revision window, from enterprises whose own event time was behind the month's close")
    return "; ".join(parts)


def close_months(province_state: ProvinceState, month_of: MonthStates, province: str, periods: set[str],
                 registry: ProvinceRegistry, grace_ms: int, *, revision_window_ms: int = 0,
                 deadline_ms: int = 0, sender: tuple[str, int] | None = None) -> list[dict[str, Any]]:
    """The monthly reports due now: version 1 of newly submitted months and revisions of submitted months
    that changed (batched), as the module docstring says; the month to date is ``month_to_date``.
    ``sender`` is the (USCC, watermark) of the EnterpriseTotals message being processed."""
    reports = []
    closed = province_state.setdefault("closed", {})
    pwm = province_state.get("pwm", 0)
    tick = revision_tick(pwm)
    uscc, sender_wm = sender or ("", 0)
    reported = province_state.setdefault("ewm", {})
    if uscc:
        reported[uscc] = max(reported.get(uscc, 0), sender_wm)
    now = int(time.time() * 1000)
    for period in closable(province_state, grace_ms, periods):
        close_at = close_at_ms(period, grace_ms)
        held = closed.get(period)
        if held is None:
            rule = submission_due(province_state, province, period, registry, grace_ms, deadline_ms)
            if rule is None:
                continue  # an enterprise expected to report is still in the grace period: the month waits
            content = report_content(month_of, province, period, registry)
            digest = _digest(content)
            behind = [] if rule == SUBMITTED_ALL_REPORTED else sorted(
                u for u in _expected_usccs(registry, province, period) if reported.get(u, 0) < close_at)
            closed[period] = [1, digest, content["total_coal_mgce"], content["completeness"]["received"], -1, behind]
            province_state.get("mtd", {}).pop(period, None)
            reports.append({**content, "version": 1, "closed_at": now, "revised": False,
                            "previous_total_coal_mgce": None, "revision_reason": "", "month_to_date": False,
                            "submission_rule": rule})
            continue
        content = report_content(month_of, province, period, registry)
        digest = _digest(content)
        total, received = content["total_coal_mgce"], content["completeness"]["received"]
        entry = [*held[:2], None, None, -1, []] if len(held) < 6 else list(held)  # states before revisions
        if digest == entry[1]:  # unchanged, or changed back: nothing to revise
            closed[period] = [*entry[:4], -1, entry[5]]
            continue
        if period in periods and uscc and sender_wm < close_at and uscc not in entry[5]:
            entry[5] = sorted([*entry[5], uscc])
        if entry[4] < 0:
            entry[4] = tick
        caught_up = bool(entry[5]) and all(reported.get(u, 0) >= close_at for u in entry[5])
        if tick <= entry[4] and not caught_up:
            closed[period] = entry  # pending: batched with what else arrives before it is due
            continue
        past_window = pwm > close_at + revision_window_ms
        reason = revision_reason(entry, content, entry[5], past_window)
        still_behind = [u for u in entry[5] if reported.get(u, 0) < close_at]
        closed[period] = [entry[0] + 1, digest, total, received, -1, still_behind]
        reports.append({**content, "version": entry[0] + 1, "closed_at": now, "revised": True,
                        "previous_total_coal_mgce": entry[2], "revision_reason": reason, "month_to_date": False,
                        "submission_rule": ""})
    return reports


def _digest(content: dict[str, Any]) -> str:
    """What decides whether a submitted month changed. CO2 is left out: it follows from the same totals, and a
    month submitted before CO2 was carried must not be revised only because its report now has it."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if "co2" not in k}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return hashlib.sha1(json.dumps(strip(content), sort_keys=True).encode()).hexdigest()[:16]


def _expected_usccs(registry: ProvinceRegistry, province: str, period: str) -> set[str]:
    return {r["uscc"] for r in registry.enterprises_in(province, period) if registry.expected_for(r, period) > 0}


def month_to_date(province_state: ProvinceState, month_of: MonthStates, province: str, periods: set[str],
                  registry: ProvinceRegistry, now_ms: int) -> list[dict[str, Any]]:
    """Version 0 of the open months this message touched, once per CST day of the province's event time:
    completeness over the intervals expected up to that event time."""
    pwm = province_state.get("pwm", 0)
    tick = revision_tick(pwm)
    closed = province_state.get("closed", {})
    shown = province_state.setdefault("mtd", {})
    out = []
    for period in sorted(periods):
        if period in closed or month_start_ms(period) >= pwm or shown.get(period, -1) >= tick:
            continue
        shown[period] = tick
        until = min(pwm, month_start_ms(next_period(period)))
        content = report_content(month_of, province, period, registry, until_ms=until)
        out.append({**content, "version": 0, "closed_at": now_ms, "revised": False, "previous_total_coal_mgce": None,
                    "revision_reason": "", "month_to_date": True, "submission_rule": ""})
    return out
