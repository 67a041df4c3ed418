"""Dead-letter records: the original bytes, where they came from, and a reason a person understands."""

from __future__ import annotations

import time

from ecmon import codec

#: Reason code -> what it means, for the docs, the dead-letter table and the operator.
REASONS: dict[str, str] = {
    "undecodable": "the bytes are not an Avro single-object message of the ecmon contract",
    "unknown_fingerprint": "the message names a writer schema that is not a released ecmon schema",
    "unexpected_record_type": "a valid ecmon message of the wrong kind for this topic",
    "invalid_uscc": "the enterprise code is not a valid unified social credit code (GB 32100-2015)",
    "key_mismatch": "the Kafka key differs from the USCC inside the batch",
    "unregistered_enterprise": "the enterprise is not in the monitoring coverage list (registry)",
    "bad_signature": "the batch signature is missing or does not verify with the enterprise key",
    "unknown_meter": "the meter is not registered for the enterprise",
    "meter_mismatch": "the reading's energy type or unit differs from the meter's registration",
    "unsupported_value_kind": "the value kind is not accepted",
    "negative_interval_value": "an interval consumption below zero",
    "duplicate_batch": "the batch was already counted (same gateway and sequence, applied before)",
    "unknown_energy_type": "the reading's energy type code is not a known energy type",
    "unknown_unit": "the reading's unit code is not known, or cannot measure the energy type",
    "future_timestamp": "the reading ends more than the allowed margin (1 h) after the batch was sent",
    "beyond_horizon": "the reading is older than the platform's horizon (400 days before the batch was sent)",
    "too_late_for_month": "the reading's month closed: the enterprise already reported past month end + grace",
    "negative_register_value": "a cumulative register reading below zero",
    "duplicate_reading": "a register reading of the same meter and time was already counted",
    "register_out_of_window": "a late register reading older than the register history the platform keeps",
    "meter_reset": "notice, the reading counts: a register fell back other than by rollover; counted from zero",
    "negative_quantity": "a production output quantity below zero",
    "unknown_product_unit": "the production output's unit code is not a product unit (ecmon.quota_standards)",
    "product_unit_mismatch": "the production output's unit cannot measure the unit its quota standard counts in",
    "invalid_period": "the production period is empty, ends before it starts, or spans two CST months",
}


def dead_letter(
    reason: str, detail: str, *, topic: str, partition: int, offset: int, key: bytes, payload: bytes, uscc: str = ""
) -> bytes:
    return codec.encode(
        "dead_letter",
        {
            "reason": reason,
            "detail": detail,
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "key": key or b"",
            "payload": payload or b"",
            "uscc": uscc,
            "rejected_at": int(time.time() * 1000),
        },
    )
