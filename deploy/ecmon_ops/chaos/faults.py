"""The faults a trial injects: kill -9 of a gateway, a worker or the sink; a broker stopped and brought back;
ClickHouse stopped for a minute. Each returns a line saying exactly what it did, for the results table."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ecmon.settings import Settings
from ecmon_ops.stack.apps import app_process
from ecmon_ops.stack.process import ServiceError, wait_until
from ecmon_ops.stack.services import ClickHouseServer, KafkaBroker, Service, stack_services
from ecmon_simulator.runs import FleetRun

KINDS = ("gateway", "worker", "sink", "broker", "clickhouse")


def _reap(pid: int) -> None:
    """The worker and sink are our children (ManagedProcess.start): collect them, or they stay zombies."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def kill_app(settings: Settings, role: str) -> str:
    """SIGKILL the running worker-1 or sink-1 and start a new one in its place, as a supervisor would."""
    proc = app_process(settings, role)
    pid = proc.pid()
    if pid is None:
        raise ServiceError(f"{proc.name} was not running when the trial meant to kill it; log {proc.log_path}")
    os.kill(pid, signal.SIGKILL)
    _reap(pid)
    wait_until(lambda: proc.pid() is None, timeout=10, interval=0.05)
    new_pid = proc.start()
    return f"kill -9 {proc.name} (pid {pid} -> {new_pid})"


def _service(settings: Settings, name: str) -> Service:
    return next(s for s in stack_services(settings) if s.name == name)


def _restart(service: Service) -> None:
    service.prepare()
    service.process.start()
    if not wait_until(service.healthy, timeout=service.start_timeout):
        raise ServiceError(f"{service.name} did not come back within {service.start_timeout:.0f}s; "
                           f"log {service.log_path}\n{service.process.log_tail()}")


def stop_broker(settings: Settings, rng: random.Random, down_s: float) -> str:
    """One of the three brokers stops cleanly (SIGTERM), stays away ``down_s``, and starts again.
    With replication 3 and min.insync.replicas 2 the two others keep accepting acks=all writes."""
    broker = _service(settings, f"kafka-{rng.randint(1, settings.brokers)}")
    assert isinstance(broker, KafkaBroker)
    broker.process.stop()
    time.sleep(down_s)
    _restart(broker)
    return f"stopped {broker.name} for {down_s:.0f}s"


def clickhouse_outage(settings: Settings, down_s: float) -> str:
    clickhouse = _service(settings, "clickhouse")
    assert isinstance(clickhouse, ClickHouseServer)
    clickhouse.process.stop()
    time.sleep(down_s)
    _restart(clickhouse)
    return f"stopped clickhouse for {down_s:.0f}s"


@dataclass
class GatewayProcess:
    """``ecmon gateway --spool`` as a subprocess, so it can be killed -9 and started again with the same
    arguments; its spool (``<state>/gateways/fleet/``) carries the run across the kill."""

    settings: Settings
    run: FleetRun
    log_path: Path
    popen: subprocess.Popen | None = None

    def command(self) -> list[str]:
        r = self.run
        return [sys.executable, "-m", "ecmon_cli.main", "--state-dir", str(self.settings.state_dir), "gateway",
                "--enterprises", str(r.enterprises), "--provinces", ",".join(r.provinces), "--start", r.start,
                "--months", str(r.months), "--seed", str(r.seed), "--speed", f"{r.speed:.3f}", "--faults", r.faults,
                "--spool", "--no-progress",
                # each trial reconciles ClickHouse against the ledger, which catches any batch not counted
                "--feedback-wait", "0"]

    def start(self) -> int:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%H:%M:%S')} {' '.join(self.command())}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True,
                                          env={**os.environ, **self.settings.process_env()})
        return self.popen.pid

    def kill(self) -> int:
        assert self.popen is not None
        pid = self.popen.pid
        os.kill(pid, signal.SIGKILL)
        self.popen.wait()
        return pid

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it is still running after ``timeout`` (then it is killed)."""
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None
