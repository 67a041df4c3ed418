"""The machine a benchmark ran on, and the peak memory of its processes (from /proc)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from ecmon_ops.bench.figures import status_bytes


def describe() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0)
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1), "cpu_model": model,
            "kernel": platform.release(), "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0]}


def peak_rss(pid: int) -> int:
    """VmHWM of a process in bytes (0 when it is gone)."""
    return rss_bytes(pid)["vm_hwm"]


def rss_bytes(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process in bytes (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {"vm_rss": 0, "vm_hwm": 0}
    return {"vm_rss": status_bytes(status, "VmRSS"), "vm_hwm": status_bytes(status, "VmHWM")}
