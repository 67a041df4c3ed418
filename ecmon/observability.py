"""Serving /metrics and announcing it to the local Prometheus (file_sd target files)."""

from __future__ import annotations

import atexit
import json
import os
import socket
from pathlib import Path

from prometheus_client import start_http_server

from ecmon.metric_defs import PROCESS_UP
from ecmon.settings import Settings

ROLE_OFFSETS = {"gateway": 0, "worker": 10, "sink": 20, "demo": 30}


def _free_port(host: str, start: int) -> int:
    for port in range(start, start + 10):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free /metrics port in {start}..{start + 9} on {host}; pass --metrics-port")


def _forget_dead(targets: Path, role: str) -> None:
    """Drop the targets of dead processes of this role: a replacement has started, so the WorkerDown /
    SinkDown alert raised by the dead one's target has done its job and must not fire forever."""
    for path in targets.glob(f"{role}-*.json"):
        pid = path.stem.rpartition("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)


def serve_metrics(settings: Settings, role: str, port: int | None = None) -> int:
    """Start the /metrics endpoint and register it with Prometheus; returns the port."""
    port = port or _free_port(settings.metrics_bind, settings.metrics_port_base + ROLE_OFFSETS.get(role, 40))
    start_http_server(port, addr=settings.metrics_bind)
    PROCESS_UP.labels(role=role).set(1)
    targets = settings.targets_dir
    targets.mkdir(parents=True, exist_ok=True)
    _forget_dead(targets, role)
    target_file = targets / f"{role}-{os.getpid()}.json"
    target_file.write_text(
        json.dumps([{"targets": [f"{settings.host}:{port}"],
                     "labels": {"role": role, "instance_pid": str(os.getpid())}}])
    )
    atexit.register(lambda: target_file.unlink(missing_ok=True))
    return port
