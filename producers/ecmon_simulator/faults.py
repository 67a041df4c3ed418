"""Fault injection for tests and demos: meters and gateways misbehaving on purpose.

A fault plan is a comma-separated list of ``KIND[@METER_GLOB][=RATE]``, for example
``spike=0.002,silence@*-M01=0.001,duplicate=0.02``. RATE is the chance per meter and interval
(reading faults) or per batch (batch faults) that the fault starts; METER_GLOB limits a reading
fault to matching meter ids (fnmatch). Faults are opt-in: an empty plan changes nothing.

Every fault is drawn from the enterprise seed, so a run with faults is as repeatable as one
without. The gateway's ledger counts what it actually sent (a spike is counted as sent; a
silenced reading is not), so reconciliation stays exact under every fault except
``corrupt``-only messages, which carry no countable data by design.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field

from ecmon.metric_defs import GATEWAY_FAULTS_INJECTED

# kind -> (default rate, what it does); the order is the order in docs/gateways.md
READING_FAULTS: dict[str, tuple[float, str]] = {
    "silence": (0.0005, "the meter sends nothing for 1-12 hours (a dead meter bus)"),
    "spike": (0.001, "one reading 5-20 times its normal value"),
    "drop": (0.0005, "readings fall to 0-20 % for 1-6 hours (a tripped feeder)"),
    "stuck": (0.0005, "the same value repeats for 2-12 hours (a frozen meter; a register stops moving)"),
    "level_shift": (0.0002, "consumption jumps by 30-80 % for 1-3 days (a new line, a leak)"),
    "drift": (0.0001, "extra load creeps up to 40-100 % over 3-6 days, then stops "
                      "(a fouling heat exchanger, a leak growing)"),
    "noisy": (0.0003, "a burst of wild readings, each 0.1-4 times its value, for 1-4 hours "
                      "(loose wiring, a failing CT)"),
    "counter_reset": (0.0002, "a cumulative register falls back to zero (interval meters: no effect)"),
    "meter_replacement": (0.0001, "a cumulative meter is replaced: a new meter id, its register from zero"),
    "late": (0.002, "a reading is held back and delivered 1-4 batches later"),
    "out_of_order": (0.05, "a batch's readings are shuffled (per batch, not per reading)"),
}
BATCH_FAULTS: dict[str, tuple[float, str]] = {
    "duplicate": (0.02, "the batch is sent twice, byte for byte (a gateway that did not see the ack)"),
    "corrupt": (0.01, "a corrupted copy of the batch is sent as well (flipped bytes; the platform dead-letters it)"),
}
ALL_FAULTS = {**READING_FAULTS, **BATCH_FAULTS}


class BadFaultSpec(ValueError):
    pass


@dataclass(frozen=True)
class FaultRule:
    kind: str
    rate: float
    meters: str = "*"

    def applies_to(self, meter_id: str) -> bool:
        return fnmatch.fnmatchcase(meter_id, self.meters)


@dataclass(frozen=True)
class FaultPlan:
    rules: tuple[FaultRule, ...] = ()

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        rules = []
        for part in (spec or "").split(","):
            part = part.strip()
            if not part:
                continue
            head, _, rate = part.partition("=")
            kind, _, meters = head.partition("@")
            kind = kind.strip()
            if kind not in ALL_FAULTS:
                raise BadFaultSpec(f"unknown fault {kind!r}; known: {', '.join(ALL_FAULTS)}")
            try:
                value = float(rate) if rate else ALL_FAULTS[kind][0]
            except ValueError:
                raise BadFaultSpec(f"fault {kind}: rate {rate!r} is not a number") from None
            if not 0.0 <= value <= 1.0:
                raise BadFaultSpec(f"fault {kind}: rate {value} is not between 0 and 1")
            rules.append(FaultRule(kind, value, meters.strip() or "*"))
        return cls(tuple(rules))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rate(self, kind: str, meter_id: str = "") -> float:
        return max((r.rate for r in self.rules if r.kind == kind and (not meter_id or r.applies_to(meter_id))),
                   default=0.0)

    def has(self, kind: str) -> bool:
        return any(r.kind == kind for r in self.rules)


@dataclass
class _MeterFaultState:
    kind: str = ""
    until_ms: int = 0
    factor: float = 1.0
    stuck_value: int | None = None
    started_ms: int = 0


@dataclass
class MeterFaults:
    """The running faults of one enterprise's meters; one per planned enterprise."""

    plan: FaultPlan
    seed: int
    rng: random.Random = field(init=False)
    state: dict[str, _MeterFaultState] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)
    _rates: dict[tuple[str, str], float] = field(default_factory=dict)
    # Ground truth for evaluations: (kind, meter id, first ts, last ts it may affect) per reading fault started.
    recorder: list[tuple[str, str, int, int]] | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(f"faults/{self.seed}")

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1
        GATEWAY_FAULTS_INJECTED.labels(kind=kind).inc()

    def _starts(self, kind: str, meter_id: str) -> bool:
        key = (kind, meter_id)
        rate = self._rates.get(key)
        if rate is None:  # fnmatch per reading would cost more than the reading
            rate = self._rates[key] = self.plan.rate(kind, meter_id)
        return rate > 0 and self.rng.random() < rate

    def consumption(self, meter_id: str, ts_ms: int, value_milli: int) -> int | None:
        """The consumption the meter reports for this interval; None when it stays silent."""
        st = self.state.setdefault(meter_id, _MeterFaultState())
        if st.kind and ts_ms > st.until_ms:
            st.kind, st.factor, st.stuck_value = "", 1.0, None
        if not st.kind:
            hour = 3_600_000
            for kind, hours, factor in (("silence", (1, 12), 1.0), ("drop", (1, 6), None),
                                        ("stuck", (2, 12), 1.0), ("level_shift", (24, 72), None),
                                        ("drift", (72, 144), None), ("noisy", (1, 4), 1.0)):
                if self._starts(kind, meter_id):
                    st.kind = kind
                    st.until_ms = ts_ms + self.rng.randint(*hours) * hour
                    st.started_ms = ts_ms
                    st.factor = factor or (self.rng.uniform(0, 0.2) if kind == "drop" else
                                           self.rng.uniform(0.4, 1.0) if kind == "drift" else
                                           self.rng.uniform(1.3, 1.8))
                    self._count(kind)
                    if self.recorder is not None:
                        self.recorder.append((kind, meter_id, ts_ms, st.until_ms))
                    break
        if st.kind == "silence":
            return None
        if st.kind == "stuck":
            if st.stuck_value is None:
                st.stuck_value = value_milli
            value_milli = st.stuck_value
        elif st.kind in ("drop", "level_shift"):
            value_milli = int(value_milli * st.factor)
        elif st.kind == "drift":  # the extra load grows linearly to ``factor`` of the normal at the end
            value_milli = int(value_milli * (1.0 + st.factor * (ts_ms - st.started_ms) / (st.until_ms - st.started_ms)))
        elif st.kind == "noisy":
            value_milli = int(value_milli * self.rng.uniform(0.1, 4.0))
        if self._starts("spike", meter_id):
            self._count("spike")
            if self.recorder is not None:
                self.recorder.append(("spike", meter_id, ts_ms, ts_ms))
            value_milli = int(value_milli * self.rng.uniform(5, 20))
        return value_milli

    def register_stuck(self, meter_id: str) -> bool:
        """A stuck cumulative meter shows the same register: the consumption is not metered."""
        st = self.state.get(meter_id)
        return bool(st and st.kind == "stuck")

    def reset_now(self, meter_id: str) -> bool:
        if self._starts("counter_reset", meter_id):
            self._count("counter_reset")
            return True
        return False

    def replace_now(self, meter_id: str) -> bool:
        if self._starts("meter_replacement", meter_id):
            self._count("meter_replacement")
            return True
        return False

    def hold_back(self) -> int:
        """Batches a reading is held back (0: send now)."""
        if self.plan.has("late") and self.rng.random() < self.plan.rate("late"):
            self._count("late")
            return self.rng.randint(1, 4)
        return 0

    def shuffle(self, readings: list[dict]) -> None:
        if self.plan.has("out_of_order") and self.rng.random() < self.plan.rate("out_of_order"):
            self._count("out_of_order")
            self.rng.shuffle(readings)

    def batch_fault(self, kind: str) -> bool:
        if self.plan.has(kind) and self.rng.random() < self.plan.rate(kind):
            self._count(kind)
            return True
        return False


def corrupt(value: bytes, rng: random.Random) -> bytes:
    """Flip a few bytes past the header: decodes wrongly or not at all, as line noise would."""
    data = bytearray(value)
    for _ in range(3):
        pos = rng.randrange(10, len(data)) if len(data) > 10 else rng.randrange(len(data))
        data[pos] ^= 0xFF
    return bytes(data)
