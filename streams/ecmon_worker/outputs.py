"""What a step makes of its input: messages to send, dead letters, changes to metrics.

Steps (streams/ecmon_worker/reading_batches.py, production_steps.py, rollup_steps.py) return an ``Outputs``
and never touch Kafka; the agents (streams/ecmon_worker/agents.py) send it. So a step is tested by what it
returns, and the order of sends (messages before table values) is the agents' alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ecmon.rejection import Rejection

#: Where a message goes: one topic each (streams/ecmon_worker/topology.py names them).
Channel = Literal["normalised", "aggregates", "enterprise_totals", "province_totals", "monthly_reports", "anomalies",
                  "feedback", "production_accepted"]


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter for the message being processed: ``count`` readings (or messages) refused for it."""

    rejection: Rejection
    count: int = 1


@dataclass(frozen=True)
class MetricChange:
    """An increase of a counter, or the new value of a gauge, of one labelled series."""

    metric: Any  # a prometheus_client Counter or Gauge of ecmon.metric_defs
    labels: tuple[tuple[str, str], ...]
    value: float
    is_gauge: bool = False

    def apply(self) -> None:
        series = self.metric.labels(**dict(self.labels))
        if self.is_gauge:
            series.set(self.value)
        else:
            series.inc(self.value)


@dataclass
class Outputs:
    #: (channel, key, value): encoded messages, sent in this order
    out: list[tuple[Channel, bytes, bytes]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    metrics: list[MetricChange] = field(default_factory=list)

    @classmethod
    def refusing(cls, rejection: Rejection) -> Outputs:
        """The outputs of a message refused whole: its dead letter."""
        return cls(dead_letters=[DeadLetter(rejection)])

    def send(self, channel: Channel, key: bytes, value: bytes) -> None:
        self.out.append((channel, key, value))

    def reject(self, rejection: Rejection, count: int = 1) -> None:
        self.dead_letters.append(DeadLetter(rejection, count))

    def count(self, metric: Any, n: float = 1, **labels: str) -> None:
        self.metrics.append(MetricChange(metric, tuple(labels.items()), n))

    def gauge(self, metric: Any, value: float, **labels: str) -> None:
        self.metrics.append(MetricChange(metric, tuple(labels.items()), value, is_gauge=True))

    def extend(self, other: Outputs) -> None:
        self.out += other.out
        self.dead_letters += other.dead_letters
        self.metrics += other.metrics

    def gauges(self, metric: Any) -> list[tuple[dict[str, str], float]]:
        """The values this step sets on ``metric``, with their labels (for tests and logs)."""
        return [(dict(m.labels), m.value) for m in self.metrics if m.metric is metric and m.is_gauge]
