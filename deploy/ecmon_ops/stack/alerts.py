"""Alerts as the local Alertmanager holds them: what an operator would see on its page."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from ecmon.settings import Settings
from ecmon.web_auth import web_auth


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    labels: dict[str, str]
    summary: str
    starts_at: str


def alertmanager_alerts(settings: Settings) -> list[Alert]:
    url = f"http://{settings.host}:{settings.alertmanager_port}/api/v2/alerts"
    alerts = []
    for a in httpx.get(url, params={"active": "true"}, auth=web_auth(settings), timeout=5).json():
        labels = a["labels"]
        alerts.append(Alert(labels.get("alertname", "?"), labels.get("severity", ""), labels,
                            a.get("annotations", {}).get("summary", ""), a.get("startsAt", "")))
    return alerts


def prometheus_firing(settings: Settings) -> set[str]:
    url = f"http://{settings.host}:{settings.prometheus_port}/api/v1/alerts"
    data = httpx.get(url, auth=web_auth(settings), timeout=5).json()["data"]["alerts"]
    return {a["labels"]["alertname"] for a in data if a["state"] == "firing"}


def wait_until_scraped(settings: Settings, role: str, pid: int, timeout: float = 60.0) -> bool:
    """Wait until Prometheus has scraped process ``pid`` at least twice.

    Rules built on increase() need a sample from before the first change: a counter that
    Prometheus meets for the first time already moved shows no increase.
    """
    url = f"http://{settings.host}:{settings.prometheus_port}/api/v1/query"
    query = f'count_over_time(up{{job="ecmon",role="{role}",instance_pid="{pid}"}}[1m])'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, params={"query": query}, auth=web_auth(settings), timeout=5)
            result = response.json()["data"]["result"]
        except httpx.HTTPError:
            result = []
        if result and float(result[0]["value"][1]) >= 2:
            return True
        time.sleep(1)
    return False


def wait_for_alert(settings: Settings, name: str, timeout: float) -> list[Alert]:
    """Wait until Alertmanager has received alert ``name`` from Prometheus; returns all its active alerts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            alerts = alertmanager_alerts(settings)
        except httpx.HTTPError:
            alerts = []
        if any(a.name == name for a in alerts) or time.monotonic() > deadline:
            return alerts
        time.sleep(1)
