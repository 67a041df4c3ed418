"""The state phase: load many meters into the running worker(s) and measure the memory they take.

A fleet of ``enterprises x meters_per_enterprise`` meters, each sending a few readings (one batch per
enterprise), goes to the readings topic while the worker runs. The phase watches the workers' resident
memory (VmRSS, /proc) every quarter second and the group's committed offsets; it ends when the worker has
committed every batch (complete), or, so that it can never take the machine down, when the workers' RSS
passes ``rss_limit_bytes`` (the workers are killed at once) or the time is up. Then it reports how many
meters were reached, the memory per meter, and, only when the load did not complete, the extrapolation to
the full load, marked as such.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ecmon import topics
from ecmon.settings import Settings
from ecmon_ops.bench.kafka_probe import OffsetProbe, topic_disk_bytes
from ecmon_ops.bench.machine import rss_bytes
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, fleet_source, send_batches

STATE_SEED = 205


@dataclass(frozen=True)
class StateRun(FleetRun):
    """A fleet run of ``readings`` 15-minute intervals from the start of the month: one batch per enterprise."""

    readings: int = 4

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.readings * self.interval_s * 1000


@dataclass(frozen=True)
class StateLoad:
    enterprises: int = 20_000
    meters_per_enterprise: int = 50
    readings: int = 4
    rss_limit_bytes: int = 4 * 2**30
    timeout_s: float = 900.0

    @property
    def meters(self) -> int:
        return self.enterprises * self.meters_per_enterprise

    def run(self) -> StateRun:
        return StateRun(enterprises=self.enterprises, seed=STATE_SEED, meters_per_enterprise=self.meters_per_enterprise,
                        readings=self.readings, production=False)


def changelog_disk_bytes(settings: Settings) -> int:
    """Bytes of all the worker's table changelogs on the brokers' disks (every version, before compaction)."""
    changelogs = [t.name for t in topics.faust_internal_topics(settings.worker_app_id) if t.compacted]
    return sum(topic_disk_bytes(settings.state_dir, name) for name in changelogs)


def _sum_committed(probe: OffsetProbe) -> int:
    return sum(probe.committed(topics.READINGS.name).values())


def measure_state(settings: Settings, load: StateLoad, worker_pids: list[int], probe: OffsetProbe,
                  say: Callable[[str], None], poll_s: float = 0.25) -> dict:
    """Load the fleet into the running workers (``worker_pids``) and report their memory per meter."""
    rss_before = sum(rss_bytes(p)["vm_rss"] for p in worker_pids)
    disk_before = changelog_disk_bytes(settings)
    committed_before = _sum_committed(probe)
    run = load.run()
    fleet = run.fleet()
    sending_error: list[BaseException] = []

    def send() -> None:
        try:
            send_batches(settings, fleet_source(run, fleet), Ledger(settings.electricity_method), show_progress=False)
        except BaseException as exc:  # reported below: the phase must still stop the workers it watches
            sending_error.append(exc)

    sender = threading.Thread(target=send, name="state-phase-gateway", daemon=True)
    started = time.monotonic()
    sender.start()
    peak_rss, outcome = rss_before, "complete"
    batches_total = len(fleet)  # one batch per enterprise: StateRun.readings stays within one batch
    while True:
        rss = sum(rss_bytes(p)["vm_rss"] for p in worker_pids)
        peak_rss = max(peak_rss, rss)
        done = _sum_committed(probe) - committed_before
        if rss > load.rss_limit_bytes:
            outcome = "stopped at the RSS limit"
            for pid in worker_pids:  # at once: a SIGTERM'd worker could go on growing while it shuts down
                _kill(pid)
            break
        if done >= batches_total:
            break
        if time.monotonic() - started > load.timeout_s:
            outcome = "stopped at the time limit"
            break
        if not any(Path(f"/proc/{p}").exists() for p in worker_pids):
            outcome = "the worker died"
            break
        time.sleep(poll_s)
    seconds = time.monotonic() - started
    rss_end = sum(rss_bytes(p)["vm_rss"] for p in worker_pids) if outcome != "stopped at the RSS limit" else peak_rss
    hwm = [rss_bytes(p)["vm_hwm"] for p in worker_pids]
    sender.join(timeout=600)
    enterprises_reached = min(batches_total, max(0, done))
    meters_reached = enterprises_reached * load.meters_per_enterprise
    per_meter = (max(rss_end, peak_rss) - rss_before) / meters_reached if meters_reached else 0.0
    disk_per_meter = (changelog_disk_bytes(settings) - disk_before) / meters_reached if meters_reached else 0.0
    result = {
        "target_meters": load.meters, "enterprises": load.enterprises,
        "meters_per_enterprise": load.meters_per_enterprise, "readings_per_meter": load.readings,
        "outcome": outcome, "complete": outcome == "complete", "seconds": seconds,
        "meters_reached": meters_reached, "rss_limit_bytes": load.rss_limit_bytes,
        "worker_vm_rss_before_bytes": rss_before, "worker_vm_rss_bytes": rss_end, "worker_vm_hwm_bytes": hwm,
        "rss_bytes_per_meter": per_meter, "changelog_disk_bytes_per_meter": disk_per_meter,
        # Only a load that did not complete is extrapolated, and says so.
        "rss_at_target_bytes": max(rss_end, peak_rss) if outcome == "complete"
        else rss_before + per_meter * load.meters,
        "rss_at_target_extrapolated": outcome != "complete",
        "gateway_error": repr(sending_error[0]) if sending_error else None,
    }
    say(f"  {outcome}: {meters_reached:,} of {load.meters:,} meters in {seconds:.0f} s; worker RSS "
        f"{rss_before / 2**20:,.0f} -> {max(rss_end, peak_rss) / 2**20:,.0f} MiB = {per_meter:,.0f} B per meter; "
        f"changelog {disk_per_meter:,.0f} B per meter")
    return result


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
