"""Every dead-letter reason through the real stack, on a stack of its own (ports 27xxx).

A small fleet is registered, good batches and production figures are sent, and beside them one crafted
message per reason (a few reasons get a second variant) that the worker must reject with exactly that
reason. The dead letters are then read back from ClickHouse (national database, table ``dead_letters``):
each crafted message is there once, with its reason, a detail, its topic and its original bytes, and
nothing else is. The good data of the same run, including the good readings that travel inside the
crafted batches and the consumption a meter reset still counts, reconciles exactly.

The pure rules behind each reason are unit-tested in tests/unit/ecmon_worker/test_enterprise_rollup.py and
tests/unit/ecmon_worker/test_production_intake.py; this file proves the worker, the dead-letter topic and the sink
carry every one of them to the table an operator reads.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form
from own_stack import isolated_pipeline
from rich.console import Console

from ecmon import codec, signing, topics
from ecmon.energy import accepted_units, coal_factor
from ecmon.kafka_clients import client_config
from ecmon.months import DAY_MS, month_of_interval, month_start_ms
from ecmon.uscc import is_valid_uscc
from ecmon_cli.demo import wait_for_reconciliation
from ecmon_gateway.delivery import BatchProducer
from ecmon_simulator.fleet import Enterprise, PlannedBatch, build_fleet, plan_batches, registry_record
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.production import encode_production as encode_production_in
from ecmon_simulator.profiles import PROFILES
from ecmon_simulator.runs import encode_batch as encode_batch_in
from ecmon_simulator.runs import publish_registry
from ecmon_sink.clickhouse import connect
from ecmon_worker.dead_letters import REASONS

pytestmark = pytest.mark.integration

PORTS = {"kafka_port": 27092, "clickhouse_port": 27000, "clickhouse_http_port": 27123, "prometheus_port": 27090,
         "alertmanager_port": 27190, "metrics_port_base": 27200}

READINGS, PRODUCTION = topics.READINGS.name, topics.PRODUCTION.name
HOUR_MS = 3_600_000
MIN15_MS = 900_000
INTERVAL_S = 900

# Reasons in REASONS that no message on the wire can produce, and why. (Issue 5 also names "non-finite
# value": it has no code at all, because values are fixed-point Avro longs (value_milli, quantity_milli),
# so NaN and infinity cannot be sent.)
NOT_ON_THE_WIRE = {
    # ReadingBatch.readings[].kind is the Avro enum ValueKind {INTERVAL, CUMULATIVE}, and the worker accepts
    # both; any other symbol index fails Avro decoding and is `undecodable` (case undecodable-kind-outside-
    # the-enum below). The check in streams/ecmon_worker/enterprise_rollup.py guards a future schema version.
    "unsupported_value_kind",
    # The sink's own reason for an accepted message it cannot turn into rows: a platform defect, which no
    # gateway input can cause (every accepted message has passed the worker's validation).
    "unconvertible",
    # Rows ClickHouse refuses though the sink made them of an accepted message: a platform defect too;
    # tests/integration/test_sink_robustness.py provokes one with a row ClickHouse cannot store.
    "clickhouse_rejected",
    # An unexpected exception while processing one message: a platform defect, set aside instead of stopping
    # the agent or the sink; no known message causes it (tests/unit/ecmon_worker/test_no_poison.py fuzzes for one).
    "internal_error",
}

# Reasons proven by tests/integration/test_hostile_input.py (poison on every topic the worker and the sink
# consume), which matches dead letters by source offset: a null value or tombstone has no payload to name its
# case here, a value over 1 MiB needs a compressing producer, and the internal topics a worker client.
PROVEN_IN_HOSTILE_INPUT = {"null_value", "tombstone", "message_too_large", "invalid_internal_message"}

# Reasons of refused registry records, proven by tests/integration/test_registry_records.py (each bad record is
# in dead_letters with its reason and changes nothing) and test_enterprise_keys.py (a replayed record).
PROVEN_IN_REGISTRY_RECORDS = {"invalid_registry_record", "unsigned_registry_record", "stale_registry_record"}

# Every crafted message: case id -> (reason it must get, topic). The builders are in _craft below.
CASES: dict[str, tuple[str, str]] = {
    # a whole reading batch rejected, in the order the worker checks (streams/ecmon_worker/admission.py admit)
    "undecodable-garbage": ("undecodable", READINGS),
    "undecodable-truncated-batch": ("undecodable", READINGS),
    "undecodable-kind-outside-the-enum": ("undecodable", READINGS),
    "unknown_fingerprint": ("unknown_fingerprint", READINGS),
    "unexpected_record_type": ("unexpected_record_type", READINGS),
    "invalid_uscc": ("invalid_uscc", READINGS),
    "key_mismatch": ("key_mismatch", READINGS),
    "unregistered_enterprise": ("unregistered_enterprise", READINGS),
    "bad_signature-missing": ("bad_signature", READINGS),
    "bad_signature-other-key": ("bad_signature", READINGS),
    "duplicate_batch": ("duplicate_batch", READINGS),
    "batch_too_large": ("batch_too_large", READINGS),
    # one bad reading beside a good one (which still counts), in the order of apply_batch
    "unknown_energy_type": ("unknown_energy_type", READINGS),
    "unknown_unit": ("unknown_unit", READINGS),
    "unknown_meter": ("unknown_meter", READINGS),
    "meter_mismatch": ("meter_mismatch", READINGS),
    "future_timestamp": ("future_timestamp", READINGS),
    "beyond_horizon": ("beyond_horizon", READINGS),
    "month_closed": ("month_closed", READINGS),
    "negative_interval_value": ("negative_interval_value", READINGS),
    "value_out_of_range": ("value_out_of_range", READINGS),
    # cumulative registers
    "negative_register_value": ("negative_register_value", READINGS),
    "duplicate_reading": ("duplicate_reading", READINGS),
    "register_out_of_window": ("register_out_of_window", READINGS),
    "meter_reset": ("meter_reset", READINGS),
    # reading identity and gateway identity (streams/ecmon_worker/reading_identity.py)
    "duplicate_reading-interval-resend": ("duplicate_reading", READINGS),
    "conflicting_reading": ("conflicting_reading", READINGS),
    "reading_corrected": ("reading_corrected", READINGS),
    "off_grid_reading": ("off_grid_reading", READINGS),
    "invalid_gateway_id": ("invalid_gateway_id", READINGS),
    "invalid_batch_id": ("invalid_batch_id", READINGS),
    "sequence_out_of_window": ("sequence_out_of_window", READINGS),
    "too_many_sequence_gaps": ("too_many_sequence_gaps", READINGS),
    "too_many_gateways": ("too_many_gateways", READINGS),
    # production output (streams/ecmon_worker/production_intake.py, agent production_output)
    "production-undecodable": ("undecodable", PRODUCTION),
    "production-unknown_fingerprint": ("unknown_fingerprint", PRODUCTION),
    "production-unexpected_record_type": ("unexpected_record_type", PRODUCTION),
    "production-invalid_uscc": ("invalid_uscc", PRODUCTION),
    "production-key_mismatch": ("key_mismatch", PRODUCTION),
    "production-unregistered_enterprise": ("unregistered_enterprise", PRODUCTION),
    "production-bad_signature": ("bad_signature", PRODUCTION),
    "negative_quantity": ("negative_quantity", PRODUCTION),
    "unknown_product_unit": ("unknown_product_unit", PRODUCTION),
    "product_unit_mismatch": ("product_unit_mismatch", PRODUCTION),
    "invalid_period": ("invalid_period", PRODUCTION),
}


@dataclass(frozen=True)
class Crafted:
    case: str
    reason: str
    topic: str
    key: bytes
    value: bytes
    uscc: str  # the uscc column the dead letter must carry ("" before the message could be decoded)


@dataclass
class Run:
    crafted: dict[str, Crafted]
    ledger: Ledger
    dead_letters: list[tuple[str, str, str, str, bytes]]  # reason, detail, source_topic, uscc, payload
    good_production: tuple[str, str, int]  # uscc, product code, quantity_milli


# -- the stack ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_pipeline(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("ecmon-dead-letters")
    with isolated_pipeline(state_dir, PORTS) as settings:
        yield settings


# -- message builders (the project's own encoders) ---------------------------------------------------------


def reading(meter_id: str, energy_type: str, unit: str, ts: int, value_milli: int, kind: str = "INTERVAL") -> dict:
    return {"meter_id": meter_id, "energy_type": energy_type, "ts": ts, "value_milli": value_milli, "kind": kind,
            "unit": unit, "quality": "GOOD"}


def batch_record(ent: Enterprise, sequence: int, readings: list[dict], sent_at: int, uscc: str | None = None) -> dict:
    return {"uscc": uscc or ent.uscc, "gateway_id": ent.gateway_id, "batch_id": str(uuid.uuid4()),
            "sequence": sequence, "sent_at": sent_at, "key_id": ent.key_id, "signature": b"", "readings": readings}


def signed_in(state_dir: Path, record: dict, key_id: str | None = None, short_name: str = "reading_batch") -> bytes:
    """As ecmon_simulator.runs.encode_batch: sign the message encoded with an empty signature."""
    key_id = key_id or record["key_id"]
    unsigned = codec.encode(short_name, {**record, "signature": b""})
    # the simulated enterprise's own key (key-<USCC>), from the key store of this stack's state directory
    private_key = signing.enterprise_keys(state_dir).private_key(key_id.removeprefix("key-"), key_id)
    signature = signing.sign(unsigned, private_key)
    return codec.encode(short_name, {**record, "signature": signature})


class Signers(NamedTuple):
    """The simulated enterprises' signing, with the keys of one stack's state directory."""

    signed: Callable[..., bytes]
    encode_batch: Callable[[PlannedBatch, int], bytes]
    encode_production: Callable[[Enterprise, dict], bytes]


def signers(state_dir: Path) -> Signers:
    return Signers(partial(signed_in, state_dir),
                   lambda batch, sent_at_ms: encode_batch_in(batch, sent_at_ms, state_dir),
                   lambda ent, record: encode_production_in(ent, record, state_dir))


def unreleased_schema(short_name: str) -> codec.SchemaVersion:
    """A well-formed writer schema that is not released: the current one with one more field."""
    current = codec.catalog().schema(short_name)
    raw = json.loads(current.path.read_text())
    raw["fields"].append({"name": "vendor_note", "type": "string", "default": ""})
    writer = fastavro.parse_schema(raw)
    fp = codec.crc64_avro(to_parsing_canonical_form(writer).encode()).to_bytes(8, "little")
    assert fp not in codec.catalog().by_fingerprint
    return codec.SchemaVersion(writer["name"], short_name, 99, current.path, fp, writer,
                               fastavro.parse_schema(codec.strip_logical_types(raw)))


def with_kind_index(value: bytes, index: int) -> bytes:
    """The encoded one-reading batch with its ValueKind enum index replaced (zig-zag varint)."""
    # kind follows value_milli; unit "kWh" (length 3 -> 0x06) follows kind; both are single bytes here
    at = value.rfind(b"\x06kWh")
    assert at > 0 and value[at - 1] in (0, 2), value.hex()
    return value[:at - 1] + bytes([index * 2]) + value[at:]


def invalid_uscc(uscc: str) -> str:
    for c in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        bad = uscc[:-1] + c
        if not is_valid_uscc(bad):
            return bad
    raise AssertionError(uscc)


# -- the run ---------------------------------------------------------------------------------------------


def _cst(period_day: str, hour: int = 0) -> int:
    """UTC ms of a CST wall-clock time, e.g. _cst('2026-11-02', 6)."""
    y, m, d = (int(p) for p in period_day.split("-"))
    return month_start_ms(f"{y:04d}-{m:02d}") + (d - 1) * DAY_MS + hour * HOUR_MS


@pytest.fixture(scope="module")
def run(own_pipeline) -> Run:
    settings = own_pipeline
    signed, encode_batch, encode_production = signers(settings.state_dir)
    now = int(time.time() * 1000)
    assert now > _cst("2026-11-12"), "the crafted timeline (October and November 2026) must lie in the past"

    # The fleet: A (interval meters, Shandong, crude steel) carries most cases and the production output,
    # B (interval, Liaoning) the month closing, C (cumulative registers, Shanghai) the register cases.
    a, b = build_fleet(2, ("370000", "210000"), seed=57)
    (c,) = build_fleet(1, ("310000",), seed=58, meters_per_enterprise=4, cumulative=True)
    stranger = build_fleet(1, ("440000",), seed=59)[0]  # never registered
    assert a.industry_code == "3120" and len({a.uscc, b.uscc, c.uscc, stranger.uscc}) == 4
    ledger = Ledger(electricity_method=settings.electricity_method)
    producer = BatchProducer(client_config(settings, "admin"))
    publish_registry(producer, [a, b, c], month_start_ms("2026-10"), INTERVAL_S, settings.state_dir)

    crafted: dict[str, Crafted] = {}
    seq = {a.uscc: 0, b.uscc: 0, c.uscc: 0}

    def next_seq(ent: Enterprise) -> int:
        seq[ent.uscc] += 1
        return seq[ent.uscc]

    def send(topic: str, key: bytes, value: bytes) -> None:
        producer.send(topic, key, value)

    def good(ent: Enterprise, readings: list[dict], counted: list[tuple[dict, int]] | None = None) -> bytes:
        """Send a batch of ``ent`` and count what it must count: by default every reading (interval
        meters); ``counted`` lists (reading with the counted value, readings it counts as) instead."""
        record = batch_record(ent, next_seq(ent), readings, int(time.time() * 1000))
        value = signed(record)
        send(READINGS, ent.uscc.encode(), value)
        for r, n in counted if counted is not None else [(r, 1) for r in readings]:
            _count(ledger, ent, r, n)
        return value

    def craft(case: str, key: bytes, value: bytes, uscc: str = "") -> None:
        reason, topic = CASES[case]
        crafted[case] = Crafted(case, reason, topic, key, value, uscc)
        send(topic, key, value)

    m0 = a.meters[0]

    def companion(ts: int, value: int = 1234) -> dict:
        """A good reading that travels with a bad one and must still count."""
        return reading(m0.meter_id, m0.energy_type, m0.unit, ts, value)

    def one_bad_reading(case: str, bad: dict, ent: Enterprise = a, good_ts: int | None = None) -> None:
        ok = companion(good_ts or _cst("2026-11-05", 1) + len(crafted) * MIN15_MS, 1000 + len(crafted))
        record = batch_record(ent, next_seq(ent), [bad, ok], int(time.time() * 1000))
        craft(case, ent.uscc.encode(), signed(record), ent.uscc)
        _count(ledger, ent, ok)

    # -- good data: A's first three days of November as the simulator reads them ------------------------
    planned = list(plan_batches(a, month_start_ms("2026-11"), _cst("2026-11-04"), INTERVAL_S, 96))
    first_good = None
    for p in planned:
        value = encode_batch(p, int(time.time() * 1000))
        send(READINGS, a.uscc.encode(), value)
        ledger.add(p.batch_id, a.province, a.uscc, p.countable)
        first_good = first_good or value
    seq[a.uscc] = planned[-1].sequence

    # -- whole batches rejected -----------------------------------------------------------------------------
    sample = [companion(_cst("2026-11-06"), 777)]
    craft("undecodable-garbage", a.uscc.encode(), f"not avro {uuid.uuid4()}".encode())
    whole = signed(batch_record(a, 10_000, sample, now))
    craft("undecodable-truncated-batch", a.uscc.encode(), whole[:-7])
    craft("undecodable-kind-outside-the-enum", a.uscc.encode(),
          with_kind_index(signed(batch_record(a, 10_001, [reading(m0.meter_id, "electricity", "kWh",
                                                                  _cst("2026-11-06"), 5)], now)), 2))
    craft("unknown_fingerprint", a.uscc.encode(),
          codec.encode("reading_batch", {**batch_record(a, 10_002, sample, now), "vendor_note": "v99"},
                       schema=unreleased_schema("reading_batch")))
    craft("unexpected_record_type", a.uscc.encode(),
          codec.encode("enterprise_record", registry_record(a, month_start_ms("2026-10"), INTERVAL_S)))
    bad_uscc = invalid_uscc(a.uscc)
    craft("invalid_uscc", bad_uscc.encode(), signed(batch_record(a, 10_003, sample, now, uscc=bad_uscc)), bad_uscc)
    craft("key_mismatch", b.uscc.encode(), signed(batch_record(a, 10_004, sample, now)), a.uscc)
    craft("unregistered_enterprise", stranger.uscc.encode(),
          signed(batch_record(stranger, 1, [reading(stranger.meters[0].meter_id, stranger.meters[0].energy_type,
                                                    stranger.meters[0].unit, _cst("2026-11-06"), 5)], now)),
          stranger.uscc)
    # Rejected whole, so their sequences stay unapplied: A's later batches are not duplicates of them.
    craft("bad_signature-missing", a.uscc.encode(),
          codec.encode("reading_batch", batch_record(a, next_seq(a), sample, now)), a.uscc)
    craft("bad_signature-other-key", a.uscc.encode(), signed(batch_record(a, next_seq(a), sample, now), b.key_id),
          a.uscc)
    craft("duplicate_batch", a.uscc.encode(), first_good, a.uscc)  # the same bytes again
    # Rejected whole (signed and valid otherwise): one reading over the contract's 10,000 per batch.
    craft("batch_too_large", a.uscc.encode(),
          signed(batch_record(a, next_seq(a), [companion(_cst("2026-11-07") + i * MIN15_MS, 1) for i in range(10_001)],
                              now)), a.uscc)

    # -- one bad reading beside a good one ------------------------------------------------------------------
    t = _cst("2026-11-06", 3)
    one_bad_reading("unknown_energy_type", reading(m0.meter_id, "unobtainium", "kWh", t, 5))
    one_bad_reading("unknown_unit", reading(m0.meter_id, m0.energy_type, "furlong", t, 5))
    one_bad_reading("unknown_meter", reading("NO-SUCH-METER", m0.energy_type, m0.unit, t, 5))
    other_unit = next(u for u in accepted_units(m0.energy_type) if u != m0.unit)
    one_bad_reading("meter_mismatch", reading(m0.meter_id, m0.energy_type, other_unit, t, 5))
    one_bad_reading("future_timestamp", reading(m0.meter_id, m0.energy_type, m0.unit, now + 3 * HOUR_MS, 5))
    one_bad_reading("beyond_horizon", reading(m0.meter_id, m0.energy_type, m0.unit, now - 401 * DAY_MS, 5))
    one_bad_reading("negative_interval_value", reading(m0.meter_id, m0.energy_type, m0.unit, t, -5))
    one_bad_reading("value_out_of_range", reading(m0.meter_id, m0.energy_type, m0.unit, t, 2**63 - 1))

    # -- reading identity: a resend, a changed value, a correction, off the interval grid ------------------
    tc = _cst("2026-11-10")
    good(a, [reading(m0.meter_id, m0.energy_type, m0.unit, tc, 4000)])
    one_bad_reading("duplicate_reading-interval-resend", reading(m0.meter_id, m0.energy_type, m0.unit, tc, 4000))
    one_bad_reading("conflicting_reading", reading(m0.meter_id, m0.energy_type, m0.unit, tc, 4001))
    fix = {**reading(m0.meter_id, m0.energy_type, m0.unit, tc, 4500), "replaces_value_milli": 4000}
    craft("reading_corrected", a.uscc.encode(), signed(batch_record(a, next_seq(a), [fix], now)), a.uscc)
    row = ledger.totals[(a.province, a.uscc, m0.energy_type, m0.unit, month_of_interval(tc))]
    factor = coal_factor(m0.energy_type, m0.unit, method=ledger.electricity_method)
    row[0] += 500
    row[1] += factor.to_mgce(4500) - factor.to_mgce(4000)
    # the same interval stamped 1 s and 2 s late: off the meter's 15-minute grid, refused, nothing counts
    off = [reading(m0.meter_id, m0.energy_type, m0.unit, tc + i * 1000, 10 + i) for i in (1, 2)]
    craft("off_grid_reading", a.uscc.encode(), signed(batch_record(a, next_seq(a), off, now)), a.uscc)

    # -- gateway identity: ids, the sequence window, the gap memory (refused whole, nothing counts) ----------
    craft("invalid_gateway_id", a.uscc.encode(),
          signed({**batch_record(a, 1, sample, now), "gateway_id": "gw with spaces"}), a.uscc)
    craft("invalid_batch_id", a.uscc.encode(), signed({**batch_record(a, 10_006, sample, now), "batch_id": "b-1"}),
          a.uscc)
    craft("sequence_out_of_window", a.uscc.encode(), signed(batch_record(a, seq[a.uscc] + 5_000_000, sample, now)),
          a.uscc)
    for i in range(64):  # a second gateway of A skips every other sequence: 64 open gaps, all remembered
        r = reading(m0.meter_id, m0.energy_type, m0.unit, _cst("2026-11-08") + i * MIN15_MS, 20 + i)
        send(READINGS, a.uscc.encode(), signed({**batch_record(a, 2 * (i + 1), [r], now), "gateway_id": "gw-gaps"}))
        _count(ledger, a, r)
    craft("too_many_sequence_gaps", a.uscc.encode(),
          signed({**batch_record(a, 130, sample, now), "gateway_id": "gw-gaps"}), a.uscc)

    # B reports October, then December past October's end + 72 h + the revision window: October is closed
    # to B's readings (within the window they would count, as a revision: tests/integration/test_closed_months.py).
    b0 = b.meters[0]
    current = _cst("2026-12-05", 2)
    assert now > current + HOUR_MS, "B's current reading (5 December 2026) must lie in the past"
    good(b, [reading(b0.meter_id, b0.energy_type, b0.unit, _cst("2026-10-20", 2), 50_000)])
    good(b, [reading(b0.meter_id, b0.energy_type, b0.unit, current, 60_000)])
    assert current > (month_start_ms("2026-11") + settings.month_grace_hours * HOUR_MS
                      + settings.revision_window_days * DAY_MS)
    late = reading(b0.meter_id, b0.energy_type, b0.unit, _cst("2026-10-25", 2), 70_000)
    on_time = reading(b0.meter_id, b0.energy_type, b0.unit, current + MIN15_MS, 80_000)
    record = batch_record(b, next_seq(b), [late, on_time], int(time.time() * 1000))
    craft("month_closed", b.uscc.encode(), signed(record), b.uscc)
    _count(ledger, b, on_time)
    for i in range(15):  # B's own gateway and 15 more (empty batches, sequence 1): the most tracked
        send(READINGS, b.uscc.encode(), signed({**batch_record(b, 1, [], now), "gateway_id": f"gw-extra-{i}"}))
    craft("too_many_gateways", b.uscc.encode(),
          signed({**batch_record(b, 1, [reading(b0.meter_id, b0.energy_type, b0.unit, current + 2 * MIN15_MS, 5)],
                                 now), "gateway_id": "gw-extra-15"}), b.uscc)

    # -- cumulative registers (C) ---------------------------------------------------------------------------
    c1, c2, c3, c4 = c.meters

    def reg(m, ts: int, value: int) -> dict:
        return reading(m.meter_id, m.energy_type, m.unit, ts, value, "CUMULATIVE")

    def consumed(m, ts: int, value: int) -> dict:
        return reading(m.meter_id, m.energy_type, m.unit, ts, value)

    t0 = _cst("2026-11-02")
    # c2: baseline, +10; c3: baseline, +100, +200 two days later (the older history is trimmed);
    # c4: baseline, +100. A baseline counts nothing.
    good(c, [reg(c2, t0, 2_000_000), reg(c2, t0 + MIN15_MS, 2_010_000),
             reg(c3, t0, 3_000_000), reg(c3, t0 + HOUR_MS, 3_100_000), reg(c3, t0 + 50 * HOUR_MS, 3_300_000),
             reg(c4, t0, 5_000_000), reg(c4, t0 + MIN15_MS, 5_100_000)],
         counted=[(consumed(c2, t0 + MIN15_MS, 10_000), 1), (consumed(c3, t0 + HOUR_MS, 100_000), 1),
                  (consumed(c3, t0 + 50 * HOUR_MS, 200_000), 1), (consumed(c4, t0 + MIN15_MS, 100_000), 1)])
    for case, readings_ in (
        ("negative_register_value", [reg(c1, t0, -1_000)]),
        ("duplicate_reading", [reg(c2, t0 + MIN15_MS, 2_010_000)]),
        ("register_out_of_window", [reg(c3, t0 + 30 * 60_000, 3_050_000)]),
        # 5000 -> 1000 is no rollover of a 7-digit register: a reset, counted from zero (1000 counts,
        # but not as a reading); the dead letter is a notice.
        ("meter_reset", [reg(c4, t0 + 2 * MIN15_MS, 1_000_000)]),
    ):
        record = batch_record(c, next_seq(c), readings_, int(time.time() * 1000))
        craft(case, c.uscc.encode(), signed(record), c.uscc)
    _count(ledger, c, consumed(c4, t0 + 2 * MIN15_MS, 1_000_000), readings=0)

    # -- production output ----------------------------------------------------------------------------------
    product = PROFILES[a.industry_code].product
    day = _cst("2026-11-02")

    def output(ent: Enterprise = a, uscc: str | None = None, **fields) -> dict:
        return {"uscc": uscc or ent.uscc, "gateway_id": ent.gateway_id, "batch_id": str(uuid.uuid4()),
                "sent_at": now, "key_id": ent.key_id, "signature": b"", "product_code": product.code,
                "product_name": product.name, "quantity_milli": 1_500_000, "unit": product.unit,
                "period_start": day, "period_end": day + DAY_MS, **fields}

    good_output = output()
    send(PRODUCTION, a.uscc.encode(), encode_production(a, good_output))
    akey = a.uscc.encode()
    craft("production-undecodable", akey, f"not a production figure {uuid.uuid4()}".encode())
    craft("production-unknown_fingerprint", akey,
          codec.encode("production_output", {**output(), "vendor_note": "v99"},
                       schema=unreleased_schema("production_output")))
    craft("production-unexpected_record_type", akey, signed(batch_record(a, 10_005, sample, now)))
    craft("production-invalid_uscc", bad_uscc.encode(),
          encode_production(a, output(uscc=bad_uscc)), bad_uscc)
    craft("production-key_mismatch", b.uscc.encode(), encode_production(a, output()), a.uscc)
    craft("production-unregistered_enterprise", stranger.uscc.encode(),
          encode_production(stranger, output(stranger)), stranger.uscc)
    craft("production-bad_signature", akey, encode_production(b, output()), a.uscc)  # B's key, A's key_id
    craft("negative_quantity", akey, encode_production(a, output(quantity_milli=-5)), a.uscc)
    craft("unknown_product_unit", akey, encode_production(a, output(unit="bushel")), a.uscc)
    assert product.unit == "t"
    craft("product_unit_mismatch", akey, encode_production(a, output(unit="piece")), a.uscc)
    month_end = month_start_ms("2026-12")
    craft("invalid_period", akey,
          encode_production(a, output(period_start=month_end - DAY_MS, period_end=month_end + DAY_MS)), a.uscc)

    producer.flush()
    assert not producer.failures, producer.failures
    assert set(crafted) == set(CASES)
    assert len({m.value for m in crafted.values()}) == len(crafted)  # each payload names its case

    client = connect(settings)
    db = settings.clickhouse_database
    deadline = time.monotonic() + 75
    rows: list = []
    while time.monotonic() < deadline:
        rows = client.execute(f"SELECT reason, detail, source_topic, uscc, payload FROM {db}.dead_letters")
        if len({r[4] for r in rows}) >= len(crafted):
            break
        time.sleep(1)
    dead = [(r, d, topic, u, p.encode("latin-1")) for r, d, topic, u, p in rows]  # docs: payload is latin-1
    return Run(crafted, ledger, dead, (a.uscc, product.code, good_output["quantity_milli"]))


def _count(ledger: Ledger, ent: Enterprise, r: dict, readings: int = 1) -> None:
    """What the platform must count for ``r`` (as ecmon_simulator.ledger.Ledger.add, with a reading count)."""
    row = ledger.totals[(ent.province, ent.uscc, r["energy_type"], r["unit"], month_of_interval(r["ts"]))]
    row[0] += r["value_milli"]
    row[1] += coal_factor(r["energy_type"], r["unit"], method=ledger.electricity_method).to_mgce(r["value_milli"])
    row[2] += readings


# -- the checks ------------------------------------------------------------------------------------------


def test_every_reason_has_a_case_or_a_reason_why_not():
    covered = {reason for reason, _topic in CASES.values()}
    elsewhere = set(NOT_ON_THE_WIRE) | PROVEN_IN_HOSTILE_INPUT | PROVEN_IN_REGISTRY_RECORDS
    assert covered | elsewhere == set(REASONS), set(REASONS) - covered - elsewhere
    assert not covered & elsewhere


@pytest.mark.parametrize("case", list(CASES))
def test_the_crafted_message_is_dead_lettered_with_its_reason(run, case):
    sent = run.crafted[case]
    found = [r for r in run.dead_letters if r[4] == sent.value]
    assert found, (f"{case}: no dead letter carries the message's bytes; reasons seen: "
                   f"{sorted({r[0] for r in run.dead_letters})}")
    assert [r[0] for r in found] == [sent.reason], found  # exactly one, with exactly this reason
    reason, detail, topic, uscc, _payload = found[0]
    assert detail.strip(), f"{case}: empty detail"
    assert topic == sent.topic
    assert uscc == sent.uscc


def test_nothing_else_is_dead_lettered(run):
    expected = {m.value for m in run.crafted.values()}
    others = [r[:4] for r in run.dead_letters if r[4] not in expected]
    assert not others, others


def test_good_data_of_the_same_run_reconciles_exactly(own_pipeline, run):
    # The good batches, the good readings inside the crafted batches, and the 1000 a meter reset still
    # counts (with no reading): exactly these, at enterprise and province level.
    result = wait_for_reconciliation(own_pipeline, run.ledger, timeout=30, console=Console(), show_progress=False,
                                     watch_processes=False)
    assert result.exact, result.line()
    assert sum(n for _mgce, n in result.sent.values()) > 0


def test_good_production_output_is_accepted_beside_the_rejected(own_pipeline, run):
    uscc, product_code, quantity = run.good_production
    client = connect(own_pipeline)
    db = own_pipeline.clickhouse_database
    deadline = time.monotonic() + 20
    rows = []
    while time.monotonic() < deadline and not rows:
        rows = client.execute(f"SELECT uscc, product_code, argMax(quantity_milli, version) FROM {db}.production "
                              "GROUP BY uscc, product_code, period_start, period_end")
        time.sleep(0.5)
    assert rows == [(uscc, product_code, quantity)]
