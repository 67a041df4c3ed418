"""One message of the province and national rollups, computed before anything is changed.

The agents (streams/ecmon_worker/agents.py) used to fold a message into the table values in place and encode the
messages out afterwards: when an encode raised (a province total beyond the Avro long, 2^63 - 1), the in-memory
tables had changed while their changelog had not, and the two disagreed from then on. Here a step works on
copies of the table values it reads, encodes every message it will send, and only then hands back the
values to store: the agent stores them after the sends, and a message that is refused or raises changes
nothing.

Pure functions of (table reader, message, reference data), unit-tested without Faust or Kafka.
"""

from __future__ import annotations

import pickle
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ecmon import codec
from ecmon.dead_letter_reasons import Reason
from ecmon.metric_defs import PROVINCE_COMPLETENESS, REGION_EARLY_WARNING, WORKER_AGGREGATES_EMITTED
from ecmon.rejection import Rejection
from ecmon_worker import anomaly_events, early_warning, month_close, national_feedback, national_rollup, regional_rollup
from ecmon_worker.outputs import Outputs
from ecmon_worker.rollup_states import NationMonth, ProvinceMonth, ProvinceState

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

#: A table's value of a key, or None: the table holds the values of streams/ecmon_worker/rollup_states.py.
TableGet = Callable[[str], Any]
State = TypeVar("State")


def aggregate_batch(rows: list[dict[str, Any]]) -> bytes:
    return codec.encode("aggregate_batch", {"emitted_at": int(time.time() * 1000), "aggregates": rows})


def _copy(value: State | None) -> State | None:
    """A deep copy of a table value (plain dicts, lists, str and int: pickle is the fastest deep copy)."""
    return None if value is None else pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def beyond_long(value: object, path: str = "") -> str | None:
    """Where in ``value`` an integer lies outside the Avro long (a dotted path and the value), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if LONG_MIN <= value <= LONG_MAX else f"{path or 'value'} = {value}"
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for k, v in items:
        found = beyond_long(v, f"{path}.{k}" if path else str(k))
        if found is not None:
            return found
    return None


def _out_of_range(what: str, found: str) -> Rejection:
    return Rejection(Reason.VALUE_OUT_OF_RANGE, f"{what} would carry {found[:200]}, beyond the Avro long (2^63 - 1); "
                                           "the message was set aside and no total changed")


@dataclass
class Step(Outputs):
    """What one message does: the messages to send (already encoded) and metric changes, and the table
    values to store (key -> value) once they are sent."""

    store: dict[str, Any] = field(default_factory=dict)

    def send_aggregates(self, key: bytes, rows: list[dict[str, Any]]) -> Rejection | None:
        if not rows:
            return None
        found = beyond_long(rows)
        if found is not None:
            return _out_of_range("an aggregate row", found)
        for level, n in Counter(r["level"] for r in rows).items():
            self.count(WORKER_AGGREGATES_EMITTED, n, level=level)
        self.send("aggregates", key, aggregate_batch(rows))
        return None


class _ProvinceWork:
    """The table values a step over one province's messages works on. A month is copied the first time a
    message writes it; every other month (month close reads the month before and a year before, the early
    warning the months of the year) is only read, so it is not copied: a copy of a province month costs
    milliseconds. tests/unit/ecmon_worker/test_rollup_steps.py checks nothing read changes."""

    def __init__(self, get: TableGet, province: str) -> None:
        self.get, self.province = get, province
        self.meta: ProvinceState = _copy(get(province)) or {}
        self.months: dict[str, ProvinceMonth | None] = {}
        self.written: set[str] = set()

    def month_of(self, period: str) -> ProvinceMonth | None:
        if period not in self.months:
            self.months[period] = self.get(f"{self.province}|{period}")
        return self.months[period]

    def writable(self, period: str) -> ProvinceMonth:
        if period not in self.written:
            self.months[period] = _copy(self.month_of(period)) or regional_rollup.new_state()
            self.written.add(period)
        month = self.months[period]
        assert month is not None
        return month


def region_steps(get: TableGet, province: str, messages: list[dict[str, Any]], registry: object, *, grace_ms: int,
                 revision_window_ms: int, event_key: bytes, deadline_ms: int = 0) -> Step | Rejection:
    """The EnterpriseTotals messages of ``province`` of one micro-batch, in order, as one step: each month
    they touch is copied once and stored once, and its region totals go out once, at the version the last
    message left (every row is versioned: the rows the earlier messages moved would be overwritten anyway).
    Per message, month close and the early warning run as they would alone. The province's state is one table
    value per month ("<province>|<YYYY-MM>") plus a small province-wide value ("<province>"). A Rejection
    (a figure beyond the Avro long) refuses the whole step: the agent then takes the messages one by one."""
    step = Step()
    work = _ProvinceWork(get, province)
    emit: dict[str, set[str]] = {}
    for message in messages:
        problem = _region_message(step, work, message, registry, emit, grace_ms=grace_ms,
                                  revision_window_ms=revision_window_ms, deadline_ms=deadline_ms)
        if problem is not None:
            return problem
    rows: list[dict[str, Any]] = []
    for period in sorted(emit):
        month = work.months[period]
        assert month is not None
        rows += regional_rollup.region_aggregates(month, province, sorted(emit[period]))
    problem = step.send_aggregates(event_key, rows)
    if problem is not None:
        return problem
    province_rows = [r for r in rows if r["level"] == "PROVINCE"]
    if province_rows:  # whole, versioned province totals: replay-safe at the national level too
        step.send("province_totals", national_rollup.NATIONAL_KEY.encode(), aggregate_batch(province_rows))
    for period in sorted(work.written):
        step.store[f"{province}|{period}"] = work.months[period]
    step.store[province] = work.meta
    return step


def _region_message(step: Step, work: _ProvinceWork, message: dict[str, Any], registry: object,
                    emit: dict[str, set[str]], *, grace_ms: int, revision_window_ms: int,
                    deadline_ms: int) -> Rejection | None:
    province, meta, month_of = work.province, work.meta, work.month_of
    by_period: dict[str, list[dict[str, Any]]] = {}
    for row in message["totals"]:
        by_period.setdefault(row["period"], []).append(row)
    for period, period_rows in sorted(by_period.items()):
        part = {**message, "totals": period_rows}
        month = work.writable(period)
        emit.setdefault(period, set()).update(regional_rollup.apply_totals(month, province, part))
        month_close.note_totals(meta, month, part)
    for period in sorted(by_period):
        found = early_warning.outlooks(month_of, province, period, registry)  # type: ignore[arg-type]
        for event in early_warning.level_changes(meta, province, found):
            too_long = beyond_long(event)
            if too_long is not None:
                return _out_of_range("an early-warning event", too_long)
            step.send("anomalies", province.encode(), anomaly_events.encode(event))
        month_outlooks = [o for o in found if len(o.period) == 7]
        if month_outlooks and period >= meta.setdefault("warn_latest", ""):  # the gauge shows the newest month
            meta["warn_latest"] = period
            # the level after the hysteresis, as the last event said: not the raw level of this outlook
            step.gauge(REGION_EARLY_WARNING, early_warning.current_level(meta, period), province=province)
    reports = month_close.close_months(meta, month_of, province, set(by_period), registry,  # type: ignore[arg-type]
                                       grace_ms, revision_window_ms=revision_window_ms, deadline_ms=deadline_ms,
                                       sender=(message["uscc"], message.get("watermark", 0)))
    reports += month_close.month_to_date(meta, month_of, province, set(by_period), registry,  # type: ignore[arg-type]
                                         int(time.time() * 1000))
    for report in reports:
        too_long = beyond_long(report)
        if too_long is not None:
            return _out_of_range(f"the monthly report {province} {report['period']}", too_long)
        encoded = codec.encode("monthly_report", report)
        step.send("monthly_reports", f"{province}/{report['period']}".encode(), encoded)
        if not report["month_to_date"]:  # only a submitted report (or its revision) goes to the national level,
            # and only its completeness is the month's (the gauge alerts on it; month to date is no verdict)
            step.send("province_totals", national_rollup.NATIONAL_KEY.encode(), encoded)
            step.gauge(PROVINCE_COMPLETENESS, report["completeness"]["ratio_bp"] / 10_000, province=province,
                       period=report["period"])
    return None


def nation_steps(get: TableGet, key: str, messages: list[tuple[str, dict[str, Any]]], event_key: bytes,
                 provinces_expected: Callable[[str], list[str]] | None = None) -> Step | Rejection:
    """The messages of the province totals topic of one micro-batch, in order, as one step: monthly reports
    (national feedback) and batches of province aggregates (national totals). One table value per month
    ("CN|<YYYY-MM>"), copied once and stored once; the national totals go out once, at their last version.
    ``provinces_expected(period)``: the provinces with enterprises registered in the month. A Rejection refuses
    the whole step (the agent then takes the messages one by one)."""
    step = Step()
    states: dict[str, NationMonth] = {}
    emit: dict[str, set[str]] = {}
    for kind, message in messages:
        if kind == "monthly_report":
            if message.get("month_to_date"):
                continue  # month-to-date figures are the province's own, never a submission
            state_key = f"{key}|{message['period']}"
            # a copy of its own: a report that changes nothing leaves nothing behind
            state: NationMonth = _copy(states.get(state_key) or get(state_key)) or national_rollup.new_state()
            if national_feedback.note_report(state, message):
                expected = provinces_expected(message["period"]) if provinces_expected else []
                for answer in national_feedback.feedback(state, message["period"], expected):
                    too_long = beyond_long(answer)
                    if too_long is not None:
                        return _out_of_range(f"the national feedback {answer['province']} {answer['period']}",
                                             too_long)
                    step.send("feedback", f"{answer['province']}/{answer['period']}".encode(),
                              codec.encode("national_feedback", answer))
                states[state_key] = state
            continue
        for row in message["aggregates"]:
            state_key = f"{key}|{row['period']}"
            if state_key not in states:
                states[state_key] = _copy(get(state_key)) or national_rollup.new_state()
        by_period: dict[str, list[dict[str, Any]]] = {}
        for row in message["aggregates"]:
            by_period.setdefault(row["period"], []).append(row)
        for period, period_rows in by_period.items():
            keys = national_rollup.apply_province_rows(states[f"{key}|{period}"], period_rows)
            emit.setdefault(period, set()).update(keys)
    out: list[dict[str, Any]] = []
    for period in sorted(emit):
        out += national_rollup.national_aggregates(states[f"{key}|{period}"], sorted(emit[period]))
    problem = step.send_aggregates(event_key, out)
    if problem is not None:
        return problem
    step.store.update(states)
    return step
