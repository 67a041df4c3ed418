"""Emission on a cadence (streams/ecmon_worker/emission.py) and the commit hooks it relies on."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ecmon_worker import commit_order
from ecmon_worker.emission import Cadence, DeferredChangelog, PendingTotals


class FakeTable:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sent: list[tuple[int, str, Any, str | None]] = []

    def send_changelog(self, partition: int, key: str, value: Any, value_serializer: str | None = None) -> None:
        self.sent.append((partition, key, value, value_serializer))


def test_changes_wait_in_memory_and_go_out_once_per_key_owner_last():
    table = FakeTable()
    log = DeferredChangelog(table)
    for version in range(1, 6):  # five batches of one enterprise
        log.put_part("A", 3, f"A|m1|2026-10-0{version}", f"day{version}")
        log.put_part("A", 3, "A|m1|2026-10-01", f"day1 v{version}")
        log.put("A", 3, {"v": version})
    log.put("B", 1, {"v": 1})
    log.delete_part("A", 3, "A|m1|2026-10-02")
    assert table.data["A"] == {"v": 5} and not table.sent  # readable at once, nothing sent yet
    assert log.flush() == 7
    keys = [(p, k) for p, k, _, _ in table.sent]
    assert keys == [(3, "A|m1|2026-10-01"), (3, "A|m1|2026-10-02"), (3, "A|m1|2026-10-03"), (3, "A|m1|2026-10-04"),
                    (3, "A|m1|2026-10-05"), (3, "A"), (1, "B")]
    assert table.sent[0][2] == "day1 v5" and table.sent[5][2] == {"v": 5}
    assert table.sent[1][2:] == (None, "raw")  # a tombstone, not JSON null
    assert log.flush() == 0


def test_a_partition_the_worker_lost_writes_nothing():
    table = FakeTable()
    log = DeferredChangelog(table)
    log.owned = {1}
    log.put("A", 3, {"v": 1})
    log.put("B", 1, {"v": 1})
    written: list[str] = []
    log.flush(lambda owner, _value: written.append(owner))
    assert [k for _, k, _, _ in table.sent] == ["B"] and written == ["B"]


def test_totals_are_sent_per_enterprise_with_every_key_touched_since_the_last_flush():
    pending = PendingTotals()
    pending.mark("A", 0, ["e|kWh|2026-10"])
    pending.mark("A", 0, ["e|kWh|2026-11", "e|kWh|2026-10"])
    pending.mark("B", 2, ["g|m3|2026-10"])
    assert pending.take({0}) == {"A": (0, {"e|kWh|2026-10", "e|kWh|2026-11"})}
    assert pending.take() == {}
    held = [("A", ["e|kWh|2026-09", "e|kWh|2026-10"]), ("D", ["x"])]
    assert pending.reemit_all(held, {"A": 0, "D": None}.get) == 1  # D's partition is not known here
    assert pending.take() == {"A": (0, {"e|kWh|2026-09", "e|kWh|2026-10"})}


def test_the_cadence_flushes_at_most_every_interval():
    now = [0.0]
    flushed: list[float] = []
    cadence = Cadence(lambda: flushed.append(now[0]), 0.5, lambda: now[0])
    now[0] = 0.4
    assert not cadence.due()
    now[0] = 0.5
    assert cadence.due()
    cadence.flush()
    assert not cadence.due() and flushed == [0.5]


def test_pending_sends_are_handed_to_the_producer_before_offsets_are_committed():
    """Faust 0.15.3 commits in Consumer._commit_tps: offsets chosen, then _handle_attached, then
    _commit_offsets (producer.flush(), then the commit). The hook runs inside _handle_attached."""
    from faust.transport.consumer import Consumer

    order: list[str] = []

    class App:
        pass

    app: Any = App()
    commit_order.before_commit(app, lambda: order.append("flush deferred"))

    class FakeConsumer:
        _handle_attached = Consumer._handle_attached

        def __init__(self) -> None:
            self.app = app

    consumer: Any = FakeConsumer()
    app._attachments = type("A", (), {"publish_for_tp_offset": staticmethod(_no_attachments)})()
    app.producer = None
    asyncio.run(consumer._handle_attached({"tp": 1}))
    assert order == ["flush deferred"]
    source = inspect.getsource(Consumer._commit_tps.__wrapped__ if hasattr(Consumer._commit_tps, "__wrapped__")
                               else Consumer._commit_tps)
    # the order this relies on: offsets first, then attachments (our hook), then the flush and commit
    assert source.index("_filter_committable_offsets") < source.index("_handle_attached") < source.index(
        "_commit_offsets")
    flush_then_commit = inspect.getsource(Consumer._commit_offsets)
    assert flush_then_commit.index("producer.flush()") < flush_then_commit.index("self._commit(")


async def _no_attachments(tp: object, offset: int) -> list:
    return []
