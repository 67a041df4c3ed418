"""A py-spy profile of a running worker, summarised as the functions that take the most samples."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start(pid: int, out: Path, seconds: int, rate: int = 50) -> subprocess.Popen | None:
    """Sample ``pid`` for ``seconds`` into a collapsed-stack file (``--format raw``); None without py-spy."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate),
                             "--nonblocking", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_LINE = re.compile(r":\d+\)$")


def top_functions(collapsed: str, n: int = 12, only: tuple[str, ...] = (),
                  exclude: tuple[str, ...] = ("ecmon_cli/main.py", "run_worker (")) -> list[tuple[str, float, float]]:
    """(function, self share, inclusive share) of the ``n`` functions with most self samples, or, when
    ``only`` names path fragments (``("streams/", "ecmon/")``), those functions with the most inclusive samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return []
    if only:
        ranked = [f for f, _ in inclusive.most_common()
                  if any(o in f for o in only) and not any(x in f for x in exclude)][:n]
    else:
        ranked = [f for f, _ in own.most_common(n)]
    return [(f, own[f] / total, inclusive[f] / total) for f in ranked]
