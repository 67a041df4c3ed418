"""A tiny run of `ecmon bench` (docs/performance.md), so the benchmark cannot rot unnoticed.

Not a timing test: it checks that every stage ran and reported, never how fast. Own stack, ports 12xxx.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ecmon import PROJECT_ROOT

pytestmark = pytest.mark.integration

PORTS = {"ECMON_KAFKA_PORT": "12092", "ECMON_CLICKHOUSE_PORT": "12000", "ECMON_CLICKHOUSE_HTTP_PORT": "12123",
         "ECMON_PROMETHEUS_PORT": "12090", "ECMON_ALERTMANAGER_PORT": "12190", "ECMON_METRICS_PORT_BASE": "12200"}


@pytest.mark.timeout(600)
def test_a_tiny_benchmark_runs_every_stage_and_writes_its_figures(tmp_path):
    env = {**os.environ, **PORTS, "ECMON_STATE_DIR": str(tmp_path / "bench")}
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "ecmon_cli.main", "bench", "--readings", "20000", "--latency-rate", "2000",
         "--latency-seconds", "3", "--out", str(out)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=580,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (result_file,) = out.glob("*.json")
    result = json.loads(result_file.read_text())
    for stage in ("baseline", "gateway", "worker", "sink", "e2e", "latency", "memory", "state", "targets"):
        assert stage in result, f"{stage} missing from {result_file}"
    assert result["e2e"]["exact"]  # the second fleet reconciled exactly in ClickHouse
    # The memory estimate counts both per-enterprise tables the worker holds (the detectors' may still be
    # empty in a run this short: they are checkpointed at most every 10 s).
    tables = result["state"]["tables"]
    assert tables["enterprise-state"]["json_bytes"] > 0 and "meter-detectors" in tables
    assert result["latency"]["visible"] == result["latency"]["batches"] > 0
    assert all(rate > 0 for rate in (result["baseline"]["readings_per_s"], result["worker"]["readings_per_s"],
                                     result["sink"]["rows_per_s"], result["e2e"]["readings_per_s"]))
