import uuid

from hypothesis import given, strategies as st

from ecmon import codec, signing


@given(st.text(max_size=30), st.integers(1, 2**40), st.binary(max_size=64))
def test_unsigned_message_equals_encoding_with_empty_signature(gateway, sequence, signature):
    record = {
        "uscc": "91350100M000100Y43", "gateway_id": gateway, "batch_id": str(uuid.uuid4()), "sequence": sequence,
        "sent_at": 1_790_000_000_000, "key_id": "key-1", "signature": b"", "readings": [],
    }
    unsigned = codec.encode("reading_batch", record)
    signed = codec.encode("reading_batch", {**record, "signature": signature})
    assert signing.unsigned_message(signed) == (unsigned, signature)


def test_signature_from_another_key_does_not_verify():
    body = b"batch"
    assert signing.verify(body, signing.enterprise_key("a"), signing.sign(body, signing.enterprise_key("a")))
    assert not signing.verify(body, signing.enterprise_key("a"), signing.sign(body, signing.enterprise_key("b")))
