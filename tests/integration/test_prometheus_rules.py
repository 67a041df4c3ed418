"""The alert rules and the Alertmanager routing, checked with Prometheus' own tools.

promtool and amtool come with the Debian packages prometheus and prometheus-alertmanager, which
`make install` installs; no running stack is needed. `make check-alerts` runs the same three checks.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ecmon import PROJECT_ROOT

PROM = PROJECT_ROOT / "deploy" / "prometheus"
RULES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))
ALERTMANAGER = PROM / "alertmanager.yml"


def run(*args: str | Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_rule_files_exist():
    assert RULES and RULE_TESTS


def test_promtool_check_rules():
    run("promtool", "check", "rules", *RULES)


def test_promtool_test_rules():
    run("promtool", "test", "rules", *RULE_TESTS)


def test_amtool_check_config():
    run("amtool", "check-config", ALERTMANAGER)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        # platform warnings and pages (no province)
        (["alertname=DeadLetterRateHigh", "severity=warning"], "national-operations"),
        (["alertname=SinkDown", "severity=critical"], "national-oncall"),
        # provincial alerts go to the province; critical ones also page nationally
        (["alertname=EnterpriseSilent", "province=210000", "severity=warning"], "province-210000-liaoning"),
        (["alertname=RegionalEarlyWarning", "province=370000", "severity=critical"],
         "province-370000-shandong,national-oncall"),
        (["alertname=ProvinceCompletenessLow", "province=440000", "severity=warning"], "provincial-operations"),
    ],
)
def test_alertmanager_routes_by_province_and_severity(labels, receivers):
    proc = run("amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert proc.stdout.strip() == receivers


def _render_local_prometheus_config(tmp_path: Path) -> Path:
    """deploy/prometheus/prometheus.yml as `ecmon stack up` renders it, on throwaway ports."""
    config = (PROM / "prometheus.yml").read_text()
    for key, value in {
        "host": "127.0.0.1",
        "alertmanager_port": 22190,
        "prometheus_port": 22090,
        "rules_dir": PROM / "rules",
        "targets_dir": tmp_path / "targets",
        "web_username": '"ecmon-operator"',
        "web_password": '"not-a-real-password"',
    }.items():
        config = config.replace("{" + key + "}", str(value))
    out = tmp_path / "prometheus.yml"
    out.write_text(config)
    return out


def test_local_stack_prometheus_config_loads_the_rules(tmp_path):
    proc = run("promtool", "check", "config", _render_local_prometheus_config(tmp_path))
    assert f"SUCCESS: {len(RULES)} rule files found" in proc.stdout


def test_compose_prometheus_config_is_valid(tmp_path):
    config = (PROJECT_ROOT / "deploy" / "compose" / "prometheus.yml").read_text()
    out = tmp_path / "prometheus.yml"
    out.write_text(config.replace("/etc/prometheus/rules", str(PROM / "rules")))
    run("promtool", "check", "config", out)
