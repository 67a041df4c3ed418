import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecmon import codec

# From the Avro specification's reference implementation: CRC-64-AVRO of the canonical form '"int"'.
INT_FINGERPRINT = 0x7275D51A3F395C8F


def test_crc64_avro_matches_reference_vector():
    assert codec.crc64_avro(b'"int"') == INT_FINGERPRINT


def batch(readings):
    return {
        "uscc": "91350100M000100Y43", "gateway_id": "gw-1", "batch_id": str(uuid.uuid4()), "sequence": 1,
        "sent_at": 1_790_000_000_000, "key_id": "k", "signature": b"", "readings": readings,
    }


reading = st.fixed_dictionaries({
    "meter_id": st.text(max_size=12), "energy_type": st.sampled_from(["electricity", "raw_coal"]),
    "ts": st.integers(0, 2**41), "value_milli": st.integers(-(2**63), 2**63 - 1),
    "kind": st.sampled_from(["INTERVAL", "CUMULATIVE"]), "unit": st.sampled_from(["kWh", "t"]),
    "quality": st.sampled_from(["GOOD", "ESTIMATED", "SUSPECT"]),
    "replaces_value_milli": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
})


@settings(max_examples=200)
@given(st.lists(reading, max_size=20))
def test_reading_batch_round_trips(readings):
    record = batch(readings)
    name, decoded = codec.decode(codec.encode("reading_batch", record), expected="reading_batch")
    assert name == "reading_batch"
    assert decoded == record


def test_header_names_the_writer_schema():
    data = codec.encode("reading_batch", batch([]))
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.catalog().schema("reading_batch").fingerprint


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", codec.UndecodableMessage),
        (b"garbage that is not avro", codec.UndecodableMessage),
        (b"\xc3\x01" + b"\x00" * 8 + b"body", codec.UnknownSchemaFingerprint),
    ],
)
def test_bad_input_raises_typed_errors(data, error):
    with pytest.raises(error) as exc:
        codec.decode(data)
    assert exc.value.reason in ("undecodable", "unknown_fingerprint")


def test_truncated_body_is_undecodable():
    data = codec.encode("reading_batch", batch([]))
    with pytest.raises(codec.UndecodableMessage):
        codec.decode(data[:-3])


def test_wrong_record_type_is_rejected():
    data = codec.encode("reading_batch", batch([]))
    with pytest.raises(codec.UnexpectedRecordType):
        codec.decode(data, expected="enterprise_record")
