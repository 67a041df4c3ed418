"""The checked-in test vectors (docs/test-vectors/) are current, and the platform's admission agrees with each."""

import pytest

from ecmon import conformance_vectors
from ecmon_worker import offline_check

DIR = conformance_vectors.DEFAULT_DIR


def test_the_checked_in_vectors_are_what_the_generator_writes():
    for vector in conformance_vectors.VECTORS:
        path = DIR / f"{vector.name}.jsonl"
        assert path.exists() and path.read_text() == conformance_vectors.vector_lines(vector), (
            f"{path} is stale: run `python -m ecmon.conformance_vectors`")
    assert (DIR / "README.md").read_text() == conformance_vectors.readme()
    assert {p.stem for p in DIR.glob("*.jsonl")} == {v.name for v in conformance_vectors.VECTORS}


def test_every_record_type_a_gateway_sends_has_valid_and_invalid_vectors():
    kinds = {(v.record_type, not any(m.expect for m in v.messages())) for v in conformance_vectors.VECTORS}
    assert kinds == {("reading_batch", True), ("reading_batch", False), ("production_output", True),
                     ("production_output", False)}


@pytest.mark.parametrize("vector", conformance_vectors.VECTORS, ids=lambda v: v.name)
def test_the_platform_gives_each_vector_its_expected_outcome(vector):
    record = offline_check.read_registry_record(DIR / "registry-record.json")
    enterprise = offline_check.Enterprise(record)
    for message in offline_check.read_messages(DIR / f"{vector.name}.jsonl"):
        verdict = offline_check.check_message(message.value, message.key, enterprise)
        assert verdict.reasons == sorted(message.expect), (vector.name, message.line,
                                                           [f.line() for f in verdict.findings])


def test_without_the_example_key_allowance_the_platform_refuses_every_vector():
    record = offline_check.read_registry_record(DIR / "registry-record.json")
    message = offline_check.read_messages(DIR / "readings-valid.jsonl")[0]
    verdict = offline_check.check_message(message.value, message.key, offline_check.Enterprise(record),
                                          example_key_ok=False)
    assert verdict.reasons == ["bad_signature"] and "example key" in verdict.findings[0].detail
