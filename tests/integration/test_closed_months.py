"""Late data for a closed month through the real stack: a flagged revision within the revision window,
a dead letter `month_closed` after it (docs/operations.md "Late data and closed months").

One enterprise of a province no other test uses: April 2026 closes when its event time passes 4 May
(end + 72 h grace); a late April reading inside the window makes, once the province's event time enters
the next CST day, report version 2 with revised = 1 and the difference; after the enterprise has reported
past April's end + grace + window, a late April reading is `month_closed` and changes nothing.
"""

from __future__ import annotations

import time
import uuid

import pytest
from own_stack import province_without_data

from ecmon import topics
from ecmon.energy import to_mgce
from ecmon.kafka_clients import client_config
from ecmon.months import DAY_MS, month_start_ms
from ecmon_gateway.delivery import BatchProducer
from ecmon_simulator.fleet import PlannedBatch, build_fleet
from ecmon_simulator.runs import encode_batch, publish_registry, registry_producer
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
INTERVAL_S = 900
#: disjoint from test_registry_records.PROVINCES: both close months on the side stack
CANDIDATES = ("650000", "640000", "630000", "620000", "460000", "450000", "150000", "540000")


def _cst(day: str, hour: int = 0) -> int:
    y, m, d = (int(p) for p in day.split("-"))
    return month_start_ms(f"{y:04d}-{m:02d}") + (d - 1) * DAY_MS + hour * HOUR_MS


def _poll(query, until, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        value = query()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(1)


def test_late_data_is_a_flagged_revision_within_the_window_and_month_closed_after_it(side_pipeline):
    settings = side_pipeline
    client = connect(settings)
    db = settings.clickhouse_database
    province = province_without_data(settings, CANDIDATES)
    grace, window = settings.month_grace_hours * HOUR_MS, settings.revision_window_days * DAY_MS
    april_close = month_start_ms("2026-05") + grace
    assert window >= 20 * DAY_MS, "the timeline below assumes the default revision window (30 days)"

    (ent,) = build_fleet(1, (province,), seed=int(province[:2]) * 7 + 3)
    meter = ent.meters[0]
    publish_registry(registry_producer(settings), [ent], month_start_ms("2026-04"), INTERVAL_S, settings.state_dir)
    producer = BatchProducer(client_config(settings, "gateway"))
    sequence = 0

    def send(*readings_at: tuple[int, int]) -> None:
        nonlocal sequence
        sequence += 1
        readings = [{"meter_id": meter.meter_id, "energy_type": meter.energy_type, "ts": ts, "value_milli": value,
                     "kind": "INTERVAL", "unit": meter.unit, "quality": "GOOD"} for ts, value in readings_at]
        batch = PlannedBatch(ent, sequence, str(uuid.uuid4()), readings)
        producer.send(topics.READINGS.name, ent.uscc.encode(), encode_batch(batch, int(time.time() * 1000),
                                                                            settings.state_dir))
        producer.flush()

    def mgce(value: int) -> int:
        return to_mgce(meter.energy_type, meter.unit, value)

    def report() -> tuple | None:
        rows = client.execute(
            f"SELECT version, revised, total_coal_mgce, previous_total_coal_mgce, revision_reason "
            f"FROM {db}.monthly_reports FINAL WHERE province = %(p)s AND period = '2026-04-01'", {"p": province})
        return rows[0] if rows else None

    def april_total() -> int | None:
        rows = client.execute(
            f"SELECT argMax(coal_mgce, version) FROM {db}.aggregates_monthly WHERE level = 'PROVINCE' "
            f"AND entity = %(p)s AND industry_code = '*' AND period = '2026-04-01' GROUP BY energy_type",
            {"p": province})
        return sum(r[0] for r in rows) if rows else None

    # April, then May past April's end + grace: the province closes April (report version 1).
    send((_cst("2026-04-10", 1), 40_000), (_cst("2026-04-10", 2), 41_000))
    send((april_close + DAY_MS, 50_000))
    # the month-to-date version 0 may come first: the worker sends the two batches' totals on its cadence
    first = _poll(report, lambda r: r is not None and r[0] >= 1)
    assert first is not None and first[:4] == (1, 0, mgce(40_000) + mgce(41_000), None), first

    # A late April reading, the enterprise 1 day past the close: inside the window, it counts ...
    send((_cst("2026-04-20", 1), 7_000))
    expected = mgce(40_000) + mgce(41_000) + mgce(7_000)
    # (the province has it: the worker sends totals on its cadence, and a change that reached the province
    # together with the next day's reading would wait for the day after, as the batching rule says)
    assert _poll(april_total, lambda t: t == expected) == expected
    # ... and goes out as one revision once the province's event time enters the next CST day.
    send((april_close + 2 * DAY_MS, 51_000))
    revised = _poll(report, lambda r: r is not None and r[0] >= 2)
    assert revised is not None and revised[:4] == (2, 1, expected, first[2]), revised
    assert f"({mgce(7_000):+d} mgce)" in revised[4], revised[4]
    assert _poll(april_total, lambda t: t == expected) == expected

    # Past April's end + grace + window in the enterprise's event time: a late April reading is month_closed.
    beyond = april_close + window + DAY_MS
    assert beyond < int(time.time() * 1000)
    send((beyond, 52_000))
    send((_cst("2026-04-21", 1), 9_000), (beyond + HOUR_MS, 53_000))

    def closed_letters() -> int:
        return client.execute(f"SELECT count() FROM {db}.dead_letters WHERE reason = 'month_closed' "
                              "AND uscc = %(u)s", {"u": ent.uscc})[0][0]

    assert _poll(closed_letters, lambda n: n >= 1) == 1
    detail = client.execute(f"SELECT detail FROM {db}.dead_letters WHERE reason = 'month_closed' AND uscc = %(u)s",
                            {"u": ent.uscc})[0][0]
    assert "2026-04" in detail, detail
    # the batch's other reading (in the open month) counted; April did not change
    may_or_later = _poll(lambda: client.execute(
        f"SELECT uniqExact(meter_id, interval_end) FROM {db}.readings WHERE uscc = %(u)s", {"u": ent.uscc})[0][0],
        lambda n: n >= 7)
    assert may_or_later == 7
    assert april_total() == expected
    final = report()
    assert final is not None and final[:3] == (2, 1, expected), final
