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
         "--latency-seconds", "3", "--state-meters", "2000", "--state-meters-per-enterprise", "10",
         # Each stage takes seconds here: one that hangs fails the test with what it waited for, in time.
         "--stage-timeout", "150", "--state-timeout", "150", "--out", str(out)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=580,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (result_file,) = out.glob("*.json")
    result = json.loads(result_file.read_text())
    for stage in ("baseline", "gateway", "worker", "bare_faust", "sink", "drain", "e2e", "latency", "memory", "state",
                  "state_phase", "targets"):
        assert stage in result, f"{stage} missing from {result_file}"
    assert result["e2e"]["exact"] and result["drain"]["exact"]  # both fleets reconciled exactly in ClickHouse
    # The state per meter is read from the worker's per-enterprise tables, whatever their encoding.
    assert result["state"]["tables"] and result["state"]["value_bytes_per_meter"] > 0
    assert result["latency"]["visible"] == result["latency"]["batches"] > 0
    assert all(rate > 0 for rate in (result["baseline"]["readings_per_s"], result["worker"]["readings_per_s"],
                                     result["bare_faust"]["steady_readings_per_s"], result["sink"]["rows_per_s"],
                                     result["drain"]["steady_readings_per_s"], result["e2e"]["readings_per_s"]))
    # The state phase loaded all its meters (far below its memory limit) and measured, not extrapolated.
    state = result["state_phase"]
    assert state["complete"] and state["meters_reached"] == 2000 and not state["rss_at_target_extrapolated"]
    assert state["worker_vm_rss_bytes"] > 0 and state["changelog_disk_bytes_per_meter"] > 0
    # Every figure of the table is reported, with its target.
    figures = " ".join(t["figure"] for t in result["targets"])
    for name in ("worker steady", "sink", "drain", "end to end", "p99", "worker RSS", "bare-job Faust"):
        assert name in figures
    assert "issue 19 targets" in done.stdout
