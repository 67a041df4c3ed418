"""Why a message was set aside: every dead-letter reason of the worker and the sink, with its meaning for a
person (docs/interface-standard.md lists them all; a test keeps the two equal)."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """A reason code: the ``reason`` column of the dead-letter table, the label of the dead-letter metric."""

    UNDECODABLE = "undecodable"
    UNKNOWN_FINGERPRINT = "unknown_fingerprint"
    UNEXPECTED_RECORD_TYPE = "unexpected_record_type"
    INVALID_USCC = "invalid_uscc"
    KEY_MISMATCH = "key_mismatch"
    UNREGISTERED_ENTERPRISE = "unregistered_enterprise"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_METER = "unknown_meter"
    METER_MISMATCH = "meter_mismatch"
    UNSUPPORTED_VALUE_KIND = "unsupported_value_kind"
    NEGATIVE_INTERVAL_VALUE = "negative_interval_value"
    DUPLICATE_BATCH = "duplicate_batch"
    UNKNOWN_ENERGY_TYPE = "unknown_energy_type"
    UNKNOWN_UNIT = "unknown_unit"
    FUTURE_TIMESTAMP = "future_timestamp"
    BEYOND_HORIZON = "beyond_horizon"
    MONTH_CLOSED = "month_closed"
    NEGATIVE_REGISTER_VALUE = "negative_register_value"
    BATCH_TOO_LARGE = "batch_too_large"
    UNCONVERTIBLE = "unconvertible"
    CLICKHOUSE_REJECTED = "clickhouse_rejected"
    VALUE_OUT_OF_RANGE = "value_out_of_range"
    DUPLICATE_READING = "duplicate_reading"
    CONFLICTING_READING = "conflicting_reading"
    READING_CORRECTED = "reading_corrected"
    OFF_GRID_READING = "off_grid_reading"
    INVALID_GATEWAY_ID = "invalid_gateway_id"
    INVALID_BATCH_ID = "invalid_batch_id"
    TOO_MANY_GATEWAYS = "too_many_gateways"
    SEQUENCE_OUT_OF_WINDOW = "sequence_out_of_window"
    TOO_MANY_SEQUENCE_GAPS = "too_many_sequence_gaps"
    REGISTER_OUT_OF_WINDOW = "register_out_of_window"
    METER_RESET = "meter_reset"
    NEGATIVE_QUANTITY = "negative_quantity"
    UNKNOWN_PRODUCT_UNIT = "unknown_product_unit"
    PRODUCT_UNIT_MISMATCH = "product_unit_mismatch"
    INVALID_PERIOD = "invalid_period"
    NULL_VALUE = "null_value"
    TOMBSTONE = "tombstone"
    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_REGISTRY_RECORD = "invalid_registry_record"
    UNSIGNED_REGISTRY_RECORD = "unsigned_registry_record"
    STALE_REGISTRY_RECORD = "stale_registry_record"
    INVALID_INTERNAL_MESSAGE = "invalid_internal_message"
    INTERNAL_ERROR = "internal_error"


#: Reason code -> what it means, for the docs, the dead-letter table and the operator.
REASONS: dict[Reason, str] = {
    Reason.UNDECODABLE: "the bytes are not an Avro single-object message of the ecmon contract",
    Reason.UNKNOWN_FINGERPRINT: "the message names a writer schema that is not a released ecmon schema",
    Reason.UNEXPECTED_RECORD_TYPE: "a valid ecmon message of the wrong kind for this topic",
    Reason.INVALID_USCC: "the enterprise code is not a valid unified social credit code (GB 32100-2015)",
    Reason.KEY_MISMATCH: "the Kafka key differs from the USCC inside the batch",
    Reason.UNREGISTERED_ENTERPRISE: "the enterprise is not in the monitoring coverage list (registry)",
    Reason.BAD_SIGNATURE: "the signature is missing, or does not verify with a key of the enterprise that is valid "
                          "and not revoked at the message's Kafka record time",
    Reason.UNKNOWN_METER: "the meter is not registered for the enterprise",
    Reason.METER_MISMATCH: "the reading's energy type or unit differs from the meter's registration",
    Reason.UNSUPPORTED_VALUE_KIND: "the value kind is not accepted",
    Reason.NEGATIVE_INTERVAL_VALUE: "an interval consumption below zero",
    Reason.DUPLICATE_BATCH: "the batch was already counted (same gateway and sequence, applied before)",
    Reason.UNKNOWN_ENERGY_TYPE: "the reading's energy type code is not a known energy type",
    Reason.UNKNOWN_UNIT: "the reading's unit code is not known, or cannot measure the energy type",
    Reason.FUTURE_TIMESTAMP: "the reading ends more than the allowed margin (1 h) after the batch was sent",
    Reason.BEYOND_HORIZON: "the reading is older than the platform's horizon (400 days before the batch was sent)",
    Reason.MONTH_CLOSED: "the reading's month is closed: the enterprise already reported past its end + grace + "
                         "revision window (ECMON_REVISION_WINDOW_DAYS); within the window late data is a flagged "
                         "revision",
    Reason.NEGATIVE_REGISTER_VALUE: "a cumulative register reading below zero",
    Reason.BATCH_TOO_LARGE: "the batch holds more readings than the contract allows (10,000); split it",
    Reason.UNCONVERTIBLE: "the sink could not turn an accepted message into table rows (a platform defect)",
    Reason.CLICKHOUSE_REJECTED: "ClickHouse refused the rows the sink made of an accepted message (a platform defect); "
                                "the other rows of the insert were written",
    Reason.VALUE_OUT_OF_RANGE: "a reading, the monthly total it would make, or the enterprise's monthly coal over "
                               "all its energies, would be beyond 2^57 thousandths or mgce (or below zero)",
    Reason.DUPLICATE_READING: "a reading of the same meter and interval end was already counted (with the same "
                              "value, for an interval reading): a resend, counted once",
    Reason.CONFLICTING_READING: "an interval reading of the same meter and interval end was counted with another "
                                "value, and this one is not a correction of it (replaces_value_milli absent or not "
                                "exactly the value counted)",
    Reason.READING_CORRECTED: "notice, the correction counts: an interval reading replaced the value counted before "
                              "(old and new values in the detail)",
    Reason.OFF_GRID_READING: "the interval reading's end is not on its meter's grid (multiples of the registered "
                             "interval after 00:00 CST, or 00:00 CST)",
    Reason.INVALID_GATEWAY_ID: "the gateway_id is not 1-64 characters of A-Z a-z 0-9 . _ : -",
    Reason.INVALID_BATCH_ID: "the batch_id is not a UUID (36 characters, 8-4-4-4-12 hexadecimal digits)",
    Reason.TOO_MANY_GATEWAYS: "the enterprise already has the most gateways the platform tracks (16)",
    Reason.SEQUENCE_OUT_OF_WINDOW: "the batch's sequence is below 1, more than 1,000,000 ahead of the gateway's "
                                   "highest applied, or skips ahead in an empty batch",
    Reason.TOO_MANY_SEQUENCE_GAPS: "the batch would open one more unapplied sequence range than the platform "
                                   "remembers per gateway (64): send the missing sequences first",
    Reason.REGISTER_OUT_OF_WINDOW: "a late register reading older than the register history the platform keeps",
    Reason.METER_RESET: "notice, the reading counts: a register fell back other than by rollover; counted from zero",
    Reason.NEGATIVE_QUANTITY: "a production output quantity below zero",
    Reason.UNKNOWN_PRODUCT_UNIT: "the production output's unit code is not a product unit (ecmon.quota_standards)",
    Reason.PRODUCT_UNIT_MISMATCH: "the production output's unit cannot measure the unit its quota standard counts in",
    Reason.INVALID_PERIOD: "the production period is empty, ends before it starts, or spans two CST months",
    Reason.NULL_VALUE: "the message has no value (null) where a message is expected: there is nothing to read",
    Reason.TOMBSTONE: "a tombstone (a null value, Kafka's deletion marker) on a compacted topic: the registry "
                      "follower applies those of the registry and targets; the sink's tables keep history, so it "
                      "records them here",
    Reason.MESSAGE_TOO_LARGE: "the message is larger than the contract's 1 MiB (it arrived compressed); refused "
                              "unread: split the batch",
    Reason.INVALID_REGISTRY_RECORD: "a registry record that fails the registry's checks (key = USCC, valid USCC, "
                                    "known GB/T 2260 region and GB/T 4754 industry, meters, public keys; the detail "
                                    "says which): it changed nothing",
    Reason.UNSIGNED_REGISTRY_RECORD: "a registry record without a registry authority signature that verifies: it "
                                     "changed nothing",
    Reason.STALE_REGISTRY_RECORD: "a registry record, signed by the authority, whose issued_at is not later than "
                                  "that of the newest record accepted for the enterprise: a replay of an older "
                                  "record (it would undo a rotation or revocation); it changed nothing",
    Reason.INVALID_INTERNAL_MESSAGE: "a message on an internal topic (enterprise or province totals, dead letters) "
                                     "that the worker never writes: a period that is not a 'YYYY-MM' month, rows of "
                                     "the wrong level, or a dead letter without a known reason",
    Reason.INTERNAL_ERROR: "a platform defect: processing this message raised an unexpected error (type in the "
                           "detail, traceback in the log); the message was set aside and processing went on",
}
