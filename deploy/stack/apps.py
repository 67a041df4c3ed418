"""The ecmon processes the demo starts beside the servers: a stream worker and a sink."""

from __future__ import annotations

import sys

from deploy.stack.process import ManagedProcess
from ecmon.settings import Settings


def app_process(settings: Settings, role: str, index: int = 1) -> ManagedProcess:
    name = f"{role}-{index}"
    return ManagedProcess(
        name=name,
        command=[sys.executable, "-m", "ecmon.cli", "--state-dir", str(settings.state_dir), role],
        run_dir=settings.run_dir,
        log_path=settings.log_dir / f"{name}.log",
        marker=str(settings.state_dir),
    )


def running_apps(settings: Settings) -> list[ManagedProcess]:
    found = []
    for pid_file in sorted(settings.run_dir.glob("*.pid")):
        role, _, index = pid_file.stem.rpartition("-")
        if role in ("worker", "sink") and index.isdigit():
            proc = app_process(settings, role, int(index))
            if proc.pid() is not None:
                found.append(proc)
    return found


def ensure_running(settings: Settings, role: str, index: int = 1) -> ManagedProcess:
    proc = app_process(settings, role, index)
    if proc.pid() is None:
        proc.start()
    return proc
