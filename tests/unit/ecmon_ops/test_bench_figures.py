import pytest

from ecmon_ops.bench.figures import LatencyMatcher, deep_sizeof, enterprises_for, peak_rss_bytes, percentile


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([5.0], 99) == 5.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_enterprises_for_counts_meters_in_fleet_order():
    assert enterprises_for(10, [2, 3, 1], intervals=2) == 2  # 4, then 10
    assert enterprises_for(11, [2, 3, 1], intervals=2) == 3
    with pytest.raises(ValueError):
        enterprises_for(100, [2, 3], intervals=2)


def test_peak_rss_and_deep_size():
    assert peak_rss_bytes("Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n") == 2 * 1024 * 1024
    assert peak_rss_bytes("Name:\tpython\n") == 0
    shared = "x" * 100
    assert deep_sizeof({"a": [shared, shared]}) < deep_sizeof({"a": [shared, "y" * 100]})


def test_latency_matcher_pairs_batches_with_first_visibility():
    m = LatencyMatcher()
    m.sent("E1", 72, 10.0)
    m.sent("E1", 144, 11.0)
    m.sent("E2", 48, 10.5)
    m.seen("E1", 72, 10.4)  # first batch visible, second not yet
    assert m.latencies_s == [pytest.approx(0.4)] and m.waiting == 2
    m.seen("E1", 144, 12.0)
    m.seen("E2", 0, 12.0)
    assert m.latencies_s == [pytest.approx(0.4), pytest.approx(1.0)] and m.waiting == 1
