"""Pure helpers of the benchmark: percentiles, sizes, load sizing, latency matching. No I/O here."""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q % of values at or below it."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, not {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def deep_sizeof(obj: object) -> int:
    """Bytes a JSON-like value (dict, list, str, int, float, ...) occupies as Python objects, shared objects once."""
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)
    return total


def enterprises_for(readings: int, meters_per_enterprise: Iterable[int], intervals: int) -> int:
    """Fewest enterprises (in fleet order) whose meters give at least ``readings`` readings over ``intervals``."""
    total = 0
    count = 0
    for count, meters in enumerate(meters_per_enterprise, start=1):
        total += meters * intervals
        if total >= readings:
            return count
    raise ValueError(f"{count} enterprises give only {total:,} readings, fewer than {readings:,}")


def status_bytes(proc_status: str, field: str) -> int:
    """A memory field (VmHWM, VmRSS, ...) of the text of /proc/<pid>/status, in bytes (0 when absent)."""
    for line in proc_status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes(proc_status: str) -> int:
    """VmHWM (peak resident set) from the text of /proc/<pid>/status, in bytes (0 when absent)."""
    return status_bytes(proc_status, "VmHWM")


class LatencyMatcher:
    """Matches batches sent to the moment ClickHouse first shows their readings.

    Each enterprise's batches are counted in order (one Kafka partition per enterprise), so the batch
    that brings the enterprise's counted readings to ``cumulative`` is visible once ClickHouse shows at
    least that many readings for it.
    """

    def __init__(self) -> None:
        self._pending: dict[str, deque[tuple[int, float]]] = {}
        self.latencies_s: list[float] = []

    def sent(self, enterprise: str, cumulative: int, sent_at_s: float) -> None:
        self._pending.setdefault(enterprise, deque()).append((cumulative, sent_at_s))

    def seen(self, enterprise: str, visible: int, at_s: float) -> None:
        queue = self._pending.get(enterprise)
        while queue and queue[0][0] <= visible:
            _, sent_at = queue.popleft()
            self.latencies_s.append(at_s - sent_at)

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._pending.values())
