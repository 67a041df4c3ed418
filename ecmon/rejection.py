"""Why a message was refused: a reason code of streams/ecmon_worker/dead_letters.py REASONS and a one-line detail.

In the shared kernel because the worker (streams/) and the sink (sinks/) refuse registry records with the
same checks (ecmon/registry_records.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rejection:
    reason: str  # a code of REASONS
    detail: str
    uscc: str = ""
