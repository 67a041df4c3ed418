"""Where a spooled gateway run restarts: the sequences it used are never reused, and a kill leaves no gap
that makes the restarted run number its whole source again (the chaos suite's gateway trial)."""

from ecmon_gateway.delivery import SpooledSender
from ecmon_gateway.sequences import SequenceCounter
from ecmon_gateway.spool import SourcePosition, Spool, SpooledBatch
from ecmon_simulator.runs import count_spooled, resume_positions


def _batch(seq: int, gw: str = "gw-1") -> SpooledBatch:
    return SpooledBatch(gw, seq, f"id-{gw}-{seq}", "t", b"k", b"v")


def test_a_run_killed_after_spooling_and_before_counting_goes_on_from_the_spool(tmp_path):
    spool = Spool(tmp_path / "gateways" / "fleet" / "spool.sqlite")
    counter = SequenceCounter(tmp_path / "gateways" / "sequences.sqlite")
    spool.put([_batch(1), _batch(2)], {"gw-1": SourcePosition("run-a", 0, 2)})  # the kill: counter never advanced
    count_spooled(counter, tmp_path)
    assert resume_positions(spool, counter, ["gw-1"], "run-a") == {"gw-1": SourcePosition("run-a", 0, 2)}
    assert counter.last("gw-1") == 2  # caught up before anything is resent


def test_a_run_killed_before_its_first_group_keeps_the_numbering_it_was_planned_with(tmp_path):
    spool, counter = Spool(tmp_path / "s.sqlite"), SequenceCounter(tmp_path / "seq.sqlite")
    counter.advance({"gw-1": 7})  # an earlier run through another spool
    assert resume_positions(spool, counter, ["gw-1"], "run-b") == {"gw-1": SourcePosition("run-b", 7, 0)}


def test_sequences_used_elsewhere_since_make_the_run_start_over_after_them(tmp_path):
    spool, counter = Spool(tmp_path / "s.sqlite"), SequenceCounter(tmp_path / "seq.sqlite")
    spool.put([_batch(1), _batch(2)], {"gw-1": SourcePosition("run-a", 0, 2)})
    counter.advance({"gw-1": 9})  # the gateway sent directly in between
    assert resume_positions(spool, counter, ["gw-1"], "run-a") == {"gw-1": SourcePosition("run-a", 9, 0)}


class _OrderProducer:
    def __init__(self, events):
        self.events = events

    def send(self, topic, key, value, on_delivered=None, on_failed=None):
        self.events.append("kafka")

    def poll(self, timeout=0.0):
        pass


def test_a_batch_is_spooled_then_counted_then_sent(tmp_path):
    events: list[str] = []
    spool = Spool(tmp_path / "s.sqlite")
    sender = SpooledSender(_OrderProducer(events), spool, ack_commit_s=0)
    sender.submit([_batch(1)], spooled=lambda: events.append(f"counted, spool depth {spool.depth}"))
    assert events == ["counted, spool depth 1", "kafka"]


def test_numbers_left_in_a_killed_spool_are_not_handed_out_by_another_way_of_sending(tmp_path):
    killed = Spool(tmp_path / "gateways" / "fleet" / "spool.sqlite")
    killed.put([_batch(11), _batch(12)], {"gw-1": SourcePosition("run-a", 10, 2)})  # counter still at 10
    counter = SequenceCounter(tmp_path / "gateways" / "sequences.sqlite")
    counter.advance({"gw-1": 10})
    count_spooled(counter, tmp_path)  # what a direct send or another spool does before numbering
    assert counter.last("gw-1") == 12  # its next batch is 13: 11 and 12 stay the killed spool's to resend
    assert killed.depth == 2  # read, not touched
