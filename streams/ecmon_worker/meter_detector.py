"""Which meter detector runs: the compiled one (``ecmon_worker.compiled``, built by ``make venv``) or the
pure-Python reference (``ecmon_worker.meter_anomalies``) it is compiled from and tested against.

Both have the same functions and give the same findings, scores and states; the compiled one is 1.45 to 1.9
times as fast (docs/anomalies.md, "Compiled"). ``ECMON_DETECTOR=python`` runs the reference: for stepping
through the detector in a debugger, or measuring it. A worker whose compiled module was not built runs the
reference after a warning rather than not at all; the unit tests fail instead (test_compiled_detector.py).
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

from ecmon_worker import meter_anomalies

ENV = "ECMON_DETECTOR"
COMPILED, REFERENCE = "compiled", "python"

log = logging.getLogger(__name__)


def compiled() -> ModuleType:
    """The compiled detector; ImportError when it was not built."""
    return importlib.import_module("ecmon_worker.compiled.meter_anomalies")  # by name: it exists once built


def load() -> ModuleType:
    """The detector this process runs: the compiled one unless ``ECMON_DETECTOR=python`` or it is missing."""
    choice = os.environ.get(ENV) or COMPILED
    if choice not in (COMPILED, REFERENCE):
        raise ValueError(f"{ENV}={choice!r}: {COMPILED!r} (the default) or {REFERENCE!r}")
    if choice == REFERENCE:
        return meter_anomalies
    try:
        return compiled()
    except ImportError as e:
        log.warning("the compiled meter detector is not built (%s): running the pure-Python reference, "
                    "slower; `make venv` builds it", e)
        return meter_anomalies
