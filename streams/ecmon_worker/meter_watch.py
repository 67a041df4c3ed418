"""The worker's side of meter-level detection: which readings the detectors see, and silence.

Detector state (streams/ecmon_worker/meter_anomalies.py) lives in the table ``meter-detectors``, one value
per enterprise holding all its meters, each as a compressed fixed-size record
(streams/ecmon_worker/meter_record.py: about 150 bytes for a new meter, 1 kB after a month, against 4.4 to
10.6 kB as Python objects). The meters of the enterprises most recently observed stay unpacked (``LIVE_METERS``
of them at most) and are packed when their enterprise is checkpointed or leaves that set: unpacking and packing a
state costs about 70 µs (zlib on float64 fields), fourteen readings' worth of detection, so a meter reporting one
reading per batch would otherwise spend most of its detection time there. Writing it to the changelog
with every batch would multiply what each batch costs, so the worker keeps the live states here and checkpoints
an enterprise's value with its first batch ``CHECKPOINT_S`` or more after the last checkpoint. A crash loses what
the batches of the ``CHECKPOINT_S`` after an enterprise's last checkpoint taught its baselines; no total and no
accepted reading depends on it. Anomaly ids are derived from what was found, so findings re-made after a restart
replace, not add to, the earlier ones.

Silence is found without waiting for the silent party's next reading:

- ``silent_meter``: a registered meter whose newest reading lags the enterprise's event-time
  watermark by more than ``silence_intervals`` of its intervals, while the enterprise's other
  meters keep reporting (a dead meter or meter bus). Checked whenever a batch of the enterprise
  moves its event time, so a replay finds the same silences as the live stream did (a silence
  shorter than one batch, ended within it, is not seen: it is a gap inside one message);
- ``silent_enterprise``: no batch of the enterprise for ``silence_intervals`` of its longest
  metering interval in wall-clock time (a dead gateway or network), checked by the worker's timer.
  The EnterpriseSilent alert shows the same to operators; the event puts it in the analysts'
  anomaly table.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import groupby
from types import ModuleType

from ecmon_worker import meter_detector, meter_record
from ecmon_worker.anomaly_events import anomaly_event

CHECKPOINT_S = 10.0
#: meters held unpacked (as the detector's dicts, 4.4 to 10.6 kB each: at most about 100 MiB)
LIVE_METERS = 10_000
SILENCE_DETECTOR = "silence"
SILENCE_VERSION = "1"


@dataclass
class MeterWatch:
    silence_intervals: int = 4
    #: uscc -> {meter_id: packed detector state (meter_record.pack)}; loaded from the table on first use. A meter
    #: in ``live`` has a newer state there: read ``stored(uscc)``, which packs it first.
    states: dict[str, dict[str, bytes]] = field(default_factory=dict)
    #: uscc -> {meter_id: detector state}, the enterprises most recently observed last
    live: OrderedDict[str, dict[str, dict]] = field(default_factory=OrderedDict)
    live_meters: int = LIVE_METERS
    _live_count: int = 0
    checkpointed: dict[str, float] = field(default_factory=dict)
    #: uscc -> (wall-clock ms of its last applied batch, province, industry, longest interval ms)
    last_batch: dict[str, tuple[int, str, str, int]] = field(default_factory=dict)
    #: open silences: "uscc" or "uscc/meter" -> the anomaly id raised for it
    silent: dict[str, str] = field(default_factory=dict)
    #: the compiled meter detector, or its pure-Python reference (``meter_detector.load``)
    detector: ModuleType = field(default_factory=meter_detector.load, repr=False)

    def forget(self) -> None:
        """After a rebalance the table is the truth again (another worker may have moved on)."""
        self.states.clear()
        self.live.clear()
        self._live_count = 0
        self.checkpointed.clear()

    def knows(self, uscc: str) -> bool:
        return uscc in self.states

    def load(self, uscc: str, stored: dict | None) -> None:
        self._drop_live(uscc)
        self.states[uscc] = meter_record.from_stored(stored)
        self.checkpointed.setdefault(uscc, time.monotonic())

    def stored(self, uscc: str) -> dict[str, bytes]:
        """The enterprise's meters as packed records, its live states packed now (what its checkpoint writes)."""
        packed = self.states.get(uscc)
        if packed is None:  # not loaded: nothing to write (creating it here would skip the table's value)
            return {}
        for meter_id, state in self.live.get(uscc, {}).items():
            packed[meter_id] = meter_record.pack(state)
        return packed

    def _drop_live(self, uscc: str) -> None:
        self._live_count -= len(self.live.pop(uscc, ()))

    def _live_states(self, uscc: str) -> dict[str, dict]:
        """The enterprise's live states, now the most recent; enterprises least recently observed are packed
        and leave the live set while it holds more than ``live_meters`` meters."""
        live = self.live.get(uscc)
        if live is None:
            live = self.live[uscc] = {}
        else:
            self.live.move_to_end(uscc)
        while self._live_count > self.live_meters and len(self.live) > 1:
            oldest = next(iter(self.live))
            self.stored(oldest)
            self._drop_live(oldest)
        return live

    def checkpoint_due(self, uscc: str) -> bool:
        now = time.monotonic()
        if now - self.checkpointed.get(uscc, 0.0) >= CHECKPOINT_S:
            self.checkpointed[uscc] = now
            return True
        return False

    def observe(self, uscc: str, record: dict, province: str, readings: list[dict]) -> list[dict]:
        """Feed the batch's counted readings, in time order per meter, to the meters' detectors."""
        meters = self.states.setdefault(uscc, {})
        live = self._live_states(uscc)
        detector = self.detector
        events = []
        longest = max((m["interval_s"] for m in record["meters"]), default=900) * 1000
        self.last_batch[uscc] = (int(time.time() * 1000), province, record["industry_code"], longest)
        self.silent.pop(uscc, None)
        ordered = sorted(readings, key=lambda r: (r["meter_id"], r["interval_end"]))
        for meter_id, of_meter in groupby(ordered, key=lambda r: r["meter_id"]):
            state = live.get(meter_id)
            if state is None:
                packed = meters.get(meter_id)
                state = live[meter_id] = detector.new_state() if packed is None else meter_record.unpack(packed)
                self._live_count += 1
            events += self._observe_meter(state, uscc, record, province, list(of_meter))
        return events

    def _observe_meter(self, state: dict, uscc: str, record: dict, province: str, readings: list[dict]) -> list[dict]:
        observe = self.detector.observe
        events = []
        entity = ""
        for r in readings:
            if r["interval_end"] <= state["t"]:
                continue  # a late reading or a revision: the baseline already moved past it
            verdict = observe(state, r["interval_end"], r["physical_milli"] / 1000, scored=False)
            entity = entity or f"{uscc}/{r['meter_id']}"
            for f in verdict.findings:
                events.append(anomaly_event(
                    kind=f.type, severity=f.severity, level="METER", entity_code=entity, province=province,
                    span_start_ms=f.span_start_ms, span_end_ms=max(f.span_end_ms, f.span_start_ms),
                    observed=f.observed, expected=f.expected, score=f.score, unit=r["unit"],
                    industry_code=record["industry_code"], energy_type=r["energy_type"],
                    detector=self.detector.DETECTOR, detector_version=self.detector.DETECTOR_VERSION,
                    detail=f.detail,
                ))
        if entity:
            self.silent.pop(entity, None)  # it reports again
        return events

    def silent_enterprises(self, now_ms: int | None = None) -> list[dict]:
        """Enterprises without a batch for too long (wall clock), each raised once until it reports again."""
        now_ms = now_ms or int(time.time() * 1000)
        events = []
        for uscc, (seen_ms, province, industry, longest) in list(self.last_batch.items()):
            if now_ms - seen_ms <= self.silence_intervals * longest or uscc in self.silent:
                continue
            event = anomaly_event(
                kind="silent_enterprise", severity="WARNING", level="ENTERPRISE", entity_code=uscc,
                province=province, span_start_ms=seen_ms, span_end_ms=now_ms, observed=0.0,
                expected=float(self.silence_intervals), unit="intervals", industry_code=industry,
                score=(now_ms - seen_ms) / (self.silence_intervals * longest),
                detector=SILENCE_DETECTOR, detector_version=SILENCE_VERSION, identity=(seen_ms,),
                detail=f"no batch for {(now_ms - seen_ms) / 60_000:.0f} min (more than {self.silence_intervals} "
                       f"x its {longest // 60_000}-min metering interval)",
            )
            self.silent[uscc] = event["anomaly_id"]
            events.append(event)
        return events

    def silent_meters(self, uscc: str, record: dict, province: str, watermark: int) -> list[dict]:
        """Registered meters lagging the enterprise's event time (its other meters' readings) by too much."""
        events = []
        states, live = self.states.get(uscc, {}), self.live.get(uscc, {})
        for meter in record["meters"]:
            entity = f"{uscc}/{meter['meter_id']}"
            state, packed = live.get(meter["meter_id"]), states.get(meter["meter_id"])
            last = state["t"] if state is not None else meter_record.last_ts(packed) if packed else 0
            step = meter["interval_s"] * 1000
            if not last or entity in self.silent or watermark - last <= self.silence_intervals * step:
                continue
            event = anomaly_event(
                kind="silent_meter", severity="WARNING", level="METER", entity_code=entity, province=province,
                span_start_ms=last, span_end_ms=watermark, observed=0.0,
                expected=float((watermark - last) // step), unit="intervals", industry_code=record["industry_code"],
                score=(watermark - last) / (self.silence_intervals * step), energy_type=meter["energy_type"],
                detector=SILENCE_DETECTOR, detector_version=SILENCE_VERSION, identity=(last,),
                detail=f"no reading for {(watermark - last) // step} intervals while the enterprise's other "
                       "meters kept reporting",
            )
            self.silent[entity] = event["anomaly_id"]
            events.append(event)
        return events
