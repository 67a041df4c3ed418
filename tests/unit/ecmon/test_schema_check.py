"""`ecmon schemas check`: evolution rules, the fastavro proof, and released files that must not change."""

import copy
import io
import json
import shutil
import uuid
from pathlib import Path

import fastavro
import pytest
from typer.testing import CliRunner

from ecmon import PROJECT_ROOT, codec, schema_check, signing
from ecmon_cli.main import app

REAL_AVRO = PROJECT_ROOT / "avro"
NEW_SCHEMAS = ("production_output", "target", "normalised_reading_batch", "anomaly", "monthly_report",
               "national_feedback")


def v1_schema(name: str) -> dict:
    return json.loads((REAL_AVRO / "v1" / f"{name}.avsc").read_text())


@pytest.fixture()
def avro_root(tmp_path: Path) -> Path:
    """A schema tree with the real v1 reading batch and registry record, v1 released."""
    root = tmp_path / "avro"
    (root / "v1").mkdir(parents=True)
    for name in ("reading_batch", "enterprise_record"):
        shutil.copy(REAL_AVRO / "v1" / f"{name}.avsc", root / "v1" / f"{name}.avsc")
    schema_check.release(root)
    return root


def write_v2(root: Path, name: str, schema: dict) -> Path:
    (root / "v2").mkdir(exist_ok=True)
    path = root / "v2" / f"{name}.avsc"
    path.write_text(json.dumps(schema, indent=2))
    return path


def reading_fields(schema: dict) -> list[dict]:
    return next(f for f in schema["fields"] if f["name"] == "readings")["type"]["items"]["fields"]


def evolved_reading_batch() -> dict:
    """v2 of the reading batch: an optional meter serial number on each reading, and a gateway firmware."""
    schema = copy.deepcopy(v1_schema("reading_batch"))
    schema["fields"].append(
        {"name": "firmware", "type": ["null", "string"], "default": None, "doc": "Gateway firmware version."}
    )
    reading_fields(schema).append(
        {"name": "meter_serial", "type": ["null", "string"], "default": None, "doc": "Serial number of the meter."}
    )
    return schema


def run_check(root: Path) -> schema_check.CheckReport:
    return schema_check.check(root)


# ---------------------------------------------------------------------------------------------- rules


def test_real_repository_passes():
    report = run_check(REAL_AVRO)
    assert report.ok, "\n".join(report.problems)


def test_v1_is_released():
    manifest = schema_check.load_manifest(REAL_AVRO)
    v1 = ("aggregate_batch", "dead_letter", "enterprise_record", "enterprise_totals", "reading_batch", *NEW_SCHEMAS)
    for name in v1:
        rel = f"v1/{name}.avsc"
        assert manifest[rel] == schema_check.sha256_file(REAL_AVRO / rel)


def test_cli_check_passes_on_the_repository():
    result = CliRunner().invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "reading_batch" in result.output


def test_compatible_evolution_passes(avro_root):
    write_v2(avro_root, "reading_batch", evolved_reading_batch())
    report = run_check(avro_root)
    assert report.ok, report.problems
    statuses = {e.relpath: e.status for e in report.entries}
    assert statuses["v1/reading_batch.avsc"] == "released"
    assert statuses["v2/reading_batch.avsc"] == "unreleased"


def test_field_added_without_default_fails(avro_root):
    schema = v1_schema("reading_batch")
    reading_fields(schema).append({"name": "meter_serial", "type": "string"})
    write_v2(avro_root, "reading_batch", schema)
    report = run_check(avro_root)
    assert not report.ok
    assert any("backward" in p and "readings[].meter_serial" in p and "no default" in p for p in report.problems)
    # the rule and the real decoder agree
    assert any("backward round trip" in p for p in report.problems)
    assert {e.relpath: e.status for e in report.entries}["v2/reading_batch.avsc"] == "INCOMPATIBLE"


def test_field_removed_without_default_fails(avro_root):
    schema = v1_schema("enterprise_record")
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "tier"]
    write_v2(avro_root, "enterprise_record", schema)
    report = run_check(avro_root)
    assert any(p.startswith("v2/enterprise_record.avsc: forward") and "EnterpriseRecord.tier" in p
               for p in report.problems)
    assert any("forward round trip" in p for p in report.problems)


def test_field_removed_that_had_a_default_passes(avro_root):
    schema = v1_schema("reading_batch")
    reading_fields(schema)[:] = [f for f in reading_fields(schema) if f["name"] != "quality"]
    write_v2(avro_root, "reading_batch", schema)
    assert run_check(avro_root).ok


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda s: s["fields"][3].update(type="int"), "type changed from long (writer) to int"),
        (lambda s: reading_fields(s)[4]["type"]["symbols"].append("DELTA"), "lacks symbol(s) DELTA"),
        (lambda s: reading_fields(s)[2].update(type={"type": "long", "logicalType": "timestamp-micros"}),
         "logical type changed"),
        # Avro resolves fields by name, but the signature splice reads them by position.
        (lambda s: s["fields"].insert(3, s["fields"].pop(1)), "must start with the fields"),
    ],
    ids=["long-to-int", "enum-symbol-without-default", "logical-type", "field-order"],
)
def test_incompatible_changes_fail(avro_root, change, fragment):
    schema = v1_schema("reading_batch")
    change(schema)
    write_v2(avro_root, "reading_batch", schema)
    report = run_check(avro_root)
    assert any(fragment in p for p in report.problems), report.problems


def test_enum_symbol_added_with_enum_default_passes(avro_root):
    schema = v1_schema("reading_batch")
    reading_fields(schema)[6]["type"]["symbols"].append("MISSING")  # Quality has "default": "GOOD"
    write_v2(avro_root, "reading_batch", schema)
    assert run_check(avro_root).ok


def test_promotion_passes_one_way_only(avro_root):
    schema = v1_schema("enterprise_record")
    meter_fields = next(f for f in schema["fields"] if f["name"] == "meters")["type"]["items"]["fields"]
    next(f for f in meter_fields if f["name"] == "interval_s")["type"] = "long"
    write_v2(avro_root, "enterprise_record", schema)
    problems = run_check(avro_root).problems
    assert problems and all("forward" in p for p in problems)  # a v1 reader cannot read a long as an int


def test_records_nested_in_unions_and_maps_are_checked():
    old = {"type": "record", "name": "Outer", "fields": [
        {"name": "m", "type": {"type": "map", "values": ["null", {"type": "record", "name": "Inner", "fields": [
            {"name": "a", "type": "int"}]}]}}]}
    new = copy.deepcopy(old)
    new["fields"][0]["type"]["values"][1]["fields"].append({"name": "b", "type": "string"})
    problems = schema_check.resolution_problems(new, old)
    assert problems == [
        "Outer.m{}.b: the reader expects field 'b' that the writer does not write, "
        "and the reader's field has no default"
    ]
    assert schema_check.round_trip_problems(old, new)
    assert schema_check.resolution_problems(old, new) == []


def test_edited_released_file_fails_naming_the_file(avro_root):
    path = avro_root / "v1" / "reading_batch.avsc"
    path.write_text(path.read_text().replace("Unique per batch", "Unique for each batch"))
    report = run_check(avro_root)
    assert not report.ok
    assert any(p.startswith("v1/reading_batch.avsc: released file was edited") for p in report.problems)
    result = CliRunner().invoke(app, ["schemas", "check", "--avro-dir", str(avro_root)])
    assert result.exit_code == 1
    assert "v1/reading_batch.avsc" in result.output and "EDITED" in result.output


def test_deleted_released_file_fails(avro_root):
    (avro_root / "v1" / "enterprise_record.avsc").unlink()
    report = run_check(avro_root)
    assert any(p.startswith("v1/enterprise_record.avsc: released file is gone") for p in report.problems)


def test_unreleased_file_in_an_older_version_fails(avro_root):
    write_v2(avro_root, "reading_batch", evolved_reading_batch())
    (avro_root / "v1" / "target.avsc").write_text((REAL_AVRO / "v1" / "target.avsc").read_text())
    report = run_check(avro_root)
    assert any(p.startswith("v1/target.avsc: v1 is not the newest version") for p in report.problems)


def test_release_records_the_newest_version_and_refuses_changes(avro_root):
    write_v2(avro_root, "reading_batch", evolved_reading_batch())
    released = schema_check.release(avro_root)
    assert [(r.relpath, r.new) for r in released] == [("v2/reading_batch.avsc", True)]
    assert [r.new for r in schema_check.release(avro_root)] == [False]  # idempotent
    manifest = schema_check.load_manifest(avro_root)
    assert set(manifest) == {"v1/reading_batch.avsc", "v1/enterprise_record.avsc", "v2/reading_batch.avsc"}
    path = avro_root / "v2" / "reading_batch.avsc"
    path.write_text(path.read_text() + "\n")
    with pytest.raises(schema_check.ReleaseRefused, match="v2/reading_batch.avsc"):
        schema_check.release(avro_root)
    result = CliRunner().invoke(app, ["schemas", "release", "--avro-dir", str(avro_root)])
    assert result.exit_code == 1


def test_release_refuses_incompatible_schemas(avro_root):
    schema = v1_schema("reading_batch")
    reading_fields(schema).append({"name": "meter_serial", "type": "string"})
    write_v2(avro_root, "reading_batch", schema)
    with pytest.raises(schema_check.ReleaseRefused, match="meter_serial"):
        schema_check.release(avro_root)
    assert "v2/reading_batch.avsc" not in schema_check.load_manifest(avro_root)


def test_invalid_schema_is_reported(avro_root):
    write_v2(avro_root, "reading_batch", {"type": "record", "name": "ReadingBatch", "fields": [
        {"name": "uscc", "type": "strng"}]})
    (avro_root / "v2" / "broken.avsc").write_text("{not json")
    statuses = {e.relpath: e.status for e in run_check(avro_root).entries}
    assert statuses["v2/reading_batch.avsc"] == "INVALID"
    assert statuses["v2/broken.avsc"] == "INVALID"


def test_new_schemas_document_every_field():
    def fields(node):
        if isinstance(node, dict):
            if node.get("type") == "record":
                yield from ((node["name"], f) for f in node["fields"])
            for value in node.values():
                yield from fields(value)
        elif isinstance(node, list):
            for value in node:
                yield from fields(value)

    for name in NEW_SCHEMAS:
        schema = v1_schema(name)
        assert schema["namespace"] == "cn.ecmon.v1"
        undocumented = [f"{rec}.{f['name']}" for rec, f in fields(schema) if not f.get("doc")]
        assert not undocumented, f"{name}: {undocumented}"


# ------------------------------------------------------------------------ round trips through the codec


def batch_v1() -> dict:
    return {
        "uscc": "91350100M000100Y43", "gateway_id": "gw-1", "batch_id": str(uuid.UUID(int=42)), "sequence": 7,
        "sent_at": 1_793_462_430_000, "key_id": "key-91350100M000100Y43", "signature": b"",
        "readings": [
            {"meter_id": "E-01", "energy_type": "electricity", "ts": 1_793_462_400_000, "value_milli": 12_345_678,
             "kind": "INTERVAL", "unit": "kWh", "quality": "GOOD"},
            {"meter_id": "G-01", "energy_type": "natural_gas", "ts": 1_793_462_400_000,
             "value_milli": 1_234_567_891, "kind": "CUMULATIVE", "unit": "m3", "quality": "ESTIMATED"},
        ],
    }


@pytest.fixture()
def evolved(avro_root) -> tuple[codec.SchemaCatalog, codec.SchemaCatalog]:
    """(the catalog of a v1-only deployment, the catalog with the evolved v2 reading batch)."""
    old = codec.SchemaCatalog(avro_root)
    write_v2(avro_root, "reading_batch", evolved_reading_batch())
    return old, codec.SchemaCatalog(avro_root)


def test_old_writer_new_reader(evolved, monkeypatch):
    old, new = evolved
    data = codec.encode("reading_batch", batch_v1(), schema=old.schema("reading_batch"))
    monkeypatch.setattr(codec, "catalog", lambda: new)  # the platform runs with v2 as current
    name, record = codec.decode(data, expected="reading_batch")
    assert name == "reading_batch"
    expected = batch_v1()
    expected["firmware"] = None
    for reading in expected["readings"]:
        reading["meter_serial"] = None
    assert record == expected


def test_new_writer_old_reader(evolved, monkeypatch):
    old, new = evolved
    v2 = new.schema("reading_batch")
    assert v2.version == 2
    record = batch_v1()
    record["firmware"] = "3.1.4"
    for i, reading in enumerate(record["readings"]):
        reading["meter_serial"] = f"SN-{i}"
    data = codec.encode("reading_batch", record, schema=v2)
    # A consumer still on v1 that has been given the v2 writer schema reads into its v1 record.
    buf = io.BytesIO(data[codec.HEADER_LEN:])
    decoded = fastavro.schemaless_reader(buf, v2.plain, old.schema("reading_batch").plain)
    assert buf.tell() == len(data) - codec.HEADER_LEN
    assert decoded == batch_v1()
    # Through the codec: the catalog knows the v2 fingerprint but v1 is the current record.
    cat = codec.SchemaCatalog(v2.path.parent.parent)
    cat.current["reading_batch"] = old.schema("reading_batch")
    monkeypatch.setattr(codec, "catalog", lambda: cat)
    assert codec.decode(data, expected="reading_batch") == ("reading_batch", batch_v1())


def test_a_deployment_without_the_new_version_dead_letters_it(evolved, monkeypatch):
    old, new = evolved
    data = codec.encode("reading_batch", batch_v1(), schema=new.schema("reading_batch"))
    monkeypatch.setattr(codec, "catalog", lambda: old)
    with pytest.raises(codec.UnknownSchemaFingerprint):
        codec.decode(data)


def test_signature_splice_works_for_the_evolved_batch(evolved):
    _, new = evolved
    v2 = new.schema("reading_batch")
    record = {**batch_v1(), "firmware": "3.1.4"}
    key = signing.generate_private_key()
    unsigned = codec.encode("reading_batch", record, schema=v2)
    signed = codec.encode("reading_batch", {**record, "signature": signing.sign(unsigned, key)}, schema=v2)
    body, signature = signing.unsigned_message(signed)
    assert body == unsigned and signing.verify(body, signing.public_key_raw(key), signature)
