"""`ecmon chaos`: the fault suite on a stack of its own (three brokers, ClickHouse), a table of trials and a JSON file.

The stack lives in `.ecmon-chaos/` on ports 14xxx unless the caller sets ECMON_* otherwise. It starts empty
on every run, so the final check can demand that ClickHouse holds exactly the plans of every trial and
nothing else.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

from rich.console import Console, JustifyMethod
from rich.table import Table

from ecmon import PROJECT_ROOT
from ecmon.settings import Settings
from ecmon_ops.bench import machine
from ecmon_ops.chaos.trials import Suite, SuiteShape, plan_trials
from ecmon_ops.stack import stack
from ecmon_ops.stack.apps import app_process
from ecmon_reports.report import reconcile
from ecmon_simulator.ledger import Ledger
from ecmon_sink import migrate
from ecmon_sink.clickhouse import connect

DEFAULTS = {"ECMON_STATE_DIR": str(PROJECT_ROOT / ".ecmon-chaos"), "ECMON_KAFKA_PORT": "14092",
            "ECMON_CLICKHOUSE_PORT": "14000", "ECMON_CLICKHOUSE_HTTP_PORT": "14123",
            "ECMON_PROMETHEUS_PORT": "14090", "ECMON_ALERTMANAGER_PORT": "14190", "ECMON_METRICS_PORT_BASE": "14200"}
PROTECTED = (PROJECT_ROOT / ".ecmon", PROJECT_ROOT / ".ecmon-test", PROJECT_ROOT / ".ecmon-bench")
BROKERS = 3  # replication 3, min.insync.replicas 2: one broker may be away without stopping writes

FULL = {"gateway": 10, "worker": 10, "sink": 10, "broker": 3, "clickhouse": 2}
SHORT = {kind: 1 for kind in FULL}


class ChaosError(RuntimeError):
    pass


@dataclass(frozen=True)
class ChaosConfig:
    seed: int = 1
    counts: dict[str, int] = field(default_factory=lambda: dict(FULL))
    shape: SuiteShape = field(default_factory=SuiteShape)
    keep_stack: bool = False  # leave the stack running afterwards, to look around
    out_dir: Path | None = PROJECT_ROOT / "chaos-results"


def own_stack_overrides() -> dict[str, str]:
    """The suite's own state dir and ports, as settings, for every ECMON_* variable the caller did not set."""
    return {key.removeprefix("ECMON_").lower(): value for key, value in DEFAULTS.items() if key not in os.environ}



def _fresh_state(settings: Settings) -> None:
    state = settings.state_dir.resolve()
    if state in PROTECTED or state == PROJECT_ROOT.resolve() or len(state.parts) < 3:
        raise ChaosError(f"the fault suite wipes its state directory; {state} belongs to another stack. "
                         "Use a directory of its own (default .ecmon-chaos, `make chaos`).")
    stack.down(settings)  # leftovers of an interrupted run in its own directory
    shutil.rmtree(state, ignore_errors=True)


def run_suite(settings: Settings, cfg: ChaosConfig, console: Console) -> dict:
    settings = settings.model_copy(update={"brokers": BROKERS})
    _fresh_state(settings)
    only = [f"kafka-{i + 1}" for i in range(BROKERS)] + ["clickhouse"]
    specs = plan_trials(cfg.seed, cfg.counts, cfg.shape)
    result: dict = {"started": datetime.now().isoformat(timespec="seconds"), "machine": machine.describe(),
                    "seed": cfg.seed, "counts": cfg.counts, "shape": cfg.shape.__dict__, "trials": []}
    suite = Suite(settings, cfg.shape, Ledger(settings.electricity_method),
                  say=lambda m: console.print(f"  {m}"))
    started = time.monotonic()
    try:
        console.print(f"starting {', '.join(only)} in {settings.state_dir} (replication 3, min in-sync replicas 2)")
        stack.up(settings, only=only, on_progress=lambda m: console.print(f"  {m}"))
        migrate.migrate(settings)
        for role in ("worker", "sink"):
            app_process(settings, role).start()
        for spec in specs:
            console.print(f"trial {spec.index}/{len(specs)}: {spec.kind}, {spec.province} {spec.month}, "
                          f"fault at {spec.fault_at_s:.1f}s")
            trial = suite.run(spec)
            result["trials"].append(trial.as_dict())
            style = "green" if trial.exact else "bold red"
            console.print(f"  {trial.outcome} in {trial.seconds:.0f}s: {trial.fault}"
                          + (f" ({trial.detail})" if trial.detail else ""), style=style)
        final = reconcile(connect(settings), settings.clickhouse_database, suite.everything.by_province_month())
        result["final"] = {"exact": final.exact, "line": final.line()}
    finally:
        result["seconds"] = round(time.monotonic() - started, 1)
        if not cfg.keep_stack:
            stack.down(settings)
    return result


def all_exact(result: dict) -> bool:
    final = result.get("final", {}).get("exact", False)
    return bool(result["trials"]) and all(t["exact"] for t in result["trials"]) and final


def results_table(result: dict) -> Table:
    table = Table(title=f"ecmon chaos: seed {result['seed']}, {len(result['trials'])} trials, "
                        f"{result['seconds'] / 60:.1f} min, {result['machine']['nproc']} cores")
    for col, justify in (("#", "right"), ("fault", "left"), ("province month", "left"), ("readings", "right"),
                         ("at", "right"), ("what happened", "left"), ("gateway ledger.json", "left"),
                         ("outcome", "left"), ("catch-up", "right"), ("trial", "right")):
        table.add_column(col, justify=cast(JustifyMethod, justify), overflow="fold")
    for t in result["trials"]:
        spec = t["spec"]
        outcome = "[green]exact[/]" if t["exact"] else f"[bold red]{t['outcome']}[/]"
        catch_up = f"{t['catch_up_s']:.1f}s" if t["catch_up_s"] is not None else "-"
        table.add_row(str(spec["index"]), spec["kind"], f"{spec['province']} {spec['month']}", f"{t['readings']:,}",
                      f"{spec['fault_at_s']:.1f}s", t["fault"] + (f"; {t['detail']}" if t["detail"] else ""),
                      t["ledger_note"].removeprefix("ledger.json "), outcome, catch_up, f"{t['seconds']:.0f}s")
    by_kind: dict[str, list[int]] = {}
    for t in result["trials"]:
        cell = by_kind.setdefault(t["spec"]["kind"], [0, 0])
        cell[0] += t["exact"]
        cell[1] += 1
    table.caption = ("exact per fault: " + ", ".join(f"{k} {ok}/{n}" for k, (ok, n) in by_kind.items())
                     + f"; whole run: {result.get('final', {}).get('line', 'not reached')}")
    return table
