"""A reading batch, after admission: counted into its enterprise's state, normalised, watched by the detectors.

Table ``enterprise-state`` (streams/ecmon_worker/enterprise_rollup.py, with the reading identities of
streams/ecmon_worker/reading_identity.py under ``"<uscc>|..."``) and ``meter-detectors``
(streams/ecmon_worker/meter_watch.py) are owned here. Both are written in memory and reach their changelog on
the cadence (streams/ecmon_worker/emission.py), as do the enterprises' totals: ``take`` marks what changed,
``pending_totals`` and ``flush_changelogs`` hand it over when the agents flush.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from typing import Any

from ecmon import codec
from ecmon.dead_letter_reasons import Reason
from ecmon.emission_factors import scope as co2_scope
from ecmon.metric_defs import ENTERPRISE_LAST_READING, WORKER_AGGREGATES_EMITTED, WORKER_BATCHES, WORKER_READINGS
from ecmon.months import CST_OFFSET_MS, DAY_MS
from ecmon.regions import province_of
from ecmon.rejection import Rejection
from ecmon_worker import anomaly_events, emission, enterprise_rollup, normalised_encoding
from ecmon_worker.admission import Admitted
from ecmon_worker.enterprise_state import new_state
from ecmon_worker.meter_watch import MeterWatch
from ecmon_worker.outputs import Outputs
from ecmon_worker.production_steps import ProductionSteps
from ecmon_worker.rollup_steps import aggregate_batch


class TableSlice(MutableMapping[str, Any]):
    """The keys ``"<owner>|..."`` of a table, seen without their prefix: one enterprise's reading identities
    inside the enterprise-state table. They share its changelog partition with the enterprise's state and are
    written before it (streams/ecmon_worker/emission.py), so a crash never keeps a state whose identities were
    lost. Values stay decoded in memory (``DayIdentities``) while batches change them, are encoded when the
    changelog is written and then held compressed (``reading_identity.held``)."""

    keeps_decoded = True

    def __init__(self, table: emission.DeferredChangelog, owner: str, partition: int) -> None:
        self.table, self.owner, self.partition, self.prefix = table, owner, partition, owner + "|"

    def __getitem__(self, key: str) -> Any:
        value = self.table.get(self.prefix + key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.table.put_part(self.owner, self.partition, self.prefix + key, value)

    def __delitem__(self, key: str) -> None:
        self.table.delete_part(self.owner, self.partition, self.prefix + key)  # a tombstone in the changelog

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.prefix + key in self.table.data

    def __iter__(self) -> Iterator[str]:  # not on the hot path: scans the whole table
        return (k[len(self.prefix):] for k in list(self.table.data) if isinstance(k, str) and k.startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class ReadingBatches:
    """The readings agent's step, with the state it owns. ``registry`` is the worker's RegistryFollower (or
    anything with its ``enterprises``, ``meters`` and ``reported``)."""

    def __init__(self, registry: Any, enterprises: emission.DeferredChangelog,
                 detectors: emission.DeferredChangelog, production: ProductionSteps, watch: MeterWatch, *,
                 limits: enterprise_rollup.Limits, electricity_method: str) -> None:
        self.registry, self.enterprises, self.detectors, self.production = registry, enterprises, detectors, production
        self.watch, self.limits = watch, limits
        self.electricity_method = electricity_method.upper()
        self.factors = enterprise_rollup.factors_for(electricity_method)
        self.totals = emission.PendingTotals()
        #: (version, watermark) of each enterprise's state as the changelog holds it
        self.saved: dict[str, emission.Saved] = {}

    def take(self, admitted: Admitted, key: bytes, partition: int, record_ms: int | None) -> Outputs:
        """One admitted batch from ``partition`` with Kafka record time ``record_ms`` (the same on every
        replay). Changes the tables in memory; returns what to send."""
        out = Outputs()
        batch, record, uscc = admitted.message, admitted.enterprise, admitted.uscc
        state = self.enterprises.get(uscc)
        if state is None:
            state = new_state()
            self.saved.setdefault(uscc, emission.Saved(0, 0))
        elif uscc not in self.saved:  # as recovered from the changelog
            self.note_saved(uscc, state)
        watermark_before = state.get("wm", 0)
        written = self.saved[uscc]
        steps = {m["meter_id"]: m["interval_s"] * 1000 for m in record["meters"]}
        outcome = enterprise_rollup.apply_batch(state, batch, self.registry.meters[uscc], self.factors,
                                                limits=self.limits, received_ms=record_ms, intervals=steps,
                                                identities=TableSlice(self.enterprises, uscc, partition),
                                                saved=(written.version, written.watermark))
        if outcome.applied:
            self.enterprises.put(uscc, partition, state)  # written after the meter-days apply_batch changed
            if (state["wm"] + CST_OFFSET_MS) // DAY_MS > (watermark_before + CST_OFFSET_MS) // DAY_MS:
                out.extend(self.production.after_readings(uscc, record, watermark_before, partition))
        # One dead letter per reason, not per reading: each carries the whole batch, and a batch of
        # 10,000 bad readings must not become 10,000 copies of itself.
        by_reason: dict[Reason, list[str]] = {}
        for rejection in outcome.rejections + outcome.notices:
            by_reason.setdefault(rejection.reason, []).append(rejection.detail)
        for reason, details in by_reason.items():
            detail = details[0] if len(details) == 1 else (
                f"{len(details)} readings: " + "; ".join(details[:20]) + ("; ..." if len(details) > 20 else ""))
            out.reject(Rejection(reason, detail, uscc), count=len(details))
        if outcome.rejected:  # refused whole (gateway or batch id, sequence window): nothing counted
            out.count(WORKER_BATCHES, outcome="rejected")
            return out
        province = province_of(record["region_code"])
        if outcome.normalised:
            out.send("normalised", key, self._normalised_batch(batch, record, province, steps, outcome.normalised))
            self._watch(out, uscc, record, province, state["wm"], outcome.normalised, key, partition)
        if outcome.applied:
            self.registry.reported.add(uscc)
            out.gauge(ENTERPRISE_LAST_READING, time.time(), province=province, uscc=uscc)
        if outcome.touched:  # a duplicate's too: its first emission may have been lost in a crash
            self.totals.mark(uscc, partition, outcome.touched)
        if outcome.duplicate:
            out.reject(Rejection(Reason.DUPLICATE_BATCH, f"batch {batch['batch_id']} (gateway {batch['gateway_id']} "
                                 f"sequence {batch['sequence']}) was already counted", uscc))
            out.count(WORKER_BATCHES, outcome="duplicate")
            return out
        out.count(WORKER_READINGS, outcome.readings_accepted, province=province)
        out.count(WORKER_BATCHES, outcome="applied")
        return out

    def _watch(self, out: Outputs, uscc: str, record: dict[str, Any], province: str, watermark: int,
               normalised: list[dict[str, Any]], key: bytes, partition: int) -> None:
        watch = self.watch
        if not watch.knows(uscc):
            watch.load(uscc, self.detectors.get(uscc))
        findings = watch.observe(uscc, record, province, normalised)
        for finding in findings + watch.silent_meters(uscc, record, province, watermark):
            out.send("anomalies", key, anomaly_events.encode(finding))
        if watch.checkpoint_due(uscc):
            self.detectors.put(uscc, partition, watch.stored(uscc))

    def _normalised_batch(self, batch: dict[str, Any], record: dict[str, Any], province: str, steps: dict[str, int],
                          readings: list[dict[str, Any]]) -> bytes:
        for r in readings:
            if r["interval_start"] is None:
                r["interval_start"] = r["interval_end"] - steps.get(r["meter_id"], 0)
        return normalised_encoding.encode({
            "uscc": batch["uscc"], "batch_id": batch["batch_id"], "gateway_id": batch["gateway_id"],
            "sequence": batch["sequence"], "province": province, "region_code": record["region_code"],
            "industry_code": record["industry_code"], "electricity_method": self.electricity_method,
            "normalised_at": int(time.time() * 1000), "readings": readings,
        })

    # -- on the cadence ------------------------------------------------------------------------------

    def pending_totals(self) -> Outputs:
        """The current totals of every enterprise marked since the last call (only of partitions owned)."""
        out = Outputs()
        for uscc, (_, keys) in self.totals.take(self.enterprises.owned).items():
            self._totals(out, uscc, sorted(keys))
        return out

    def _totals(self, out: Outputs, uscc: str, keys: list[str]) -> None:
        state, record = self.enterprises.get(uscc), self.registry.enterprises.get(uscc)
        if not state or record is None:  # nothing counted, or no longer registered: nothing to send
            return
        province = province_of(record["region_code"])
        totals = enterprise_rollup.month_totals(state, keys)
        if not totals:
            return
        rows = [{"level": "ENTERPRISE", "entity": uscc, "province": province, "industry_code": record["industry_code"],
                 "co2_scope": co2_scope(t["energy_type"]), **t} for t in totals]
        out.count(WORKER_AGGREGATES_EMITTED, len(rows), level="ENTERPRISE")
        out.send("aggregates", uscc.encode(), aggregate_batch(rows))
        out.send("enterprise_totals", province.encode(), codec.encode(
            "enterprise_totals", {"uscc": uscc, "region_code": record["region_code"],
                                  "industry_code": record["industry_code"], "totals": totals,
                                  "watermark": state["wm"]}))

    def flush_changelogs(self) -> None:
        """Hand the changed table values to their changelogs (no await: nothing runs in between); owners'
        values last, after the totals they moved were handed to the producer."""
        self.enterprises.flush(self.note_saved)
        self.detectors.flush()
        self.production.production.flush()

    def note_saved(self, uscc: str, state: Any) -> None:
        if isinstance(state, dict):
            self.saved[uscc] = emission.Saved(state["v"], state.get("wm", 0))

    # -- around a rebalance ----------------------------------------------------------------------------

    def owned(self, partitions: set[int]) -> None:
        for table in (self.enterprises, self.detectors, self.production.production):
            table.owned = partitions

    def forget(self) -> None:
        """Partitions revoked: nothing more is written for them, and what is held is re-read from the tables."""
        self.owned(set())
        self.saved.clear()
        self.watch.forget()

    def reemit_all(self) -> int:
        """Recovered: mark the totals of every enterprise held (a worker that crashed may not have sent them)."""
        partitions = getattr(self.enterprises.data, "_key_partition", {})
        held = [(key, list(state["m"])) for key, state in self.enterprises.data.items()
                if isinstance(key, str) and "|" not in key and isinstance(state, dict) and state.get("m")]
        return self.totals.reemit_all(held, partitions.get)
