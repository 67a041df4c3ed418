"""Enterprise rollup: one reading batch in, the enterprise's changed monthly totals out.

Pure functions over an enterprise's state (streams/ecmon_worker/enterprise_state.py, one Faust table value), so
the agent stays a thin shell and the arithmetic is unit-tested without a broker.

Day buckets are kept while their month is open; once the month is closed to readings (its grace period
and the revision window have passed in the enterprise's event time, ``closed_before``; later readings
are ``month_closed``) no reading can change it, so its days are folded into
``ds`` (the sum the month-close consistency check needs) and dropped. State stays bounded by the
open months, not by the history; so are the reading identities (dropped with their month).

Keeping the duplicate guard, the register history and the totals in one value means one
changelog record carries all of them: after a crash they are restored together and agree. The exact values
of the interval readings counted are too many for one value (an enterprise may register 2,000 meters): they
are kept per meter-day beside it, written before it and rolled back when it was lost
(streams/ecmon_worker/reading_identity.py).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ecmon.dead_letter_reasons import Reason
from ecmon.emission_factors import co2_of_month
from ecmon.energy import (
    CoalFactor,
    IncompatibleUnit,
    UnknownEnergyType,
    UnknownUnit,
    coal_factor,
    equal_value_year,
    unit_factor,
)
from ecmon.months import day_of_interval, month_of_interval, month_start_ms, next_period
from ecmon.rejection import Rejection
from ecmon_worker import reading_identity
from ecmon_worker.enterprise_state import EnterpriseState, upgrade
from ecmon_worker.enterprise_state import new_state as new_state  # re-exported: tests and tools start from it

FactorLookup = Callable[[str, str, int], CoalFactor]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

#: The largest value one reading (its thousandths, its mgce) or one monthly total of an enterprise may
#: reach: 2^57 (1.4e17, i.e. 144 million tce), far above any real enterprise and 1/64 of an Avro long.
#: The enterprise's monthly coal over all its buckets is capped at it too (what the province adds up), so
#: enterprise, province and national totals stay encodable (ClickHouse Int64) and exact.
VALUE_LIMIT = 2**57
#: Readings must end inside the calendar the platform can name (CST months of years 1970-9998); the
#: time references (sent_at, the Kafka record time) are set by the sender and bound nothing beyond it.
TS_MIN, TS_MAX = 0, month_start_ms("9999-01")


def equivalent_factors(energy_type: str, unit: str, _ts_ms: int) -> CoalFactor:
    return coal_factor(energy_type, unit)


def equal_value_factors(energy_type: str, unit: str, ts_ms: int) -> CoalFactor:
    """Electricity at the equal value of the reading's (CST) year; other energy as in equivalent."""
    return coal_factor(energy_type, unit, method="equal", year=equal_value_year(int(month_of_interval(ts_ms)[:4])))


def factors_for(method: str) -> FactorLookup:
    """The factor lookup of an electricity accounting method (ECMON_ELECTRICITY_METHOD)."""
    return equal_value_factors if method == "equal" else equivalent_factors


@dataclass(frozen=True)
class Limits:
    """Validation limits (from ecmon.settings); the defaults are the platform's."""

    future_ms: int = HOUR_MS  # a reading may end at most this long after the batch was sent/received
    horizon_ms: int = 400 * DAY_MS  # ... and start no longer than this before
    month_grace_ms: int = 3 * DAY_MS  # after a month's end, in event time (see docs/streams.md)
    #: after the grace, late readings of a month still count for this long (in the enterprise's event time)
    #: and the province reports them as a flagged revision; later they are dead letters ``month_closed``
    revision_window_ms: int = 30 * DAY_MS
    register_history_ms: int = 48 * HOUR_MS  # register readings kept per cumulative meter
    max_sequence_gaps: int = 64  # unapplied sequence ranges remembered per gateway; a batch opening one
    #                              more is refused (too_many_sequence_gaps), no real gap is ever evicted
    #: how far past a gateway's highest applied sequence a batch may jump: a year of one batch a minute
    #: is 525,600, so a jump beyond a million is a broken counter, not lost batches
    sequence_window: int = 1_000_000
    max_gateways: int = 16  # gateways per enterprise (each costs its sequence memory in the state)


DEFAULT_LIMITS = Limits()


@dataclass
class BatchOutcome:
    applied: bool = False
    duplicate: bool = False
    #: refused as a whole (its identity or sequence); ``rejections`` holds the one reason
    rejected: bool = False
    #: keys ("energy|unit|period") whose current totals must be emitted downstream
    touched: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    #: counted, but worth a dead-letter record for the operator (e.g. meter_reset)
    notices: list[Rejection] = field(default_factory=list)
    readings_accepted: int = 0
    #: the counted readings as interval consumption (NormalisedReading records without quality);
    #: interval_start is None for interval meters (the worker knows their metering interval)
    normalised: list[dict[str, Any]] = field(default_factory=list)


# -- duplicates by batch identity -------------------------------------------------------------------


def already_applied(state: EnterpriseState, gateway: str, sequence: int) -> bool:
    """True when this gateway's batch with this sequence was applied before (exact, not <= hwm)."""
    entry = state["seq"].get(gateway)
    if entry is None or sequence > entry[0] or sequence < 1:
        return False
    return not any(lo <= sequence <= hi for lo, hi in entry[1])


def sequence_problem(state: EnterpriseState, gateway: str, sequence: int, limits: Limits,
                     empty: bool) -> Rejection | None:
    """Why a batch not applied before may not be applied now, or None. The sequence memory stays bounded
    by refusing, never by forgetting: a flood of batches far ahead cannot close a real gap."""
    entry = state["seq"].get(gateway)
    if entry is None and len(state["seq"]) >= limits.max_gateways:
        return Rejection(Reason.TOO_MANY_GATEWAYS, f"gateway {gateway!r} would be the enterprise's "
                         f"{limits.max_gateways + 1}th; reuse a gateway_id or ask the platform operator")
    highest, gaps = entry or (0, [])
    if sequence < 1:
        return Rejection(Reason.SEQUENCE_OUT_OF_WINDOW, f"sequence {sequence} of gateway {gateway!r}: sequences start "
                         "at 1 and grow by 1 per new batch")
    if sequence > highest + limits.sequence_window:
        return Rejection(Reason.SEQUENCE_OUT_OF_WINDOW, f"sequence {sequence} of gateway {gateway!r} is more than "
                         f"{limits.sequence_window:,} ahead of its highest applied ({highest}); fix the gateway's "
                         "sequence counter, or give a reinstalled gateway a new gateway_id")
    if sequence > highest + 1:
        if empty:
            return Rejection(Reason.SEQUENCE_OUT_OF_WINDOW, f"empty batch, sequence {sequence} of gateway {gateway!r}: "
                             f"an empty batch may only follow the highest applied ({highest}), not skip ahead")
        if len(gaps) >= limits.max_sequence_gaps:
            return Rejection(Reason.TOO_MANY_SEQUENCE_GAPS, f"sequence {sequence} of gateway {gateway!r} would open a "
                             f"{limits.max_sequence_gaps + 1}th unapplied range below {highest + 1}; send the "
                             f"missing sequences first: {', '.join(f'{lo}-{hi}' for lo, hi in gaps[:5])}")
    return None


def mark_applied(state: EnterpriseState, gateway: str, sequence: int) -> None:
    entry = state["seq"].setdefault(gateway, [0, []])
    highest, gaps = entry
    if sequence > highest:
        if sequence > highest + 1:
            gaps.append([highest + 1, sequence - 1])  # bounded by sequence_problem
        entry[0] = sequence
        return
    for i, (lo, hi) in enumerate(gaps):
        if lo <= sequence <= hi:
            pieces = [p for p in ([lo, sequence - 1], [sequence + 1, hi]) if p[0] <= p[1]]
            gaps[i:i + 1] = pieces
            return


# -- validation helpers -----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _energy_unit_problem(energy_type: str, unit: str) -> Rejection | None:
    try:
        unit_factor(energy_type, unit)
    except UnknownEnergyType as exc:
        return Rejection(Reason.UNKNOWN_ENERGY_TYPE, str(exc))
    except (UnknownUnit, IncompatibleUnit) as exc:
        return Rejection(Reason.UNKNOWN_UNIT, str(exc))
    return None


@lru_cache(maxsize=4096)
def month_end_ms(period: str) -> int:
    return month_start_ms(next_period(period))


def closed_before(watermark: int, limits: Limits) -> int:
    """Months ending before this are closed to readings for good: grace and revision window have passed in
    the enterprise's event time (its watermark, rebuilt from the messages, so a replay decides the same)."""
    return watermark - limits.month_grace_ms - limits.revision_window_ms


# -- cumulative registers ---------------------------------------------------------------------------


def register_consumption(previous: int, current: int) -> tuple[int, bool, bool]:
    """(consumption, counts as a reading, is a reset) between two register readings of a meter.

    A register that went down wrapped when the drop is consistent with a register of a power-of-ten
    width: with M the smallest power of ten above the previous reading (in thousandths), the
    consumption M - previous + current is at most M / 10 and the register does not show exactly
    zero. Any other drop is a reset (or an unannounced meter swap): the register is counted from
    zero, i.e. the consumption is ``current``; what was used between the previous reading and the
    reset is unknown and is not invented. A reset reading is a new baseline, not a counted reading.
    """
    if current >= previous:
        return current - previous, True, False
    modulus = 10 ** len(str(previous))
    wrapped = modulus - previous + current
    if current > 0 and wrapped * 10 <= modulus:
        return wrapped, True, False
    return current, False, True


def _bucket_key(r: dict[str, Any]) -> str:
    return f"{r['energy_type']}|{r['unit']}|{month_of_interval(r['ts'])}"


def apply_batch(
    state: EnterpriseState,
    batch: dict[str, Any],
    meters: dict[str, tuple[str, str]],
    factors: FactorLookup = equivalent_factors,
    limits: Limits = DEFAULT_LIMITS,
    received_ms: int | None = None,
    intervals: dict[str, int] | None = None,
    identities: MutableMapping[str, str] | None = None,
    saved: tuple[int, int] | None = None,
) -> BatchOutcome:
    """Add the batch's readings to ``state`` unless the batch was applied before.

    ``meters`` maps meter id -> (energy type, unit) as registered. Readings that cannot be
    counted are rejected one by one with a reason; the rest of the batch still counts.
    ``received_ms`` (the Kafka record time) and the batch's ``sent_at`` bound the readings' time;
    both are in the message, so a replay decides exactly as the first run did. ``intervals`` maps meter
    id -> registered interval in ms (the grid of its reading identities; 15 minutes when absent).
    ``identities`` holds the exact values counted per meter-day (streams/ecmon_worker/reading_identity.py); the worker
    passes its table, and writes the state only after this returned; None keeps them in ``state["id"]``.
    ``saved`` is (version, watermark) of the state as the changelog holds it, when the worker writes it
    later than per batch (streams/ecmon_worker/emission.py); None: the state as passed.
    """
    upgrade(state)
    outcome = BatchOutcome()
    identity_problem = reading_identity.batch_identity_problem(batch)
    if identity_problem is not None:
        outcome.rejected = True
        outcome.rejections = [Rejection(*identity_problem)]
        return outcome
    gateway, sequence = batch["gateway_id"], batch["sequence"]
    if already_applied(state, gateway, sequence):
        # A resend: count nothing, but re-emit what it touched in case the first emission was lost.
        outcome.duplicate = True
        outcome.touched = sorted({_bucket_key(r) for r in batch["readings"] if TS_MIN <= r["ts"] <= TS_MAX}
                                 & state["m"].keys())
        return outcome

    refused = sequence_problem(state, gateway, sequence, limits, empty=not batch["readings"])
    if refused is not None:
        outcome.rejected = True
        outcome.rejections = [refused]
        return outcome

    version = state["v"] + 1
    totals, days = state["m"], state["d"]
    ids = reading_identity.ReadingIdentities(state, identities, version, None if saved is None else saved[0])
    steps = intervals or {}
    touched: set[str] = set()
    coal_of_month: dict[str, int] = {}  # the enterprise's coal over all its buckets, per month touched
    rejections: list[Rejection] = []
    accepted = 0

    def add(energy_unit: str, ts: int, physical: int, mgce: int, readings: int) -> None:
        key = f"{energy_unit}|{month_of_interval(ts)}"
        coal = enterprise_coal(key)  # before the row moves
        row = totals.get(key)
        if row is None:
            row = totals[key] = [0, 0, 0, 0]
        row[0] += physical
        row[1] += mgce
        row[2] += readings
        row[3] = version
        touched.add(key)
        coal_of_month[key.rsplit("|", 1)[1]] = coal + mgce
        day_key = f"{energy_unit}|{day_of_interval(ts)}"
        day = days.get(day_key)
        if day is None:
            day = days[day_key] = [0, 0, 0]
        day[0] += physical
        day[1] += mgce
        day[2] += readings

    def enterprise_coal(key: str) -> int:
        period = key.rsplit("|", 1)[1]
        if period not in coal_of_month:
            coal_of_month[period] = sum(row[1] for k, row in totals.items() if k.endswith(period))
        return coal_of_month[period]

    sent_at = batch.get("sent_at")
    refs = [t for t in (sent_at, received_ms) if t]
    latest_ok = min(min(refs) + limits.future_ms, TS_MAX) if refs else TS_MAX
    earliest_ok = max(max(refs) - limits.horizon_ms, TS_MIN) if refs else TS_MIN
    closed_for_readings = closed_before(state["wm"], limits)
    watermark = state["wm"]
    cumulative: list[dict[str, Any]] = []
    for r in batch["readings"]:
        problem = _energy_unit_problem(r["energy_type"], r["unit"])
        if problem is not None:
            rejections.append(Rejection(problem.reason, f"meter {r['meter_id']!r}: {problem.detail}"))
            continue
        registered = meters.get(r["meter_id"])
        if registered is None:
            rejections.append(Rejection(Reason.UNKNOWN_METER, f"meter {r['meter_id']!r} is not registered"))
            continue
        if registered != (r["energy_type"], r["unit"]):
            rejections.append(
                Rejection(
                    Reason.METER_MISMATCH,
                    f"meter {r['meter_id']!r} is registered as {registered[0]} in {registered[1]}, "
                    f"reading says {r['energy_type']} in {r['unit']}",
                )
            )
            continue
        ts = r["ts"]
        if ts > latest_ok:
            rejections.append(Rejection(Reason.FUTURE_TIMESTAMP, f"meter {r['meter_id']!r}: ts {ts} is more than "
                                        f"{limits.future_ms // 1000} s after the batch was sent "
                                        f"({min(refs) if refs else 'unknown'}) or after {TS_MAX}"))
            continue
        if ts < earliest_ok:
            rejections.append(Rejection(Reason.BEYOND_HORIZON, f"meter {r['meter_id']!r}: ts {ts} is more than "
                                        f"{limits.horizon_ms // DAY_MS} days before the batch was sent"))
            continue
        period = month_of_interval(ts)
        if month_end_ms(period) < closed_for_readings:
            rejections.append(Rejection(Reason.MONTH_CLOSED, f"meter {r['meter_id']!r}: month {period} is closed: its "
                                        f"grace ({limits.month_grace_ms // HOUR_MS} h) and revision window "
                                        f"({limits.revision_window_ms // DAY_MS} days) had passed; the enterprise "
                                        f"already reported up to ts {state['wm']}"))
            continue
        value = r["value_milli"]
        if r["kind"] == "CUMULATIVE":
            if value < 0:
                rejections.append(Rejection(Reason.NEGATIVE_REGISTER_VALUE, f"meter {r['meter_id']!r}: {value / 1000}"))
                continue
            # a register's consumption never exceeds an accepted register value, so bounding the value
            # (and its own month's total) keeps every total encodable
            problem = _out_of_range(r, value, factors(r["energy_type"], r["unit"], ts).to_mgce(value), totals,
                                    enterprise_coal)
            if problem is not None:
                rejections.append(problem)
                continue
            cumulative.append(r)
            continue
        if r["kind"] != "INTERVAL":
            rejections.append(Rejection(Reason.UNSUPPORTED_VALUE_KIND, f"{r['kind']} readings are not accepted"))
            continue
        if value < 0:
            rejections.append(Rejection(Reason.NEGATIVE_INTERVAL_VALUE, f"meter {r['meter_id']!r}: {value / 1000}"))
            continue
        if value > VALUE_LIMIT:
            problem = _out_of_range(r, value, value, totals, enterprise_coal)
            assert problem is not None  # a value beyond VALUE_LIMIT is out of range whatever the totals
            rejections.append(problem)
            continue
        mgce = factors(r["energy_type"], r["unit"], ts).to_mgce(value)
        normalised = {"meter_id": r["meter_id"], "energy_type": r["energy_type"], "unit": r["unit"],
                      "interval_start": None, "interval_end": ts, "physical_milli": value, "coal_mgce": mgce,
                      "quality": r.get("quality", "GOOD")}
        problem = _count_interval(ids, steps.get(r["meter_id"]) or reading_identity.DEFAULT_STEP_MS, r, value,
                                  mgce, factors, add, normalised, version, outcome.notices, totals, enterprise_coal)
        if problem is not None:
            rejections.append(problem)
            continue
        outcome.normalised.append(normalised)
        watermark = max(watermark, ts)
        accepted += 1

    if cumulative:
        cumulative.sort(key=lambda r: (r["meter_id"], r["ts"]))
        for r in cumulative:
            problem = _apply_register(state, r, factors, limits, add, outcome.notices, outcome.normalised)
            if problem is not None:
                rejections.append(problem)
                continue
            watermark = max(watermark, r["ts"])
            accepted += 1

    _check_encodable(state, touched, coal_of_month)
    # Months closed as the saved state stands: processed again after a crash, this batch cannot reach them.
    ids.forget_closed(closed_for_readings if saved is None else closed_before(saved[1], limits))
    ids.save()
    state["v"] = version
    state["wm"] = watermark
    _fold_closed_days(state, closed_before(watermark, limits))
    mark_applied(state, gateway, sequence)
    outcome.applied = True
    outcome.touched = sorted(touched)
    outcome.rejections = rejections
    outcome.readings_accepted = accepted
    return outcome


def _count_interval(ids: reading_identity.ReadingIdentities, step: int, r: dict[str, Any], value: int, mgce: int,
                    factors: FactorLookup, add: Callable[[str, int, int, int, int], None], normalised: dict[str, Any],
                    version: int, notices: list[Rejection], totals: dict[str, Any],
                    enterprise_coal: Callable[[str], int]) -> Rejection | None:
    """Count an interval reading once by its identity (meter, interval end); see
    streams/ecmon_worker/reading_identity.py.

    A first reading is added; an exact resend is ``duplicate_reading``; a changed value is
    ``conflicting_reading`` unless ``replaces_value_milli`` is exactly the value counted: then the old value
    is subtracted and the new one added (the readings count is unchanged) and ``normalised`` carries the
    revision that makes it replace the earlier row downstream. An end off the meter's grid is
    ``off_grid_reading``: the same interval stamped a second later must not be a second identity."""
    ts, meter = r["ts"], r["meter_id"]
    found = ids.day(meter, ts, step)
    if isinstance(found, str):
        return Rejection(Reason.OFF_GRID_READING, f"meter {meter!r}: {found}")
    day, index = found
    counted = day.values[index]
    energy_unit = f"{r['energy_type']}|{r['unit']}"
    if counted == reading_identity.NOT_COUNTED:  # a first count (also a correction of a reading never counted)
        problem = _out_of_range(r, value, mgce, totals, enterprise_coal)
        if problem is not None:
            return problem
        add(energy_unit, ts, value, mgce, 1)
        day.put(index, value, version, ids.saved)
        return None
    if counted == value:
        return Rejection(Reason.DUPLICATE_READING, f"meter {meter!r}: the reading ending at ts {ts} was already "
                         f"counted with this value ({value / 1000} {r['unit']})")
    replaces = r.get("replaces_value_milli")
    if replaces != counted:
        said = "no replaces_value_milli" if replaces is None else f"replaces_value_milli {replaces}"
        return Rejection(Reason.CONFLICTING_READING, f"meter {meter!r}: the reading ending at ts {ts} was counted with "
                         f"another value than {value} thousandths of {r['unit']}, and {said} is not it; send a "
                         "correction with replaces_value_milli = exactly the value counted")
    old_mgce = factors(r["energy_type"], r["unit"], ts).to_mgce(counted)
    problem = _out_of_range(r, value - counted, mgce - old_mgce, totals, enterprise_coal)
    if problem is not None:
        return problem
    add(energy_unit, ts, value - counted, mgce - old_mgce, 0)
    day.put(index, value, version, ids.saved)
    normalised["revision"] = version
    normalised["replaced_physical_milli"] = counted
    notices.append(Rejection(Reason.READING_CORRECTED, f"meter {meter!r}: the reading ending at ts {ts} corrected from "
                             f"{counted} to {value} thousandths of {r['unit']} ({old_mgce} to {mgce} mgce)"))
    return None


def _out_of_range(r: dict[str, Any], value: int, mgce: int, totals: dict[str, Any],
                  enterprise_coal: Callable[[str], int]) -> Rejection | None:
    """A reading too large to count: itself, the monthly total of its bucket, or the enterprise's monthly coal
    over all its buckets (what the province adds up), beyond VALUE_LIMIT once ``value``/``mgce`` are added
    (negative for a correction downwards; totals never go below zero)."""
    key = _bucket_key(r)
    row = totals.get(key) or [0, 0]
    if value <= VALUE_LIMIT and mgce <= VALUE_LIMIT and 0 <= row[0] + value <= VALUE_LIMIT \
            and 0 <= row[1] + mgce <= VALUE_LIMIT and enterprise_coal(key) + mgce <= VALUE_LIMIT:
        return None
    return Rejection(Reason.VALUE_OUT_OF_RANGE, f"meter {r['meter_id']!r}: {value} thousandths ({mgce} mgce) would "
                     f"bring its monthly total ({row[0]} thousandths, {row[1]} mgce) or the enterprise's monthly "
                     f"coal over all its energies ({enterprise_coal(key)} mgce) outside 0..{VALUE_LIMIT}")


def _check_encodable(state: EnterpriseState, touched: set[str], coal_of_month: dict[str, int]) -> None:
    """Every total this batch moved is within 0..VALUE_LIMIT, before anything of the batch is stored (the
    checks per reading make this hold; a breach is a bug, not data, and must not be saved)."""
    for key in touched:
        if not all(0 <= x <= VALUE_LIMIT for x in state["m"][key][:3]):
            raise ValueError(f"enterprise total {key} out of 0..{VALUE_LIMIT}: {state['m'][key]}")
    for period, coal in coal_of_month.items():
        if not 0 <= coal <= VALUE_LIMIT:
            raise ValueError(f"enterprise coal of {period} out of 0..{VALUE_LIMIT}: {coal}")


def _apply_register(state: EnterpriseState, r: dict[str, Any], factors: FactorLookup, limits: Limits,
                    add: Callable[[str, int, int, int, int], None], notices: list[Rejection],
                    normalised: list[dict[str, Any]]) -> Rejection | None:
    """Fold one register reading into its meter's history; the totals move so that they always
    equal what processing the meter's readings in time order would give (within the history)."""
    meter = state["reg"].setdefault(r["meter_id"], {"h": [], "t": 0})
    history: list[list[int]] = meter["h"]
    ts, value = r["ts"], r["value_milli"]
    energy, unit = r["energy_type"], r["unit"]
    factor = factors(energy, unit, ts)

    def count(entry: list[int], consumption: int, as_reading: bool, reset: bool, previous: int,
              since: int) -> None:
        """Set what ``entry``'s reading counts, moving its bucket by the difference; the normalised
        reading carries the whole new value (a revision replaces the earlier one downstream)."""
        old, old_n = entry[2], entry[3]
        entry[2], entry[3] = consumption, int(as_reading)
        mgce = factor.to_mgce(consumption)
        add(f"{energy}|{unit}", entry[0], consumption - old, mgce - factor.to_mgce(old), entry[3] - old_n)
        normalised.append({"meter_id": r["meter_id"], "energy_type": energy, "unit": unit, "interval_start": since,
                           "interval_end": entry[0], "physical_milli": consumption, "coal_mgce": mgce,
                           "quality": "GOOD" if as_reading else "ESTIMATED"})
        if reset:
            notices.append(Rejection(Reason.METER_RESET, f"meter {r['meter_id']!r}: register fell from "
                                     f"{previous / 1000} to {entry[1] / 1000} at ts {entry[0]}, not a rollover; "
                                     "counted from zero"))

    if not history:
        history.append([ts, value, 0, 0])  # the first reading only sets the baseline
        return None
    last = history[-1]
    if ts > last[0]:
        entry = [ts, value, 0, 0]
        history.append(entry)
        consumption, as_reading, reset = register_consumption(last[1], value)
        count(entry, consumption, as_reading, reset, last[1], last[0])
        horizon = ts - limits.register_history_ms
        trim = 0
        while trim < len(history) - 1 and history[trim][0] < horizon:
            trim += 1
        if trim:
            del history[:trim]
            meter["t"] = 1
        return None
    # Out of order: find its place.
    lo, hi = 0, len(history)
    while lo < hi:
        mid = (lo + hi) // 2
        if history[mid][0] < ts:
            lo = mid + 1
        else:
            hi = mid
    if history[lo][0] == ts:
        same = "the same value" if history[lo][1] == value else f"{history[lo][1] / 1000}, now {value / 1000}"
        return Rejection(Reason.DUPLICATE_READING, f"meter {r['meter_id']!r}: a register reading at ts {ts} was "
                         f"already counted ({same})")
    following = history[lo]
    if lo == 0:
        if meter["t"]:
            return Rejection(Reason.REGISTER_OUT_OF_WINDOW, f"meter {r['meter_id']!r}: ts {ts} is older than the "
                             f"register history kept ({limits.register_history_ms // HOUR_MS} h); its consumption is "
                             "already counted in the next reading")
        history.insert(0, [ts, value, 0, 0])  # an earlier baseline: the old first reading now counts
        consumption, as_reading, reset = register_consumption(value, following[1])
        count(following, consumption, as_reading, reset, value, ts)
        return None
    previous = history[lo - 1]
    entry = [ts, value, 0, 0]
    history.insert(lo, entry)
    consumption, as_reading, reset = register_consumption(previous[1], value)
    count(entry, consumption, as_reading, reset, previous[1], previous[0])
    consumption, as_reading, reset = register_consumption(value, following[1])
    count(following, consumption, as_reading, reset, value, ts)
    return None


def _fold_closed_days(state: EnterpriseState, closed_before: int) -> None:
    """Fold the days of closed months into their month's day sum (see the module docstring)."""
    days = state["d"]
    closed = [k for k in days if month_end_ms(k[:-3].rsplit("|", 1)[1]) < closed_before]
    for key in closed:
        month_key = key[:-3]
        folded = state["ds"].setdefault(month_key, [0, 0])
        folded[0] += days.pop(key)[1]
        folded[1] += 1


def daily_sum(state: EnterpriseState, month_key: str) -> tuple[int, int]:
    """(sum of the month's day buckets in mgce, number of days with data) for 'energy|unit|YYYY-MM'."""
    folded = state.get("ds", {}).get(month_key, [0, 0])
    prefix = month_key + "-"
    live = [row[1] for key, row in state.get("d", {}).items() if key.startswith(prefix)]
    return folded[0] + sum(live), folded[1] + len(live)


def month_totals(state: EnterpriseState, keys: list[str]) -> list[dict[str, Any]]:
    """The current totals of ``keys`` as EnterpriseTotals.totals records."""
    rows = []
    for key in keys:
        energy_type, unit, period = key.split("|")
        physical, mgce, readings, version = state["m"][key]
        daily_mgce, days = daily_sum(state, key)
        rows.append(
            {
                "energy_type": energy_type,
                "unit": unit,
                "period": period,
                "physical_milli": physical,
                "coal_mgce": mgce,
                "readings": readings,
                "version": version,
                "daily_coal_mgce": daily_mgce,
                "days": days,
                # From the month's exact physical total, not summed per reading: one rounding per bucket, the
                # same whatever batches, corrections or order brought the readings (ecmon/emission_factors.py).
                "co2_g": co2_of_month(energy_type, unit, period, physical),
            }
        )
    return rows
