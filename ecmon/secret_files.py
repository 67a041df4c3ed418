"""Password files of the local stack: one JSON object ``{key: {"username": ..., "password": ...}}`` per
service (Kafka, ClickHouse, the Prometheus and Alertmanager web endpoints), mode 0600 in a 0700 directory.

`ecmon stack up` creates them on first start with a random password per entry; no password of the stack
is in the repository. An existing entry is never changed (a server was configured with it); an entry the
file lacks (a user added since) is added.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


class SecretMissing(RuntimeError):
    """A process needs a password the secrets file does not hold."""


def ensure_password_file(path: Path, usernames: dict[str, str]) -> dict[str, dict[str, str]]:
    """The entries of ``path`` after adding a random password for every key of ``usernames`` it lacks."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    entries: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    missing = {key: name for key, name in usernames.items() if key not in entries}
    if not missing and path.exists():
        return entries
    for key, name in missing.items():
        entries[key] = {"username": name, "password": secrets.token_urlsafe(24)}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(entries, out, indent=2)
    os.replace(tmp, path)
    return entries


def entry_from_file(path: Path, key: str, what: str, fix: str = "start the local stack (ecmon stack up)",
                    error: type[Exception] = SecretMissing) -> dict[str, str]:
    """The ``{"username", "password"}`` entry of ``key`` in ``path``; ``what`` names the service and ``fix`` says
    what to do, in the one-line ``error`` raised when the file or the entry is missing."""
    try:
        entry = json.loads(path.read_text())[key]
        return {"username": entry["username"], "password": entry["password"]}
    except FileNotFoundError:
        raise error(f"{what} needs a password and there is no secrets file {path}; {fix}") from None
    except (KeyError, ValueError, TypeError):
        raise error(f"the {what} secrets file {path} has no entry for {key!r}; `ecmon stack up` adds it") from None


def password_from_file(path: Path, key: str, what: str) -> str:
    """The password of ``key`` in ``path``; ``what`` names the service in the error (one line, with the fix)."""
    return entry_from_file(path, key, what)["password"]
