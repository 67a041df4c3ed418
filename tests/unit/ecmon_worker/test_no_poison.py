"""No poison: whatever key and value reach a consumer, its handling code answers with a record or
a reason of ``REASONS``, and never raises.

Hypothesis throws arbitrary keys and values, ``None`` included, valid messages of every record type and
mutations of them, and values beyond the contract's 1 MiB at:

- ``ecmon.codec.decode`` (every consumer reads through it);
- the worker's admission of reading batches, production output, enterprise totals and province totals
  (``ecmon_worker.admission``, ``ecmon_worker.production_intake``), which the agents in
  streams/ecmon_worker/agents.py call per event;
- the sink's conversion of every topic it reads (``ecmon_sink.rows.Rows.add_message``).

The same inputs go through the real stack in tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecmon import codec, topics
from ecmon_sink.rows import COLUMNS, PAYLOAD_LIMIT, TOPIC_RECORDS, Rows
from ecmon_worker import admission
from ecmon_worker.dead_letters import REASONS
from ecmon_worker.production_intake import check_production

from .test_fuzz_input import mutated as mutations

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
USCC = "91350100M000100Y43"  # valid (ecmon.uscc), registered in Fujian
NOW = 1_790_000_000_000


def encode_at(short_name: str, record: dict, version: int) -> bytes:
    """``record`` written with a released version of its schema (what an older writer sends)."""
    (sv,) = [s for s in codec.catalog().by_fingerprint.values() if s.short_name == short_name and s.version == version]
    return codec.encode(short_name, record, schema=sv)


AGGREGATE = {"level": "PROVINCE", "entity": "370000", "province": "370000", "industry_code": "*",
             "energy_type": "electricity", "period": "2026-10", "unit": "kWh", "physical_milli": 1000,
             "coal_mgce": 123, "readings": 5, "version": 2}
TOTAL = {"energy_type": "electricity", "period": "2026-10", "unit": "kWh", "physical_milli": 1000, "coal_mgce": 123,
         "readings": 5, "version": 2}
READING = {"meter_id": "E-01", "energy_type": "electricity", "ts": NOW, "value_milli": 1000, "kind": "INTERVAL",
           "unit": "kWh", "quality": "GOOD"}
MESSAGES: dict[str, bytes] = {
    "reading_batch": encode_at("reading_batch", {
        "uscc": USCC, "gateway_id": "gw-1", "batch_id": "5f0c8a2e-7d41-4b9e-a3c6-2e1f9d8b7a60", "sequence": 1,
        "sent_at": NOW, "key_id": "k", "signature": b"", "readings": [READING]}, 1),
    "aggregate_batch": codec.encode("aggregate_batch", {"emitted_at": NOW, "aggregates": [AGGREGATE]}),
    "enterprise_totals": codec.encode("enterprise_totals", {
        "uscc": USCC, "region_code": "350102", "industry_code": "3110", "totals": [TOTAL], "watermark": NOW}),
    "enterprise_record": encode_at("enterprise_record", {
        "uscc": USCC, "name": "Jinan Steel", "region_code": "350102", "industry_code": "3110",
        "tier": "NATIONAL_KEY", "key_id": "k1", "valid_from": 0,
        "meters": [{"meter_id": "E-01", "energy_type": "electricity", "unit": "kWh", "interval_s": 900}]}, 1),
    "dead_letter": codec.encode("dead_letter", {
        "reason": "undecodable", "detail": "x", "source_topic": topics.READINGS.name, "source_partition": 0,
        "source_offset": 1, "key": b"k", "payload": b"\x00", "uscc": "", "rejected_at": NOW}),
}
KINDS = sorted(MESSAGES)


@st.composite
def mutated(draw) -> bytes:
    """A valid message of any kind with bit flips, truncation, extension, insertions or an over-long varint."""
    return draw(mutations(MESSAGES[draw(st.sampled_from(KINDS))]))


#: A value as a consumer may see it: none, arbitrary bytes, valid messages of every type, mutations of them,
#: something that is not bytes at all.
values = st.one_of(st.none(), st.binary(max_size=300), st.sampled_from(list(MESSAGES.values())), mutated(),
                   st.text(max_size=20), st.integers())
keys = st.one_of(st.none(), st.binary(max_size=40), st.sampled_from([USCC.encode(), b"350000", b"CN", b"\xff\xfe"]))


def assert_rejection(outcome: object) -> None:
    if isinstance(outcome, (admission.Rejection,)):
        assert outcome.reason in REASONS, outcome
        assert outcome.detail.strip()


# -- the decoder ----------------------------------------------------------------------------------------


@FUZZ
@given(values, st.sampled_from([None, *KINDS]))
def test_decode_raises_only_codec_errors_with_a_reason(value, expected):
    try:
        codec.decode(value, expected)
    except codec.CodecError as exc:
        assert exc.reason in REASONS


def test_a_null_value_is_a_codec_error_not_a_type_error():
    with pytest.raises(codec.NullValue) as caught:
        codec.decode(None, "reading_batch")
    assert caught.value.reason == "null_value"
    with pytest.raises(codec.UndecodableMessage):
        codec.decode("C3 01 text", "reading_batch")  # type: ignore[arg-type]


def test_a_value_over_one_mib_is_refused_before_it_is_read():
    fp = codec.catalog().schema("reading_batch").fingerprint
    # 5 MB of zeros: a few kB as lz4, so the broker's 1 MiB limit let it through
    huge = codec.MAGIC + fp + bytes(5 * (1 << 20))
    with pytest.raises(codec.MessageTooLarge) as caught:  # refused by its size: never parsed as Avro
        codec.decode(huge, "reading_batch")
    assert caught.value.reason == "message_too_large" and "1,048,576" in str(caught.value)
    # the limit is the contract's: a message of exactly 1 MiB is read (and here fails as Avro, not as size)
    with pytest.raises(codec.UndecodableMessage):
        codec.decode(huge[:codec.MAX_MESSAGE_BYTES], "reading_batch")


def test_an_over_long_varint_is_undecodable():
    fp = codec.catalog().schema("reading_batch").fingerprint
    with pytest.raises(codec.UndecodableMessage):
        codec.decode(codec.MAGIC + fp + b"\xff" * 20 + b"\x01", "reading_batch")


# -- the worker's admission, per topic ------------------------------------------------------------------


@FUZZ
@given(keys, values)
def test_reading_batch_admission_never_raises(key, value):
    outcome = admission.admit("reading_batch", key, value, lambda uscc: None, None)
    assert isinstance(outcome, admission.Rejection)  # no enterprise is registered here
    assert_rejection(outcome)


@FUZZ
@given(keys, values)
def test_production_admission_never_raises(key, value):
    outcome = check_production(value, key, lambda uscc: None)
    assert_rejection(outcome)


@FUZZ
@given(keys, values)
def test_enterprise_totals_admission_never_raises(key, value):
    outcome = admission.read_enterprise_totals(key, value)
    assert isinstance(outcome, (tuple, admission.Rejection))
    assert_rejection(outcome)
    if isinstance(outcome, tuple):  # usable only as the totals of the province it is keyed by
        assert key == outcome[0].encode() == b"350000"


@FUZZ
@given(keys, values)
def test_province_totals_admission_never_raises(key, value):
    outcome = admission.read_province_totals(key, value)
    assert isinstance(outcome, (tuple, admission.Rejection))
    assert_rejection(outcome)
    if isinstance(outcome, tuple):
        assert key == b"CN" and outcome[1] in ("monthly_report", "aggregate_batch")


@pytest.mark.parametrize("read, topic_kind, key", [
    (lambda key, value: admission.admit("reading_batch", key, value, lambda uscc: None, None), "reading_batch",
     USCC.encode()),
    (admission.read_enterprise_totals, "enterprise_totals", b"350000"),
    (admission.read_province_totals, "aggregate_batch", b"CN"),
])
def test_each_topic_names_what_is_wrong(read, topic_kind, key):
    good = read(key, MESSAGES[topic_kind])  # passes (a reading batch up to the registry: none is given here)
    assert not isinstance(good, admission.Rejection) or good.reason == "unregistered_enterprise"
    assert read(key, None).reason == "null_value"
    assert read(key, b"\x00garbage").reason == "undecodable"
    assert read(key, MESSAGES["dead_letter"]).reason == "unexpected_record_type"
    assert read(key, MESSAGES[topic_kind][:10] + bytes(2 << 20)).reason == "message_too_large"
    assert read(None, MESSAGES[topic_kind]).reason == "key_mismatch"
    assert read(b"\xff" + key, MESSAGES[topic_kind]).reason == "key_mismatch"
    assert check_production(None, key, lambda _u: None).reason == "null_value"


def test_internal_messages_the_worker_never_writes_are_refused():
    totals = codec.encode("enterprise_totals", {"uscc": USCC, "region_code": "350102", "industry_code": "3110",
                                                "totals": [{**TOTAL, "period": "2026-13"}], "watermark": NOW})
    assert admission.read_enterprise_totals(b"350000", totals).reason == "invalid_internal_message"
    forged = codec.encode("aggregate_batch", {"emitted_at": NOW, "aggregates": [
        {**AGGREGATE, "level": "ENTERPRISE", "entity": USCC, "version": 2**63 - 1}]})
    assert admission.read_province_totals(b"CN", forged).reason == "invalid_internal_message"
    other_uscc = codec.encode("enterprise_totals", {"uscc": "x", "region_code": "350102", "industry_code": "3110",
                                                    "totals": [TOTAL], "watermark": NOW})
    assert admission.read_enterprise_totals(b"350000", other_uscc).reason == "invalid_uscc"


def test_an_internal_error_names_the_exception_type_and_place():
    try:
        {}["missing"]
    except KeyError as exc:
        rejection = admission.internal_error(exc, "the enterprise totals")
    assert rejection.reason == "internal_error" and rejection.reason in REASONS
    assert "KeyError" in rejection.detail and "test_no_poison.py:" in rejection.detail


# -- the sink, per topic ----------------------------------------------------------------------------------


SINK_TOPICS = sorted(TOPIC_RECORDS)


@FUZZ
@given(st.sampled_from(SINK_TOPICS), keys, values)
def test_the_sink_turns_anything_into_rows_or_one_dead_letter(topic, key, value):
    rows = Rows("ecmon")
    rows.add_message(topic, 2, 11, key, value)
    dead = rows.tables.get(("ecmon", "dead_letters"), [])
    written = {k: v for k, v in rows.tables.items() if k != ("ecmon", "dead_letters")}
    if TOPIC_RECORDS[topic] == "dead_letter" and not rows.rejected:
        return  # a well-formed dead letter of the worker (known reason, a detail), written to the same table
    assert bool(dead) != bool(written), (dead, written)
    for row in dead:
        values_ = dict(zip(COLUMNS["dead_letters"], row))
        assert values_["reason"] in REASONS and values_["detail"].strip()
        assert values_["source_topic"] == topic and values_["source_offset"] == 11
        assert len(values_["payload"]) <= PAYLOAD_LIMIT
    assert sum(rows.rejected.values()) == len(dead)


@pytest.mark.parametrize("topic, key, value, reason", [
    (topics.REGISTRY.name, USCC.encode(), None, "tombstone"),  # an operator's deletion: recorded, not an error
    (topics.REGISTRY.name, None, None, "null_value"),
    (topics.AGGREGATES.name, b"350000", None, "null_value"),
    (topics.DEAD_LETTERS.name, b"k", None, "null_value"),
    (topics.REGISTRY.name, USCC.encode(), MESSAGES["aggregate_batch"], "unexpected_record_type"),
    (topics.AGGREGATES.name, b"k", MESSAGES["enterprise_record"], "unexpected_record_type"),
    # as the worker
    (topics.REGISTRY.name, b"91110000MA0000000X", MESSAGES["enterprise_record"], "invalid_registry_record"),
    (topics.NORMALISED_READINGS.name, USCC.encode(), b"\xc3\x01" + bytes(5 << 20), "message_too_large"),
])
def test_the_sink_names_what_is_wrong(topic, key, value, reason):
    rows = Rows("ecmon")
    rows.add_message(topic, 0, 5, key, value)
    (row,) = rows.tables[("ecmon", "dead_letters")]
    values_ = dict(zip(COLUMNS["dead_letters"], row))
    assert values_["reason"] == reason
    if value is not None and len(value) > PAYLOAD_LIMIT:
        assert len(values_["payload"]) == PAYLOAD_LIMIT and "truncated" in values_["detail"]
    assert set(rows.tables) == {("ecmon", "dead_letters")}  # nothing else written


def test_every_topic_the_sink_reads_has_its_record_type():
    from ecmon_sink.writer import SINK_TOPICS as NAMES

    assert {spec.name for spec in NAMES} == set(TOPIC_RECORDS)


# -- the sink refuses the registry records the worker refuses (review defect C) -------------------------------


def _registry_record(**changes) -> dict:
    from ecmon import signing

    key = signing.public_key_raw(signing.generate_private_key())
    return {"uscc": USCC, "name": "Fuzhou Steel", "region_code": "350102", "industry_code": "3110",
            "tier": "NATIONAL_KEY", "key_id": "k1", "valid_from": 0,
            "meters": [{"meter_id": "E-01", "energy_type": "electricity", "unit": "kWh", "interval_s": 900}],
            "public_keys": [{"key_id": "k1", "algorithm": "ed25519", "public_key": key, "valid_from": 0,
                             "valid_until": None, "revoked_at": None}],
            "registry_signature": b"", **changes}


def _sink_and_worker_verdicts(key: bytes, value: bytes, authority_public: bytes) -> tuple[Rows, object]:
    from ecmon_worker.registry_records import read_registry_record

    rows = Rows("ecmon", authority_public)
    rows.add_message(topics.REGISTRY.name, 0, 5, key, value)
    return rows, read_registry_record(key, value, authority_public)


def test_the_sink_refuses_registry_records_as_the_worker_does():
    from ecmon import signing

    authority = signing.generate_private_key()
    public = signing.public_key_raw(authority)
    good = _registry_record()
    cases = {
        "unsigned": codec.encode("enterprise_record", good),
        "signed by another authority": codec.encode(
            "enterprise_record", signing.sign_registry_record(good, signing.generate_private_key())),
        "empty region": codec.encode("enterprise_record",
                                     signing.sign_registry_record(_registry_record(region_code=""), authority)),
        "key of another enterprise": codec.encode(
            "enterprise_record", signing.sign_registry_record(_registry_record(key_id="k-of-B"), authority)),
        "v1": MESSAGES["enterprise_record"],
    }
    for what, value in cases.items():
        rows, worker = _sink_and_worker_verdicts(USCC.encode(), value, public)
        assert isinstance(worker, admission.Rejection), what
        (row,) = rows.tables[("ecmon", "dead_letters")]
        assert dict(zip(COLUMNS["dead_letters"], row))["reason"] == worker.reason, what
        assert set(rows.tables) == {("ecmon", "dead_letters")}, what  # no enterprises row anywhere
    rows, worker = _sink_and_worker_verdicts(
        USCC.encode(), codec.encode("enterprise_record", signing.sign_registry_record(good, authority)), public)
    assert not isinstance(worker, admission.Rejection)
    assert ("ecmon", "enterprises") in rows.tables and ("ecmon", "dead_letters") not in rows.tables


def test_a_sink_without_the_authority_key_stores_no_registry_record():
    from ecmon import signing

    authority = signing.generate_private_key()
    value = codec.encode("enterprise_record", signing.sign_registry_record(_registry_record(), authority))
    rows = Rows("ecmon")
    rows.add_message(topics.REGISTRY.name, 0, 5, USCC.encode(), value)
    (row,) = rows.tables[("ecmon", "dead_letters")]
    assert dict(zip(COLUMNS["dead_letters"], row))["reason"] == "unsigned_registry_record"
