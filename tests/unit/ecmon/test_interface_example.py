"""The example in docs/interface-standard.md is exactly what the platform produces and accepts."""

import json

from ecmon import PROJECT_ROOT, codec, interface_example, signing
from ecmon.months import month_of_interval

DOC = PROJECT_ROOT / "docs" / "interface-standard.md"


def test_doc_contains_the_current_example():
    block = interface_example.markdown()
    doc = DOC.read_text()
    assert block in doc, (
        "docs/interface-standard.md is stale: paste the output of `python -m ecmon.interface_example`"
    )
    assert doc.count("```json\n{\n  \"uscc\"") == 1  # one example, not an old one left beside the new


def test_example_decodes_and_its_signature_verifies():
    data = interface_example.example_message()
    name, record = codec.decode(data, expected="reading_batch")
    assert name == "reading_batch"
    assert record == interface_example.example_batch()
    body, signature = signing.unsigned_message(data)
    assert len(signature) == 64
    assert signing.verify(body, signing.EXAMPLE_PUBLIC_KEY, signature)
    assert not signing.verify(body, signing.public_key_raw(signing.generate_private_key()), signature)


def test_the_example_key_is_never_accepted():
    # Vendors check their encoder and signer with it; the platform refuses it even if a registry record
    # listed it, and the example USCC is not registered.
    data = interface_example.example_message()
    record = {"uscc": interface_example.USCC, "key_id": interface_example.KEY_ID, "public_keys": [
        {"key_id": interface_example.KEY_ID, "algorithm": "ed25519", "public_key": signing.EXAMPLE_PUBLIC_KEY,
         "valid_from": 0, "valid_until": None, "revoked_at": None}]}
    assert signing.public_key_for(record, interface_example.KEY_ID, interface_example.SENT_AT_MS) is None
    assert signing.signature_problem(data, record, interface_example.KEY_ID, interface_example.SENT_AT_MS)


def test_example_shows_the_month_boundary():
    # The readings end at 00:00 CST on 1 November: they are October's last interval.
    assert {month_of_interval(r["ts"]) for r in interface_example.example_batch()["readings"]} == {"2026-10"}


def test_byte_rows_cover_the_message():
    rows = interface_example.byte_rows()
    assert b"".join(chunk for _, chunk, _ in rows) == interface_example.example_message()
    assert rows[0][1] == b"\xc3\x01"


def test_doc_contains_the_current_energy_types():
    assert interface_example.energy_types_markdown() in DOC.read_text()


def test_doc_explains_every_dead_letter_reason():
    from ecmon_worker.dead_letters import REASONS

    doc = DOC.read_text()
    for code, meaning in REASONS.items():
        assert f"| `{code}` | {meaning} |" in doc, code


def test_doc_describes_every_field_of_the_vendor_facing_schemas():
    doc = DOC.read_text()

    def fields(node):
        if isinstance(node, dict):
            if node.get("type") == "record":
                yield from (f["name"] for f in node["fields"])
            for value in node.values():
                yield from fields(value)
        elif isinstance(node, list):
            for value in node:
                yield from fields(value)

    for name in ("reading_batch", "production_output", "enterprise_record", "target"):
        schema = codec.catalog().schema(name).writer
        for field_name in fields(json.loads((PROJECT_ROOT / "avro" / "v1" / f"{name}.avsc").read_text())):
            assert f"| `{field_name}` |" in doc, f"{name}.{field_name}"
        assert schema["name"].rsplit(".", 1)[-1] in doc


def test_doc_names_every_topic():
    from ecmon import topics

    doc = DOC.read_text()
    for spec in (topics.READINGS, topics.REGISTRY, topics.ENTERPRISE_TOTALS, topics.AGGREGATES, topics.DEAD_LETTERS):
        assert f"`{spec.name}`" in doc
