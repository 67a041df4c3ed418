"""A reading is counted once, and a correction replaces, in ClickHouse, on the side stack
(tests/integration/conftest.py, ports 21xxx).

One enterprise sends two interval readings, then the same two again in a new batch (next sequence), in a batch
far ahead in sequence, and from a second gateway; then a batch with one new reading (so we know the resends
were processed), then a correction of the first reading. After each step the enterprise's aggregate in
``aggregates_monthly`` and its rows in ``readings`` (as ReplacingMergeTree keeps them: the highest version per
(uscc, meter, interval end)) must both hold exactly what was meant: each reading once, the correction in place.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from ecmon import codec, signing, topics
from ecmon.energy import coal_factor
from ecmon.kafka_clients import client_config
from ecmon.months import month_of_interval, month_start_ms
from ecmon_gateway.delivery import BatchProducer
from ecmon_simulator.fleet import Enterprise, build_fleet, signing_key
from ecmon_simulator.runs import publish_registry
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

Q = 900_000


def signed_batch(ent: Enterprise, gateway: str, sequence: int, readings: list[dict], state_dir: Path) -> bytes:
    key_id, private_key = signing_key(ent, state_dir)
    record = {"uscc": ent.uscc, "gateway_id": gateway, "batch_id": str(uuid.uuid4()), "sequence": sequence,
              "sent_at": int(time.time() * 1000), "key_id": key_id, "signature": b"", "readings": readings}
    return codec.encode("reading_batch", {**record, "signature": signing.sign(codec.encode("reading_batch", record),
                                                                                  private_key)})


def _digest(value: int) -> bytes:
    from hashlib import blake2b

    return blake2b(str(value).encode(), digest_size=2).digest()


def test_the_same_reading_counts_once_and_a_correction_replaces_in_aggregates_and_readings(side_pipeline):
    settings = side_pipeline
    (ent,) = build_fleet(1, ("370000",), seed=151)
    meter = ent.meters[0]
    producer = BatchProducer(client_config(settings, "admin"))
    now = int(time.time() * 1000)
    t1 = now - now % Q - 8 * Q
    if month_of_interval(t1) != month_of_interval(t1 + 3 * Q):  # keep the three intervals in one month
        t1 -= 4 * Q
    period = month_of_interval(t1)
    publish_registry(producer, [ent], month_start_ms(period) - 31 * 86_400_000, Q // 1000, settings.state_dir)

    def reading(ts: int, value: int, replaces: int | None = None) -> dict:
        return {"meter_id": meter.meter_id, "energy_type": meter.energy_type, "unit": meter.unit, "ts": ts,
                "value_milli": value, "kind": "INTERVAL", "quality": "GOOD", "replaces_value_milli": replaces}

    def send(gateway: str, sequence: int, readings: list[dict]) -> None:
        producer.send(topics.READINGS.name, ent.uscc.encode(),
                      signed_batch(ent, gateway, sequence, readings, settings.state_dir))
        producer.flush()
        assert not producer.failures, producer.failures

    factor = coal_factor(meter.energy_type, meter.unit, method=settings.electricity_method)
    client = connect(settings)
    db = settings.clickhouse_database

    def seen() -> tuple[tuple, dict]:
        aggregate = client.execute(
            f"SELECT argMax(physical_milli, version), argMax(coal_mgce, version), argMax(readings, version) "
            f"FROM {db}.aggregates_monthly WHERE level = 'ENTERPRISE' AND entity = %(u)s "
            f"AND period = toDate(%(p)s)", {"u": ent.uscc, "p": f"{period}-01"})
        rows = client.execute(
            f"SELECT toUnixTimestamp(interval_end), argMax(physical_milli, version), argMax(coal_mgce, version) "
            f"FROM {db}.readings WHERE uscc = %(u)s GROUP BY meter_id, interval_end", {"u": ent.uscc})
        return (tuple(aggregate[0]) if aggregate else ()), {ts * 1000: (v, m) for ts, v, m in rows}

    def expect(values: dict[int, int]) -> None:
        want_rows = {ts: (v, factor.to_mgce(v)) for ts, v in values.items()}
        want = (sum(values.values()), sum(m for _v, m in want_rows.values()), len(values))
        deadline = time.monotonic() + 90
        got: tuple = ((), {})
        while time.monotonic() < deadline:
            got = seen()
            if got == (want, want_rows):
                return
            time.sleep(1)
        assert got == (want, want_rows), "aggregate and readings table must both hold each reading once"

    first = [reading(t1, 1000), reading(t1 + Q, 2000)]
    send(ent.gateway_id, 1, first)
    expect({t1: 1000, t1 + Q: 2000})
    send(ent.gateway_id, 2, first)  # a new batch, the next sequence
    send(ent.gateway_id, 500, first)  # a sequence far ahead
    send("gw-second", 1, first)  # a second gateway of the enterprise
    send(ent.gateway_id, 3, [reading(t1 + 2 * Q, 5)])  # processed after the resends (same partition)
    expect({t1: 1000, t1 + Q: 2000, t1 + 2 * Q: 5})
    send(ent.gateway_id, 4, [reading(t1, 1700)])  # a changed value without a correction: refused
    send(ent.gateway_id, 5, [reading(t1 + Q, 2500, replaces=2000)])  # a correction
    # the review's forgery: an old value with the 16-bit digest of the one counted, found offline
    forged = next(v for v in range(2**56, 2**57) if _digest(v) == _digest(1000))
    send(ent.gateway_id, 6, [reading(t1, 0, replaces=forged)])
    send(ent.gateway_id, 7, [reading(t1 + 2 * Q + 1000, 5)])  # the same interval a second late: off the grid
    expect({t1: 1000, t1 + Q: 2500, t1 + 2 * Q: 5})

    deadline = time.monotonic() + 30
    reasons: dict = {}
    while time.monotonic() < deadline:
        reasons = dict(client.execute(f"SELECT reason, count() FROM {db}.dead_letters WHERE uscc = %(u)s "
                                      f"GROUP BY reason", {"u": ent.uscc}))
        if reasons == {"duplicate_reading": 3, "conflicting_reading": 2, "reading_corrected": 1,
                       "off_grid_reading": 1}:
            break
        time.sleep(1)
    assert reasons == {"duplicate_reading": 3, "conflicting_reading": 2, "reading_corrected": 1,
                       "off_grid_reading": 1}
    [detail] = client.execute(f"SELECT detail FROM {db}.dead_letters WHERE uscc = %(u)s AND "
                              f"reason = 'reading_corrected'", {"u": ent.uscc})[0]
    assert "from 2000 to 2500" in detail
