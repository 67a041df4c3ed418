"""Why a message was refused: a reason code of streams/ecmon_worker/dead_letters.py REASONS and a one-line detail.

In the shared kernel because the worker (streams/) and the sink (sinks/) refuse registry records with the
same checks (ecmon/registry_records.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ecmon.dead_letter_reasons import Reason


@dataclass(frozen=True)
class Rejection:
    reason: Reason
    detail: str
    uscc: str = ""
    #: refused for want of a registry record or key that a registry read further may bring
    registry_may_lag: bool = False
