"""Why a message was set aside: every dead-letter reason of the worker and the sink, with its meaning for a
person (docs/interface-standard.md lists them all; a test keeps the two equal)."""

from __future__ import annotations

#: Reason code -> what it means, for the docs, the dead-letter table and the operator.
REASONS: dict[str, str] = {
    "undecodable": "the bytes are not an Avro single-object message of the ecmon contract",
    "unknown_fingerprint": "the message names a writer schema that is not a released ecmon schema",
    "unexpected_record_type": "a valid ecmon message of the wrong kind for this topic",
    "invalid_uscc": "the enterprise code is not a valid unified social credit code (GB 32100-2015)",
    "key_mismatch": "the Kafka key differs from the USCC inside the batch",
    "unregistered_enterprise": "the enterprise is not in the monitoring coverage list (registry)",
    "bad_signature": "the signature is missing, or does not verify with a key of the enterprise that is valid and "
                     "not revoked at the message's Kafka record time",
    "unknown_meter": "the meter is not registered for the enterprise",
    "meter_mismatch": "the reading's energy type or unit differs from the meter's registration",
    "unsupported_value_kind": "the value kind is not accepted",
    "negative_interval_value": "an interval consumption below zero",
    "duplicate_batch": "the batch was already counted (same gateway and sequence, applied before)",
    "unknown_energy_type": "the reading's energy type code is not a known energy type",
    "unknown_unit": "the reading's unit code is not known, or cannot measure the energy type",
    "future_timestamp": "the reading ends more than the allowed margin (1 h) after the batch was sent",
    "beyond_horizon": "the reading is older than the platform's horizon (400 days before the batch was sent)",
    "month_closed": "the reading's month is closed: the enterprise already reported past its end + grace + revision "
                    "window (ECMON_REVISION_WINDOW_DAYS); within the window late data is a flagged revision",
    "negative_register_value": "a cumulative register reading below zero",
    "batch_too_large": "the batch holds more readings than the contract allows (10,000); split it",
    "unconvertible": "the sink could not turn an accepted message into table rows (a platform defect)",
    "value_out_of_range": "a reading, the monthly total it would make, or the enterprise's monthly coal over all its "
                          "energies, would be beyond 2^57 thousandths or mgce (or below zero)",
    "duplicate_reading": "a reading of the same meter and interval end was already counted (with the same value, "
                         "for an interval reading): a resend, counted once",
    "conflicting_reading": "an interval reading of the same meter and interval end was counted with another value, "
                           "and this one is not a correction of it (replaces_value_milli absent or not exactly "
                           "the value counted)",
    "reading_corrected": "notice, the correction counts: an interval reading replaced the value counted before "
                         "(old and new values in the detail)",
    "off_grid_reading": "the interval reading's end is not on its meter's grid (multiples of the registered "
                        "interval after 00:00 CST, or 00:00 CST)",
    "invalid_gateway_id": "the gateway_id is not 1-64 characters of A-Z a-z 0-9 . _ : -",
    "invalid_batch_id": "the batch_id is not a UUID (36 characters, 8-4-4-4-12 hexadecimal digits)",
    "too_many_gateways": "the enterprise already has the most gateways the platform tracks (16)",
    "sequence_out_of_window": "the batch's sequence is below 1, more than 1,000,000 ahead of the gateway's highest "
                              "applied, or skips ahead in an empty batch",
    "too_many_sequence_gaps": "the batch would open one more unapplied sequence range than the platform remembers "
                              "per gateway (64): send the missing sequences first",
    "register_out_of_window": "a late register reading older than the register history the platform keeps",
    "meter_reset": "notice, the reading counts: a register fell back other than by rollover; counted from zero",
    "negative_quantity": "a production output quantity below zero",
    "unknown_product_unit": "the production output's unit code is not a product unit (ecmon.quota_standards)",
    "product_unit_mismatch": "the production output's unit cannot measure the unit its quota standard counts in",
    "invalid_period": "the production period is empty, ends before it starts, or spans two CST months",
    "null_value": "the message has no value (null) where a message is expected: there is nothing to read",
    "tombstone": "a tombstone (a null value, Kafka's deletion marker) on a compacted topic: the registry follower "
                 "applies those of the registry and targets; the sink's tables keep history, so it records them here",
    "message_too_large": "the message is larger than the contract's 1 MiB (it arrived compressed); refused unread: "
                         "split the batch",
    "invalid_registry_record": "a registry record that fails the registry's checks (key = USCC, valid USCC, known "
                               "GB/T 2260 region and GB/T 4754 industry, meters, public keys; the detail says "
                               "which): it changed nothing",
    "unsigned_registry_record": "a registry record without a registry authority signature that verifies: it "
                                "changed nothing",
    "stale_registry_record": "a registry record, signed by the authority, whose issued_at is not later than that of "
                             "the newest record accepted for the enterprise: a replay of an older record (it would "
                             "undo a rotation or revocation); it changed nothing",
    "invalid_internal_message": "a message on an internal topic (enterprise or province totals, dead letters) that "
                                "the worker never writes: a period that is not a 'YYYY-MM' month, rows of the wrong "
                                "level, or a dead letter without a known reason",
    "internal_error": "a platform defect: processing this message raised an unexpected error (type in the detail, "
                      "traceback in the log); the message was set aside and processing went on",
}
