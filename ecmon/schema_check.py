"""The rules of the wire contract in ``avro/``, checked before anything ships (`ecmon schemas check`).

1. **Evolution.** A schema present in version ``vN`` and in an earlier version must be both
   *backward* compatible (a reader with the new schema reads data the old schema wrote) and
   *forward* compatible (a reader with the old schema reads data the new schema writes) with the
   latest earlier version that has it. Gateways are upgraded by third parties on their own
   schedule, so for a while both versions are on the wire, and old consumers read new data.
   The Avro schema-resolution rules are implemented here over the parsed schemas, and each pair is
   *also* proven with fastavro by writing generated sample records with one schema and reading
   them with the other, in both directions. The rules give the reason a person can act on; the
   round trip makes sure the rules did not miss what the real decoder does.
2. **Released versions are immutable.** ``avro/released.json`` maps ``"v1/reading_batch.avsc"`` to
   the sha256 of the file's bytes. A released file whose bytes changed (or which is gone) fails
   the check, naming the file. `ecmon schemas release` records the files of the newest version.
3. **Contract details the code relies on.** ``signing.unsigned_message`` splices the signature
   out of a reading batch by position, so every version of ``reading_batch`` starts with the
   same seven fields in the same order.

One stricter rule than Avro's: a field may not change its logical type (``long`` to
``timestamp-micros`` reads fine and means something else).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from ecmon.codec import AVRO_DIR as AVRO_DIR  # re-exported: the default root of check and release
from ecmon.codec import crc64_avro, strip_logical_types

MANIFEST = "released.json"
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
#: Avro's promotions: (writer type, reader type) pairs a reader resolves.
PROMOTIONS = frozenset({
    ("int", "long"), ("int", "float"), ("int", "double"),
    ("long", "float"), ("long", "double"),
    ("float", "double"),
    ("string", "bytes"), ("bytes", "string"),
})

#: Fields every version of a schema must start with, in this order, with these Avro types.
FIXED_FIELD_PREFIX: dict[str, tuple[tuple[str, str], ...]] = {
    "reading_batch": (
        ("uscc", "string"), ("gateway_id", "string"), ("batch_id", "string"), ("sequence", "long"),
        ("sent_at", "long"), ("key_id", "string"), ("signature", "bytes"),
    ),
}

_SAMPLE_VARIANTS_MAX = 16


class SchemaSyntaxError(ValueError):
    """A schema file that is not a valid Avro schema."""


class ReleaseRefused(RuntimeError):
    """`ecmon schemas release` would record something it must not."""


# --------------------------------------------------------------------------------------------
# Files, versions, fingerprints, the release manifest


@dataclass(frozen=True)
class SchemaFile:
    short_name: str  # the file stem, e.g. reading_batch
    version: int
    path: Path
    relpath: str  # "v1/reading_batch.avsc", the key in released.json
    raw: Any  # the parsed JSON, None when it is not JSON
    error: str = ""  # why the file is not JSON


def version_dirs(root: Path) -> dict[int, Path]:
    """``v<N>`` directories under ``root`` by N."""
    out = {}
    for p in root.iterdir() if root.is_dir() else ():
        m = _VERSION_DIR.match(p.name)
        if m and p.is_dir():
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def schema_files(root: Path) -> list[SchemaFile]:
    """Every ``v<N>/<name>.avsc`` under ``root``, oldest version first."""
    files = []
    for version, vdir in version_dirs(root).items():
        for path in sorted(vdir.glob("*.avsc")):
            rel = f"{vdir.name}/{path.name}"
            try:
                files.append(SchemaFile(path.stem, version, path, rel, json.loads(path.read_bytes())))
            except ValueError as exc:
                files.append(SchemaFile(path.stem, version, path, rel, None, f"not valid JSON: {exc}"))
    return files


def fingerprint(raw: Any) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint of the Parsing Canonical Form, as on the wire."""
    return crc64_avro(to_parsing_canonical_form(fastavro.parse_schema(raw)).encode()).to_bytes(8, "little")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()))


def _write_manifest(root: Path, manifest: dict[str, str]) -> None:
    (root / MANIFEST).write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# Schemas as trees with named types resolved (so records inside arrays, maps and unions, and
# references by name, are all walked the same way)


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def expand(raw: Any, namespace: str | None = None, names: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A tree of dicts with ``kind``; named types appear once per definition and by identity after."""
    names = {} if names is None else names
    if isinstance(raw, str):
        if raw in PRIMITIVES:
            return {"kind": raw, "logical": None}
        full = _fullname(raw, namespace)
        if full in names:
            return names[full]
        if raw in names:
            return names[raw]
        raise SchemaSyntaxError(f"unknown type name {raw!r}")
    if isinstance(raw, list):
        return {"kind": "union", "branches": [expand(b, namespace, names) for b in raw]}
    if not isinstance(raw, dict) or "type" not in raw:
        raise SchemaSyntaxError(f"not an Avro schema: {raw!r}")
    kind = raw["type"]
    if not isinstance(kind, str):  # {"type": {...}} or {"type": [...]}: a wrapped schema
        return expand(kind, namespace, names)
    logical = raw.get("logicalType")
    if kind in PRIMITIVES:
        return {"kind": kind, "logical": logical}
    if kind in ("record", "error", "enum", "fixed"):
        full = _fullname(raw["name"], raw.get("namespace", namespace))
        ns = full.rsplit(".", 1)[0] if "." in full else None
        node: dict[str, Any] = {
            "kind": "record" if kind == "error" else kind,
            "name": _short(full),
            "fullname": full,
            "aliases": {_short(a) for a in raw.get("aliases", [])},
            "logical": logical,
        }
        names[full] = node  # before the fields: a record may refer to itself
        if kind in ("record", "error"):
            node["fields"] = [
                {
                    "name": f["name"],
                    "aliases": set(f.get("aliases", [])),
                    "has_default": "default" in f,
                    "default": f.get("default"),
                    "type": expand(f["type"], ns, names),
                }
                for f in raw["fields"]
            ]
        elif kind == "enum":
            node["symbols"] = list(raw["symbols"])
            node["default"] = raw.get("default")
        else:
            node["size"] = raw["size"]
        return node
    if kind == "array":
        return {"kind": "array", "items": expand(raw["items"], namespace, names)}
    if kind == "map":
        return {"kind": "map", "values": expand(raw["values"], namespace, names)}
    return expand(kind, namespace, names)  # {"type": "cn.ecmon.v1.Quality"}: a reference


def describe(node: dict[str, Any]) -> str:
    if node["kind"] in ("record", "enum", "fixed"):
        return f"{node['kind']} {node['name']}"
    if node["kind"] == "union":
        return "[" + ", ".join(describe(b) for b in node["branches"]) + "]"
    if node["kind"] == "array":
        return f"array<{describe(node['items'])}>"
    if node["kind"] == "map":
        return f"map<{describe(node['values'])}>"
    kind: str = node["kind"]
    return kind + (f" ({node['logical']})" if node.get("logical") else "")


# --------------------------------------------------------------------------------------------
# The Avro resolution rules


def _names_match(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    return reader["name"] == writer["name"] or writer["name"] in reader["aliases"]


def _branch_matches(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    """Whether a reader union branch is the one the spec picks for this writer schema."""
    rk, wk = reader["kind"], writer["kind"]
    if rk in ("record", "enum", "fixed"):
        return rk == wk and _names_match(reader, writer)
    return rk == wk or (wk, rk) in PROMOTIONS


def resolution_problems(reader: Any, writer: Any) -> list[str]:
    """Why a reader with schema ``reader`` cannot read data written with schema ``writer`` ([] = it can).

    Both are raw (JSON) schemas. Each problem names the path of the field, e.g.
    ``ReadingBatch.readings[].quality``.
    """
    problems: list[str] = []
    r, w = expand(reader), expand(writer)
    _resolve(r, w, r.get("name", describe(r)), problems, set())
    return problems


def _resolve(r: dict[str, Any], w: dict[str, Any], path: str, out: list[str], seen: set[tuple[int, int]]) -> None:
    if w["kind"] == "union":
        # Any branch may be on the wire, so the reader must resolve every one of them.
        for branch in w["branches"]:
            _resolve(r, branch, f"{path}<{describe(branch)}>" if r["kind"] != "union" else path, out, seen)
        return
    if r["kind"] == "union":
        for branch in r["branches"]:
            if _branch_matches(branch, w):
                _resolve(branch, w, path, out, seen)
                return
        out.append(f"{path}: the writer's {describe(w)} is not among the reader's union {describe(r)}")
        return
    rk, wk = r["kind"], w["kind"]
    if rk != wk:
        if (wk, rk) not in PROMOTIONS:
            out.append(
                f"{path}: type changed from {describe(w)} (writer) to {describe(r)} (reader); "
                "only Avro promotions int->long->float->double and string<->bytes resolve"
            )
        elif r.get("logical") or w.get("logical"):
            out.append(f"{path}: logical type changed from {describe(w)} to {describe(r)}")
        return
    if rk in PRIMITIVES:
        if r.get("logical") != w.get("logical"):
            out.append(f"{path}: logical type changed from {describe(w)} to {describe(r)} (same bytes, other meaning)")
        return
    if rk == "array":
        _resolve(r["items"], w["items"], f"{path}[]", out, seen)
        return
    if rk == "map":
        _resolve(r["values"], w["values"], f"{path}{{}}", out, seen)
        return
    if not _names_match(r, w):
        out.append(f"{path}: {w['kind']} {w['name']} (writer) is not {r['name']} (reader), "
                   "and is not among its aliases")
        return
    if rk == "fixed":
        if r["size"] != w["size"]:
            out.append(f"{path}: fixed {r['name']} changed size from {w['size']} to {r['size']}")
        return
    if rk == "enum":
        missing = [s for s in w["symbols"] if s not in r["symbols"]]
        if missing and r.get("default") is None:
            out.append(
                f"{path}: enum {r['name']} of the reader lacks symbol(s) {', '.join(missing)} that the writer may "
                "send, and the reader's enum has no default (give the enum a \"default\" symbol)"
            )
        return
    # records
    key = (id(r), id(w))
    if key in seen:
        return
    seen.add(key)
    by_name = {f["name"]: f for f in w["fields"]}
    for rf in r["fields"]:
        wf = by_name.get(rf["name"]) or next((by_name[a] for a in rf["aliases"] if a in by_name), None)
        if wf is not None:
            _resolve(rf["type"], wf["type"], f"{path}.{rf['name']}", out, seen)
        elif not rf["has_default"]:
            out.append(
                f"{path}.{rf['name']}: the reader expects field {rf['name']!r} that the writer does not write, "
                "and the reader's field has no default"
            )


def prefix_problems(short_name: str, raw: Any) -> list[str]:
    """The fixed leading fields of ``FIXED_FIELD_PREFIX`` (the signature splice relies on them)."""
    prefix = FIXED_FIELD_PREFIX.get(short_name)
    if not prefix:
        return []
    fields = expand(raw).get("fields", [])
    actual = [(f["name"], f["type"]["kind"]) for f in fields[: len(prefix)]]
    if actual != list(prefix):
        want = ", ".join(f"{n}: {t}" for n, t in prefix)
        return [f"{short_name} must start with the fields ({want}) in this order (ecmon.signing relies on it)"]
    return []


# --------------------------------------------------------------------------------------------
# The proof by fastavro: generated samples written with one schema, read with the other


def _variants(node: dict[str, Any], seen: set[int] | None = None) -> int:
    """How many samples it takes to use every enum symbol and union branch at least once."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return 1
    seen.add(id(node))
    kind = node["kind"]
    if kind == "enum":
        return len(node["symbols"])
    if kind == "union":
        return max([len(node["branches"]), *(_variants(b, seen) for b in node["branches"])])
    if kind == "array":
        return _variants(node["items"], seen)
    if kind == "map":
        return _variants(node["values"], seen)
    if kind == "record":
        return max([1, *(_variants(f["type"], seen) for f in node["fields"])])
    return 1


def sample(node: dict[str, Any], variant: int, depth: int = 0) -> Any:
    """A value of ``node`` (an expanded schema); different variants pick different symbols and branches."""
    kind = node["kind"]
    if kind == "null":
        return None
    if kind == "boolean":
        return variant % 2 == 0
    if kind == "int":
        return 7 + variant
    if kind == "long":
        return 1_790_000_000_000 + variant
    if kind in ("float", "double"):
        return 1.5 + variant
    if kind == "bytes":
        return bytes([variant % 256, 0xC3, 0x01])
    if kind == "string":
        return str(uuid.UUID(int=variant + 1)) if node.get("logical") == "uuid" else f"s{variant}"
    if kind == "enum":
        return node["symbols"][variant % len(node["symbols"])]
    if kind == "fixed":
        return bytes([variant % 256]) * node["size"]
    if kind == "array":
        return [] if depth > 6 else [sample(node["items"], variant + i, depth + 1) for i in range(2)]
    if kind == "map":
        return {} if depth > 6 else {f"k{variant}": sample(node["values"], variant, depth + 1)}
    if kind == "union":
        branches = node["branches"]
        if depth > 6:  # recursive schemas: end with a branch that does not nest
            branches = [b for b in branches if b["kind"] not in ("record", "array", "map")] or branches
        return sample(branches[variant % len(branches)], variant, depth + 1)
    return {f["name"]: sample(f["type"], variant + i, depth + 1) for i, f in enumerate(node["fields"])}


def round_trip_problems(writer: Any, reader: Any, label: str = "") -> list[str]:
    """Write generated samples with ``writer`` and read them with ``reader`` through fastavro."""
    w_parsed = fastavro.parse_schema(strip_logical_types(writer))
    r_parsed = fastavro.parse_schema(strip_logical_types(reader))
    w_tree = expand(writer)
    failures: dict[str, list[int]] = {}  # one line per distinct failure, naming the samples
    for variant in range(min(_variants(w_tree), _SAMPLE_VARIANTS_MAX)):
        record = sample(w_tree, variant)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, w_parsed, record)
        size = buf.tell()
        buf.seek(0)
        try:
            fastavro.schemaless_reader(buf, w_parsed, r_parsed)
        except Exception as exc:  # fastavro raises SchemaResolutionError, but also others on garbled reads
            failures.setdefault(f"{type(exc).__name__}: {exc}", []).append(variant)
            continue
        if buf.tell() != size:
            failures.setdefault(f"read {buf.tell()} of {size} bytes", []).append(variant)
    return [
        f"{label}fastavro failed on sample(s) {', '.join(map(str, variants))}: {message}"
        for message, variants in failures.items()
    ]


def pair_problems(old: SchemaFile, new: SchemaFile) -> list[str]:
    """Backward and forward compatibility of ``new`` with ``old``, by the rules and by round trip."""
    o, n = f"v{old.version}", f"v{new.version}"
    problems = [f"backward ({n} reader, {o} data): {p}" for p in resolution_problems(new.raw, old.raw)]
    problems += [f"forward ({o} reader, {n} data): {p}" for p in resolution_problems(old.raw, new.raw)]
    problems += round_trip_problems(old.raw, new.raw, f"backward round trip ({o} writer -> {n} reader): ")
    problems += round_trip_problems(new.raw, old.raw, f"forward round trip ({n} writer -> {o} reader): ")
    return problems


# --------------------------------------------------------------------------------------------
# The whole check


@dataclass
class Entry:
    """One schema file's line in the report."""

    relpath: str
    short_name: str
    version: int
    fingerprint: str  # hex as on the wire, "" when the schema does not parse
    status: str  # released | unreleased | EDITED | DELETED | INCOMPATIBLE | INVALID
    problems: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    root: Path
    entries: list[Entry]

    @property
    def problems(self) -> list[str]:
        return [f"{e.relpath}: {p}" for e in self.entries for p in e.problems]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(root: Path = AVRO_DIR) -> CheckReport:
    """Every rule of the contract over the schema tree at ``root`` (e.g. ``avro/``)."""
    root = Path(root)
    manifest = load_manifest(root)
    entries: list[Entry] = []
    files = schema_files(root)
    newest = max((f.version for f in files), default=0)
    latest: dict[str, SchemaFile] = {}  # short name -> the newest valid version seen so far
    for f in files:
        entry = Entry(f.relpath, f.short_name, f.version, "", "released" if f.relpath in manifest else "unreleased")
        entries.append(entry)
        if f.relpath in manifest:
            actual = sha256_file(f.path)
            if actual != manifest[f.relpath]:
                entry.status = "EDITED"
                entry.problems.append(
                    f"released file was edited (sha256 {actual[:12]}..., released as {manifest[f.relpath][:12]}...): "
                    f"a released version must never change; restore it and put the change in v{newest + 1}/"
                )
        elif f.version < newest:
            entry.problems.append(
                f"v{f.version} is not the newest version, and this file was never released: "
                f"new schemas go into v{newest}/ and are released from there"
            )
        if f.error:
            entry.status = "INVALID"
            entry.problems.append(f.error)
            continue
        try:
            entry.fingerprint = fingerprint(f.raw).hex()
            tree = expand(f.raw)
        except Exception as exc:  # fastavro reports invalid schemas with several exception types
            entry.status = "INVALID"
            entry.problems.append(f"not a valid Avro schema: {exc}")
            continue
        if tree["kind"] != "record":
            entry.status = "INVALID"
            entry.problems.append("a message schema must be a record")
            continue
        entry.problems += prefix_problems(f.short_name, f.raw)
        previous = latest.get(f.short_name)
        if previous is not None:
            evolution = pair_problems(previous, f)
            if evolution and entry.status != "EDITED":
                entry.status = "INCOMPATIBLE"
            entry.problems += evolution
        latest[f.short_name] = f
    present = {f.relpath for f in files}
    for rel in sorted(set(manifest) - present):
        entries.append(Entry(rel, Path(rel).stem, int(rel.split("/")[0][1:] or 0), "", "DELETED",
                             ["released file is gone: a released version must never change; restore it"]))
    return CheckReport(root, entries)


@dataclass(frozen=True)
class Released:
    relpath: str
    sha256: str
    new: bool  # False when it was already recorded with this hash


def release(root: Path = AVRO_DIR) -> list[Released]:
    """Record the sha256 of every file of the newest version directory in ``released.json``.

    Refuses (``ReleaseRefused``) when the check fails, or when a recorded hash would change.
    """
    root = Path(root)
    dirs = version_dirs(root)
    if not dirs:
        raise ReleaseRefused(f"no version directory (v1/, v2/, ...) under {root}")
    report = check(root)
    if not report.ok:
        raise ReleaseRefused("the schemas do not pass the check:\n  " + "\n  ".join(report.problems))
    newest = dirs[max(dirs)]
    manifest = load_manifest(root)
    out = []
    for path in sorted(newest.glob("*.avsc")):
        rel = f"{newest.name}/{path.name}"
        digest = sha256_file(path)
        if rel in manifest and manifest[rel] != digest:
            raise ReleaseRefused(f"{rel} is already released with another sha256; released files never change")
        out.append(Released(rel, digest, rel not in manifest))
        manifest[rel] = digest
    if not out:
        raise ReleaseRefused(f"{newest} has no .avsc files")
    _write_manifest(root, manifest)
    return out
