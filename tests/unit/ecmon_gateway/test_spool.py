"""The gateway spool: durable, ordered, sequence never reused, back-pressure instead of drops."""

from ecmon_gateway.delivery import SpooledSender
from ecmon_gateway.spool import SourcePosition, Spool, SpooledBatch


def _batch(seq: int, gw: str = "gw-1", size: int = 10) -> SpooledBatch:
    return SpooledBatch(gw, seq, f"id-{gw}-{seq}", "t", b"k", bytes([seq % 256]) * size)


def test_unacknowledged_batches_survive_a_reopen_in_order_with_the_same_bytes(tmp_path):
    spool = Spool(tmp_path / "s.sqlite")
    spool.put([_batch(1), _batch(2), _batch(3)], {"gw-1": SourcePosition("run-a", 0, 3)})
    spool.ack("gw-1", 2, 10)
    spool.commit_acks()
    spool._db.close()  # no clean close: as after kill -9
    again = Spool(tmp_path / "s.sqlite")
    assert [(b.sequence, b.value) for b in again.unacknowledged()] == [(1, _batch(1).value), (3, _batch(3).value)]
    assert again.depth == 2 and again.size_bytes == 20


def test_the_sequence_counter_continues_for_a_new_source_and_resumes_for_the_same(tmp_path):
    spool = Spool(tmp_path / "s.sqlite")
    spool.put([_batch(1), _batch(2)], {"gw-1": SourcePosition("run-a", 0, 2)})
    assert spool.position("gw-1", "run-a") == SourcePosition("run-a", 0, 2)
    # another run must never reuse sequences 1..2 for different content
    assert spool.position("gw-1", "run-b") == SourcePosition("run-b", 2, 0)
    assert spool.position("gw-new", "run-a") == SourcePosition("run-a", 0, 0)


class _FakeProducer:
    """Holds deliveries until told to acknowledge them, like a Kafka that is down."""

    def __init__(self):
        self.queue = []
        self.broker_up = False

    def send(self, topic, key, value, on_delivered=None, on_failed=None):
        self.queue.append(on_delivered)

    def poll(self, timeout=0.0):
        if self.broker_up:
            while self.queue:
                self.queue.pop(0)()

    def in_flight(self):
        return len(self.queue)


def test_a_full_spool_blocks_with_a_warning_until_kafka_acknowledges(tmp_path, caplog):
    spool = Spool(tmp_path / "s.sqlite", limit_bytes=25)
    producer = _FakeProducer()
    acked = []
    sender = SpooledSender(producer, spool, acked.append, ack_commit_s=0)
    sender.submit([_batch(1)])
    sender.submit([_batch(2)])
    assert spool.depth == 2 and not spool.has_room(10)

    original_poll = producer.poll
    polls = []

    def poll(timeout=0.0):
        polls.append(timeout)
        if len(polls) > 3:  # the broker comes back while the gateway waits
            producer.broker_up = True
        original_poll(timeout)

    producer.poll = poll
    sender.submit([_batch(3)])  # must wait, not drop
    sender.drain(timeout=5)
    assert [b.sequence for b in acked] == [1, 2, 3]
    assert spool.depth == 0
    assert "spool" in caplog.text and "full" in caplog.text


def test_what_records_an_acknowledgement_is_saved_before_the_batch_leaves_the_spool(tmp_path):
    """After a SIGKILL a batch is either still spooled (and resent) or already in the saved ledger."""
    spool = Spool(tmp_path / "s.sqlite")
    producer = _FakeProducer()
    producer.broker_up = True
    saved_with_spooled: list[int] = []

    def save_ledger() -> None:  # at this moment the acknowledged batches must still be in the spool
        saved_with_spooled.append(sum(1 for _ in Spool(tmp_path / "s.sqlite").unacknowledged()))

    sender = SpooledSender(producer, spool, ack_commit_s=0, before_commit=save_ledger)
    sender.submit([_batch(1), _batch(2)])
    sender.drain(timeout=5)
    assert saved_with_spooled and saved_with_spooled[0] == 2
    assert sum(1 for _ in Spool(tmp_path / "s.sqlite").unacknowledged()) == 0
