"""How the work spread over the workers: each worker's own count of readings, from its /metrics.

Each ecmon process announces its /metrics address in ``<state>/prometheus/targets/<role>-<pid>.json``
(ecmon.observability.serve_metrics); the benchmark reads the workers' counters there, so ``--workers N``
shows each worker's share of the readings and batches (partitions, not the machine, decide who gets what).
"""

from __future__ import annotations

import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from ecmon.metric_defs import WORKER_BATCHES, WORKER_READINGS
from ecmon.settings import Settings


def counter_totals(metrics_text: str, names: tuple[str, ...]) -> dict[str, float]:
    """The sum over all labels of each named counter in a /metrics page."""
    totals = dict.fromkeys(names, 0.0)
    for family in text_string_to_metric_families(metrics_text):
        if family.name in totals:
            totals[family.name] += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return totals


def worker_shares(settings: Settings, pids: list[int]) -> list[dict]:
    """Per worker pid: the readings accepted and batches processed so far (None when its page is unreadable)."""
    names = (WORKER_READINGS._name, WORKER_BATCHES._name)
    shares = []
    for pid in pids:
        share: dict = {"pid": pid, "readings": None, "batches": None}
        try:
            (target,) = json.loads((settings.targets_dir / f"worker-{pid}.json").read_text())
            with urllib.request.urlopen(f"http://{target['targets'][0]}/metrics", timeout=5) as page:
                totals = counter_totals(page.read().decode(), names)
            share.update(readings=totals[names[0]], batches=totals[names[1]])
        except (OSError, ValueError, KeyError):
            pass
        shares.append(share)
    return shares
