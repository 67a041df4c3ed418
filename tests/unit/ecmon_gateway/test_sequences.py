"""The gateway's sequence counter: shared by every sending mode, never moves back, survives a reopen."""

from ecmon_gateway.sequences import SequenceCounter, sequences_path


def test_the_counter_only_moves_forward_and_survives_a_reopen(tmp_path):
    counter = SequenceCounter(sequences_path(tmp_path))
    assert counter.last("gw-1") == 0
    counter.advance({"gw-1": 5, "gw-2": 3})
    counter.advance({"gw-1": 2})  # a late, lower number never moves the counter back
    counter._db.close()  # no clean close: as after kill -9
    again = SequenceCounter(sequences_path(tmp_path))
    assert (again.last("gw-1"), again.last("gw-2"), again.last("gw-3")) == (5, 3, 0)
