"""Basic-auth credentials of the Prometheus and Alertmanager web endpoints (docs/security.md).

Both servers refuse unauthenticated requests (``--web.config.file`` with a bcrypt hash). Every client of
ecmon (`ecmon stack status`, the demo, the tests) authenticates with ``web_auth(settings)``:
``ECMON_WEB_USERNAME``/``ECMON_WEB_PASSWORD`` if set, else the operator entry of
``<state_dir>/secrets/web-users.json``, which `ecmon stack up` generates (0600).
"""

from __future__ import annotations

from ecmon.secret_files import entry_from_file
from ecmon.settings import Settings

#: The one web user of the local stack: operators, Prometheus itself (alerting, self-scrape) and the tests.
OPERATOR = "operator"
OPERATOR_USERNAME = "ecmon-operator"


def web_auth(settings: Settings) -> tuple[str, str]:
    """(username, password) for Prometheus and Alertmanager, as httpx's ``auth=`` takes it."""
    if settings.web_username and settings.web_password:
        return settings.web_username, settings.web_password
    entry = entry_from_file(settings.web_secrets_path, OPERATOR, "Prometheus and Alertmanager",
                            fix="start the stack (ecmon stack up) or set ECMON_WEB_USERNAME and ECMON_WEB_PASSWORD")
    return entry["username"], entry["password"]


def bcrypt_hash(password: str) -> str:
    """The hash Prometheus' and Alertmanager's web config takes (basic_auth_users)."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
