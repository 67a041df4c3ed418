"""Start, find and stop one server process of the local stack, by pid file.

A pid is only trusted when the process behind it still names our state directory on its
command line, so `down` never signals an unrelated process that reused the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class ServiceError(RuntimeError):
    """A service of the stack could not be started; the message says which, why and where its log is."""


@dataclass
class ManagedProcess:
    name: str
    command: list[str]
    run_dir: Path
    log_path: Path
    marker: str  # a string our own command line always contains (the state dir)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    @property
    def pid_path(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The pid of our running process, or None (stale pid files are removed)."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        cmdline = _cmdline(pid)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            state = "X"
        if self.marker not in cmdline or state in ("Z", "X"):
            self.pid_path.unlink(missing_ok=True)
            return None
        return pid

    def start(self) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,  # survives the CLI that started it; signals reach only it
            )
        self.pid_path.write_text(str(proc.pid))
        # Until exec() the child still shows our own command line; wait so pid() can trust the marker.
        wait_until(lambda: self.marker in _cmdline(proc.pid) or proc.poll() is not None, timeout=10, interval=0.01)
        return proc.pid

    def exited_early(self) -> bool:
        return self.pid() is None

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM and wait (servers flush and close cleanly); SIGKILL only past the timeout."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                break
            _reap(pid)
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        self.pid_path.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log written)"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:  # a server that is still starting refuses connections; keep polling
            pass
        time.sleep(interval)
    return False
