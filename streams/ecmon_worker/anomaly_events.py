"""Anomaly events as the detectors emit them (avro/v1/anomaly.avsc), built in one place.

Every detector (meter, enterprise, region) hands its finding to :func:`anomaly_event`; the id is
derived from what the finding is about, never from when it was found, so a replay after a crash
re-emits the same id and the sink's ReplacingMergeTree keeps one row.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from ecmon import codec
from ecmon.metric_defs import ANOMALIES

SEVERITIES = ("INFO", "WARNING", "CRITICAL")
LEVELS = ("METER", "ENTERPRISE", "PREFECTURE", "PROVINCE", "NATIONAL")


def anomaly_id(detector: str, entity_code: str, kind: str, *identity: object) -> str:
    text = "|".join(str(part) for part in (detector, entity_code, kind, *identity))
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def anomaly_event(
    *,
    kind: str,
    severity: str,
    level: str,
    entity_code: str,
    province: str,
    span_start_ms: int,
    span_end_ms: int,
    observed: float,
    expected: float,
    score: float,
    detector: str,
    detector_version: str,
    identity: tuple[Any, ...] = (),
    unit: str = "tce",
    industry_code: str = "*",
    energy_type: str = "*",
    detail: str = "",
) -> dict[str, Any]:
    """One Anomaly record; ``identity`` adds what distinguishes two findings of the same kind on the
    same entity (defaults to the span start)."""
    if severity not in SEVERITIES or level not in LEVELS:
        raise ValueError(f"severity {severity!r} / level {level!r} not in the anomaly schema")
    return {
        "anomaly_id": anomaly_id(detector, entity_code, kind, *(identity or (span_start_ms,))),
        "type": kind,
        "severity": severity,
        "level": level,
        "entity_code": entity_code,
        "province": province,
        "industry_code": industry_code,
        "energy_type": energy_type,
        "span_start": span_start_ms,
        "span_end": span_end_ms,
        "observed": float(observed),
        "expected": float(expected),
        "unit": unit,
        "score": float(score),
        "detector": detector,
        "detector_version": detector_version,
        "detail": detail,
        "detected_at": int(time.time() * 1000),
    }


def encode(event: dict[str, Any]) -> bytes:
    """The wire form; counts the event for Prometheus as it leaves the detector."""
    ANOMALIES.labels(type=event["type"], province=event["province"], severity=event["severity"]).inc()
    return codec.encode("anomaly", event)
