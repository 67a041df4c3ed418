"""The deployment files agree with the code.

Compose, Kubernetes, Grafana and the Prometheus rules are not run in CI (no Docker engine), so they are
parsed here and checked against the single declarations in the code: topics (ecmon/topics.py), default
ports (ecmon/settings.py, ecmon/observability.py) and metric names (ecmon/metric_defs.py).
When a test here fails, fix the deployment file it names (or the code, if the file is right).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from ecmon import PROJECT_ROOT, metric_defs, topics
from ecmon.kafka_clients import MECHANISM, usernames
from ecmon.observability import ROLE_OFFSETS
from ecmon.principals import ADMIN_USER, BROKER_USER, ROLES, SIMULATOR_ROLES, SUPER_USERS, principals
from ecmon.settings import Settings
from ecmon_ops.stack.credentials import KAFKA_PASSWORD_FILE

DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
K8S_DIR = DEPLOY / "k8s"
GRAFANA_DIR = DEPLOY / "grafana"
PROM_DIR = DEPLOY / "prometheus"

ALERTS = {
    "EnterpriseSilent", "ProvinceCompletenessLow", "RegionalEarlyWarning", "DeadLetterRateHigh",
    "ConsumerLagGrowing", "SinkFailing", "WorkerDown", "SinkDown", "KafkaBrokerDown", "UnreadableInputArriving",
}
PROVINCIAL_ALERTS = {"EnterpriseSilent", "ProvinceCompletenessLow", "RegionalEarlyWarning"}
# Labels Prometheus attaches to every scraped series (file_sd / dns_sd / kubernetes_sd relabelling).
TARGET_LABELS = {"job", "instance", "role", "instance_pid", "pod"}
SCALED_ROLES = ("worker", "sink")


# -- what the code declares ---------------------------------------------------------------------------

def _metrics() -> dict[str, MetricWrapperBase]:
    return {m._name: m for m in vars(metric_defs).values() if isinstance(m, MetricWrapperBase)}


def _exposed_names() -> dict[str, MetricWrapperBase]:
    """Every series name the metrics produce, e.g. ecmon_dead_letters_total, ecmon_sink_batch_rows_bucket."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    out = {}
    for name, metric in _metrics().items():
        for suffix in suffixes.get(metric._type, ("",)):
            out[name + suffix] = metric
    return out


def _default(field: str):
    return Settings.model_fields[field].default


def _metrics_port(role: str) -> int:
    return _default("metrics_port_base") + ROLE_OFFSETS[role]


def _env_names() -> set[str]:
    """ECMON_* variables the code understands: Settings fields and names read directly from the environment."""
    names = {f"ECMON_{field.upper()}" for field in Settings.model_fields}
    for source in PROJECT_ROOT.glob("ecmon/*.py"):
        names |= set(re.findall(r"['\"](ECMON_[A-Z_]+)['\"]", source.read_text()))
    return names


def _kafka_version() -> str:
    return re.search(r"<kafka.version>(.+?)</kafka.version>", (DEPLOY / "kafka" / "pom.xml").read_text()).group(1)


def _clickhouse_tables() -> set[str]:
    sql = "\n".join(p.read_text() for p in (PROJECT_ROOT / "sinks" / "ecmon_sink" / "migrations").glob("*.sql"))
    return set(re.findall(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)", sql))


def _topic_expectations() -> dict[str, tuple[int, dict[str, str]]]:
    return {t.name: (t.partitions, t.kafka_config(min_insync=2)) for t in topics.all_topics(_default("worker_app_id"))}


# -- PromQL, just enough ----------------------------------------------------------------------------------

def _check_promql(expr: str, where: str) -> list[str]:
    """Unknown ecmon metric names, and label names no referenced metric has."""
    exposed = _exposed_names()
    problems = []
    used = set(re.findall(r"\b(ecmon_[a-z0-9_]+)\b", expr))
    known_labels = set(TARGET_LABELS) | {"le"}
    for name in used:
        if name not in exposed:
            problems.append(f"{where}: metric {name} is not declared in ecmon/metric_defs.py")
        else:
            known_labels |= set(exposed[name]._labelnames)
    for name, matchers in re.findall(r"\b(ecmon_[a-z0-9_]+)\{([^}]*)\}", expr):
        for label in re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", matchers):
            if name in exposed and label not in set(exposed[name]._labelnames) | TARGET_LABELS:
                problems.append(f"{where}: {name} has no label {label!r}")
    if used:
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            for label in filter(None, (x.strip() for x in group.split(","))):
                if label not in known_labels:
                    problems.append(f"{where}: grouping label {label!r} is on none of {sorted(used)}")
    return problems


def test_metric_names_follow_conventions():
    for name, metric in _metrics().items():
        assert name.startswith("ecmon_"), name
        assert metric._documentation.strip(), f"{name} needs help text"


# -- alert rules --------------------------------------------------------------------------------------

def _rule_files() -> list[Path]:
    return sorted((PROM_DIR / "rules").glob("*.yml"))


def _rules() -> list[tuple[Path, dict]]:
    return [(path, rule) for path in _rule_files()
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def test_every_alert_of_the_issue_has_a_rule():
    assert {rule["alert"] for _path, rule in _rules() if "alert" in rule} == ALERTS


def test_rules_use_declared_metrics_and_labels():
    problems = [p for path, rule in _rules() for p in _check_promql(rule["expr"], f"{path.name}:{rule.get('alert')}")]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_alerts_are_actionable(alert):
    for path, rule in _rules():
        if rule.get("alert") != alert:
            continue
        assert re.search(r"critical|warning", rule["labels"]["severity"]), f"{alert}: severity"
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip()
        # The description tells on-call what to run.
        assert re.search(r"\b(ecmon (stack|report|db|worker|sink)|kubectl|clickhouse-client)\b",
                         annotations["description"]), f"{path.name}:{alert} names no command to run"
        if alert in PROVINCIAL_ALERTS:
            assert re.search(r"by \([^)]*\bprovince\b", rule["expr"]), f"{alert} must keep the province label"


def test_every_alert_is_unit_tested_firing_and_not_firing():
    firing, quiet, tested_files = set(), set(), set()
    for path in sorted((PROM_DIR / "tests").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        tested_files |= {(path.parent / f).resolve() for f in doc["rule_files"]}
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert {p.resolve() for p in _rule_files()} <= tested_files, "a rules file has no promtool test file"
    assert ALERTS - firing == set(), f"no firing test for {ALERTS - firing}"
    assert ALERTS - quiet == set(), f"no not-firing test for {ALERTS - quiet}"


def test_alertmanager_routes_by_province_and_severity():
    route = yaml.safe_load((PROM_DIR / "alertmanager.yml").read_text())["route"]
    matchers = json.dumps(route["routes"])
    assert "province" in route["group_by"]
    assert "province" in matchers and "severity" in matchers


# -- docker compose -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())


def _published(service: dict) -> dict[int, int]:
    """container port -> host port; every published port must bind to 127.0.0.1."""
    out = {}
    for spec in service.get("ports", []):
        host_ip, host_port, container_port = str(spec).split(":")
        assert host_ip == "127.0.0.1", f"port {spec} must bind to 127.0.0.1"
        out[int(container_port)] = int(host_port)
    return out


def test_compose_runs_every_piece(compose):
    services = compose["services"]
    for name in ("clickhouse", "prometheus", "alertmanager", "grafana", "worker", "sink", "gateway", "migrate"):
        assert name in services, name
    images = {s.get("image", "").split(":")[0] for s in services.values()}
    assert {"clickhouse/clickhouse-server", "prom/prometheus", "prom/alertmanager", "grafana/grafana"} <= images
    for role in ("worker", "sink", "gateway", "migrate"):
        assert services[role]["build"]["dockerfile"] == "deploy/compose/Dockerfile"
    assert (COMPOSE_DIR / "Dockerfile").read_text().splitlines()[2] == "FROM python:3.11-slim"
    assert services["worker"]["command"] == ["worker"] and services["sink"]["command"] == ["sink"]
    assert services["worker"]["deploy"]["replicas"] <= topics.READINGS.partitions


def test_compose_kafka_is_three_kraft_brokers_on_the_default_ports(compose):
    brokers = sorted(n for n in compose["services"] if re.fullmatch(r"kafka-\d", n))
    assert brokers == ["kafka-1", "kafka-2", "kafka-3"]
    for i, name in enumerate(brokers, start=1):
        service = compose["services"][name]
        env = service["environment"]
        assert service["image"] == f"apache/kafka:{_kafka_version()}"
        assert env["KAFKA_NODE_ID"] == str(i)
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == ",".join(f"{j}@kafka-{j}:9093" for j in (1, 2, 3))
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        port = _default("kafka_port") + 2 * (i - 1)
        assert _published(service) == {port: port}
        assert f"EXTERNAL://127.0.0.1:{port}" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_servers_publish_the_default_ports(compose):
    services = compose["services"]
    assert _published(services["clickhouse"]) == {9000: _default("clickhouse_port"),
                                                  8123: _default("clickhouse_http_port")}
    assert _published(services["prometheus"]) == {9090: _default("prometheus_port")}
    assert _published(services["alertmanager"]) == {9093: _default("alertmanager_port")}
    for service in services.values():
        _published(service)  # every port on 127.0.0.1


def test_compose_ecmon_settings_exist(compose):
    known = _env_names()
    for name, service in compose["services"].items():
        for key in service.get("environment", {}) or {}:
            if key.startswith("ECMON_"):
                assert key in known, f"compose service {name}: {key} is not a setting (ecmon/settings.py)"
    env = compose["services"]["worker"]["environment"]
    assert env["ECMON_METRICS_PORT_BASE"] == str(_default("metrics_port_base"))
    assert env["ECMON_KAFKA_BOOTSTRAP"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"


def test_compose_creates_exactly_the_declared_topics():
    created = {}
    for line in (COMPOSE_DIR / "create-topics.sh").read_text().splitlines():
        if line.startswith("create "):
            _, name, partitions, policy, retention, *extra = line.split()
            config = {"cleanup.policy": policy, "min.insync.replicas": "2"}
            if retention != "-":
                config["retention.ms"] = retention
            config.update(kv.split("=", 1) for kv in extra)
            created[name] = (int(partitions), config)
    assert created == _topic_expectations()


def test_compose_prometheus_scrapes_every_role_with_the_rules(compose):
    config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "ecmon")
    ports = {sd["names"][0]: sd["port"] for sd in job["dns_sd_configs"]}
    assert ports == {role: _metrics_port(role) for role in SCALED_ROLES}
    assert any(r.get("target_label") == "role" for r in job["relabel_configs"])
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "../prometheus/rules:/etc/prometheus/rules:ro" in volumes
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    alertmanager_volumes = compose["services"]["alertmanager"]["volumes"]
    assert "../prometheus/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in alertmanager_volumes


# -- Kubernetes ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def k8s() -> list[dict]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def test_k8s_kafka_topics_match_the_declarations(k8s):
    declared = {}
    for topic in _kind(k8s, "KafkaTopic"):
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "ecmon"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", topic["metadata"]["name"])
        assert spec["replicas"] == 3
        declared[spec["topicName"]] = (spec["partitions"], {k: str(v) for k, v in spec["config"].items()})
    assert declared == _topic_expectations()


def test_k8s_kafka_cluster(k8s):
    (kafka,) = _kind(k8s, "Kafka")
    (pool,) = _kind(k8s, "KafkaNodePool")
    assert kafka["spec"]["kafka"]["version"] == _kafka_version()
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"broker", "controller"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False and config["min.insync.replicas"] == 2
    (env,) = [c for c in _kind(k8s, "ConfigMap") if c["metadata"]["name"] == "ecmon-env"]
    assert env["data"]["ECMON_KAFKA_BOOTSTRAP"].startswith(f"{kafka['metadata']['name']}-kafka-bootstrap:")


def test_k8s_workers_and_sinks(k8s):
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in _kind(k8s, "Deployment")}
    assert set(SCALED_ROLES) <= set(deployments)
    for role in SCALED_ROLES:
        spec = deployments[role]["spec"]
        assert spec["replicas"] <= topics.READINGS.partitions, f"{role}: more replicas than partitions sit idle"
        (container,) = spec["template"]["spec"]["containers"]
        assert container["args"] == [role]
        assert [p["containerPort"] for p in container["ports"]] == [_metrics_port(role)]
        assert spec["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == role


def test_k8s_ecmon_settings_exist(k8s):
    known = _env_names()
    for config_map in _kind(k8s, "ConfigMap"):
        if config_map["metadata"]["name"] == "ecmon-env":
            for key in config_map["data"]:
                assert key in known, f"ConfigMap ecmon-env: {key} is not a setting"
            assert config_map["data"]["ECMON_METRICS_PORT_BASE"] == str(_default("metrics_port_base"))
    for workload in _kind(k8s, "Deployment") + _kind(k8s, "Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for var in container.get("env", []):
                assert not var["name"].startswith("ECMON_") or var["name"] in known, var["name"]


def test_k8s_prometheus_jobs_match_the_rules(k8s):
    (scrape,) = [c for c in _kind(k8s, "ConfigMap") if c["metadata"]["name"] == "ecmon-prometheus-scrape"]
    jobs = {j["job_name"]: j for j in yaml.safe_load(scrape["data"]["scrape-configs.yml"])}
    assert set(jobs) == {"ecmon", "kafka"}
    assert any(r.get("target_label") == "role" for r in jobs["ecmon"]["relabel_configs"])
    rules_text = "\n".join(p.read_text() for p in _rule_files())
    assert 'job="ecmon"' in rules_text and 'job="kafka"' in rules_text


# -- Grafana ---------------------------------------------------------------------------------------------

def _dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA_DIR / "dashboards").glob("*.json"))}


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def test_grafana_provisioning_matches_compose(compose):
    provisioning = GRAFANA_DIR / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "ecmon.yml").read_text())["datasources"]
    by_uid = {d["uid"]: d for d in datasources}
    assert by_uid["ecmon-prometheus"]["url"] == "http://prometheus:9090"
    clickhouse = by_uid["ecmon-clickhouse"]
    assert clickhouse["type"] == "grafana-clickhouse-datasource"
    assert clickhouse["jsonData"]["host"] == "clickhouse" and clickhouse["jsonData"]["port"] == 9000
    assert clickhouse["jsonData"]["defaultDatabase"] == _default("clickhouse_database")
    grafana = compose["services"]["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "ecmon.yml").read_text())["providers"][0]
    assert f"../grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    for dashboard in _dashboards().values():
        for panel in _panels(dashboard):
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] in by_uid, panel["title"]


def test_dashboards_use_declared_metrics_and_tables():
    dashboards = _dashboards()
    assert {"ecmon-operations.json", "ecmon-analysts.json"} <= set(dashboards)
    tables, problems, database = _clickhouse_tables(), [], _default("clickhouse_database")
    for name, dashboard in dashboards.items():
        queries = [t for p in _panels(dashboard) for t in p.get("targets", [])]
        queries += [{"rawSql": v["query"]} for v in dashboard["templating"]["list"] if "query" in v]
        for target in queries:
            if "expr" in target:
                problems += _check_promql(target["expr"], name)
            if "rawSql" in target:
                for table in re.findall(rf"\b{database}\.(\w+)", target["rawSql"]):
                    if table not in tables:
                        problems.append(
                            f"{name}: table {table} is created by no migration in sinks/ecmon_sink/migrations")
    assert not problems, "\n".join(problems)


def test_operations_dashboard_covers_throughput_lag_dead_letters_and_alerts():
    panels = _panels(_dashboards()["ecmon-operations.json"])
    exprs = " ".join(t.get("expr", "") for p in panels for t in p.get("targets", []))
    for needle in ("ecmon_worker_readings_total", "ecmon_sink_consumer_lag", "ecmon_dead_letters_total", "ALERTS"):
        assert needle in exprs


# -- ClickHouse users, Prometheus and Alertmanager web auth: the same everywhere ----------------------------

def _users_xml():
    import xml.etree.ElementTree as ET

    return ET.parse(DEPLOY / "clickhouse" / "users.xml").getroot()


def _clickhouse_users() -> dict:
    return {u.tag: u for u in _users_xml().find("users")}


def test_clickhouse_users_carry_no_password_and_analysts_have_quotas():
    root = _users_xml()
    users = _clickhouse_users()
    assert {"default", "ecmon_admin", "ecmon_sink", "analyst_national"} <= set(users)
    assert "<password" not in (DEPLOY / "clickhouse" / "users.xml").read_text()
    profiles = {p.tag: {s.tag: s.text for s in p} for p in root.find("profiles")}
    quotas = {q.tag: {s.tag: int(s.text) for s in q.find("interval")} for q in root.find("quotas")}
    for name, user in users.items():
        assert {ip.text for ip in user.find("networks")} <= {"127.0.0.1", "::1"}, name
    assert profiles[users["default"].findtext("profile")]["readonly"] == "1"
    sink = profiles[users["ecmon_sink"].findtext("profile")]
    assert sink["allow_ddl"] == "0" and sink.get("readonly", "0") == "0"
    analysts = [n for n in users if n.startswith("analyst_")]
    assert len(analysts) >= 4
    for name in analysts:
        assert profiles[users[name].findtext("profile")]["readonly"] == "1", name
        quota = quotas[users[name].findtext("quota")]
        for limit in ("queries", "result_rows", "read_rows", "execution_time"):
            assert quota[limit] > 0, f"{name}: quota without a {limit} limit"


def test_the_local_prometheus_has_no_lifecycle_and_both_web_servers_need_auth():
    from ecmon_ops.stack.services import stack_services

    services = {s.name: s for s in stack_services(Settings(state_dir=Path("/nonexistent")))}
    prometheus, alertmanager = services["prometheus"].command(), services["alertmanager"].command()
    assert "--web.enable-lifecycle" not in prometheus
    assert any(a.startswith("--web.config.file=") for a in prometheus)
    assert any(a.startswith("--web.config.file=") for a in alertmanager)
    config = yaml.safe_load(services["prometheus"].render_config("ecmon-operator", "x: {y}"))
    assert config["alerting"]["alertmanagers"][0]["basic_auth"] == {"username": "ecmon-operator", "password": "x: {y}"}
    for job in config["scrape_configs"]:
        assert job["job_name"] == "ecmon" or "basic_auth" in job, job["job_name"]


def _password_vars(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Za-z_]+):\?", text))


def test_compose_uses_the_local_stacks_users_and_web_auth(compose):
    text = (COMPOSE_DIR / "docker-compose.yml").read_text()
    assert ":-ecmon}" not in text and "change-me" not in text and "GRAFANA_ADMIN_PASSWORD:-" not in text
    services = compose["services"]
    users = _clickhouse_users()
    clickhouse = services["clickhouse"]
    assert "../clickhouse/users.xml:/etc/clickhouse-server/users.xml:ro" in clickhouse["volumes"]
    users_d = "./secrets/ecmon-passwords.xml:/etc/clickhouse-server/users.d/ecmon-passwords.xml:ro"
    assert users_d in clickhouse["volumes"]
    assert clickhouse["environment"] == {"CLICKHOUSE_SKIP_USER_SETUP": "1"}
    expected = {"migrate": "ecmon_admin", "sink": "ecmon_sink"}
    for name, service in services.items():
        env = service.get("environment", {}) or {}
        user = env.get("ECMON_CLICKHOUSE_USER")
        assert user == expected.get(name), f"compose {name}: ClickHouse user {user}"
        if user:
            assert user in users and env["ECMON_CLICKHOUSE_PASSWORD"].startswith("${" + user + ":?")
    grafana = services["grafana"]["environment"]
    assert grafana["CLICKHOUSE_USER"] in users and grafana["CLICKHOUSE_USER"].startswith("analyst_")
    rendered = {"web_password", *users}  # the keys of passwords.env (deploy/ecmon_ops/stack/credentials.py)
    assert _password_vars(text) <= rendered
    prometheus, alertmanager = services["prometheus"], services["alertmanager"]
    assert "--web.enable-lifecycle" not in prometheus["command"]
    assert "--web.config.file=/etc/prometheus/web-config.yml" in " ".join(prometheus["command"])
    assert "--web.config.file=/etc/alertmanager/web-config.yml" in " ".join(alertmanager["command"])
    assert "./secrets/web-config.yml:/etc/alertmanager/web-config.yml:ro" in alertmanager["volumes"]
    config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    assert config["alerting"]["alertmanagers"][0]["basic_auth"]["password_file"] == "/etc/prometheus/web-password"
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "ecmon.yml").read_text())
    (prom,) = [d for d in datasources["datasources"] if d["uid"] == "ecmon-prometheus"]
    assert prom["basicAuth"] is True and prom["secureJsonData"]["basicAuthPassword"] == "$WEB_PASSWORD"


def test_k8s_uses_the_local_stacks_users(k8s):
    users = _clickhouse_users()
    (server,) = [s for s in _kind(k8s, "StatefulSet") if s["metadata"]["name"] == "clickhouse"]
    pod = server["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    users_xml = mounts["/etc/clickhouse-server/users.xml"]
    assert volumes[users_xml["name"]]["configMap"]["name"] == "clickhouse-users" and users_xml["subPath"] == "users.xml"
    passwords = mounts["/etc/clickhouse-server/users.d/ecmon-passwords.xml"]
    assert volumes[passwords["name"]]["secret"]["secretName"] == "ecmon-clickhouse-users"
    assert {e["name"]: e["value"] for e in pod["containers"][0]["env"]} == {"CLICKHOUSE_SKIP_USER_SETUP": "1"}
    for secret in _kind(k8s, "Secret"):  # no password of any kind is in the repository
        assert not secret.get("stringData") and not secret.get("data"), secret["metadata"]["name"]
    expected = {"migrate": "ecmon_admin", "sink": "ecmon_sink"}
    for workload in _kind(k8s, "Deployment") + _kind(k8s, "Job"):
        role = workload["metadata"]["labels"]["app.kubernetes.io/component"]
        for container in workload["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            user = env.get("ECMON_CLICKHOUSE_USER", {}).get("value")
            assert user == expected.get(role), f"{role}: ClickHouse user {user}"
            if user:
                assert user in users
                ref = env["ECMON_CLICKHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": "ecmon-clickhouse-passwords", "key": user}


# -- compose Kafka: the local stack's SCRAM users, roles and ACLs ------------------------------------------

ECMON_IMAGE = "ecmon:"
#: Kafka roles of each ecmon service of compose: what it may connect as (migrate has no Kafka client).
COMPOSE_KAFKA_ROLES = {"worker": {"worker"}, "sink": {"sink"}, "gateway": set(SIMULATOR_ROLES),
                       "kafka-setup": set(ROLES), "migrate": set()}
SECRETS_MOUNT = "/run/secrets/"


def _kafka_env_key(prop: str) -> str:
    """The apache/kafka convention kafka-start.sh follows: foo.bar -> KAFKA_FOO_BAR, `_` -> `__`, `-` -> `___`."""
    return "KAFKA_" + prop.replace("-", "___").replace("_", "__").replace(".", "_").upper()


def _local_scram_broker_props() -> dict[str, str]:
    from ecmon_ops.stack.services import KafkaBroker

    settings = Settings(state_dir=Path("/nonexistent"), kafka_security="scram", kafka_username=BROKER_USER,
                        kafka_password="not-used")
    return {k: str(v) for k, v in KafkaBroker(name="kafka-1", port=1, settings=settings)._listener_props().items()}


def _brokers(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if re.fullmatch(r"kafka-\d", n)}


def _listeners(env: dict) -> dict[str, str]:
    """listener name -> security protocol."""
    return dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))


def _secret_file(compose: dict, name: str) -> str:
    return compose["secrets"][name]["file"]


def test_compose_brokers_authenticate_and_authorise_as_the_local_stack(compose):
    local = _local_scram_broker_props()
    named_per_listener = {"listeners", "advertised.listeners", "inter.broker.listener.name",
                          "listener.security.protocol.map"}
    script = (COMPOSE_DIR / "kafka-start.sh").read_text()
    for name, service in _brokers(compose).items():
        env = service["environment"]
        for prop, value in local.items():  # the same settings, except what names the listeners
            if (prop in named_per_listener or prop.endswith(".sasl.jaas.config")
                    or prop.startswith("listener.name.sasl")):
                continue
            assert env.get(_kafka_env_key(prop)) == value, f"{name}: {prop} must be {value!r} as in the local stack"
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert env["KAFKA_SUPER_USERS"] == ";".join(f"User:{u}" for u in SUPER_USERS)
        protocols = _listeners(env)
        assert set(protocols.values()) == {"SASL_PLAINTEXT"}, f"{name}: a listener without SASL"
        declared = {spec.split("://")[0] for spec in env["KAFKA_LISTENERS"].split(",")}
        assert declared == set(protocols), f"{name}: every listener needs a protocol"
        assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in protocols
        assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
        for listener in protocols:  # each listener's mechanisms, and its JAAS line written from the secret
            mechanism = "PLAIN" if listener == "CONTROLLER" else MECHANISM
            assert env[f"KAFKA_LISTENER_NAME_{listener}_SASL_ENABLED_MECHANISMS"] == mechanism
            assert f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config=" in script
        assert (env["BROKER_USER"], env["ADMIN_USER"]) == (BROKER_USER, ADMIN_USER)
        assert service["entrypoint"] == ["/bin/sh", "/kafka-start.sh"]
        assert "./kafka-start.sh:/kafka-start.sh:ro" in service["volumes"]
        assert set(service["secrets"]) == {"kafka-broker-password", "kafka-admin-password"}
        assert not any("PASSWORD" in key or "JAAS" in key for key in env), f"{name}: secrets belong in files"
    assert _secret_file(compose, "kafka-broker-password") == "./secrets/" + KAFKA_PASSWORD_FILE.format(role="broker")
    assert _secret_file(compose, "kafka-admin-password") == "./secrets/" + KAFKA_PASSWORD_FILE.format(role="admin")


def test_kafka_start_script_writes_the_properties_and_formats_with_the_scram_users(compose, tmp_path):
    """Runs deploy/compose/kafka-start.sh with dash (POSIX sh) and stand-ins for Kafka's two scripts."""
    service = compose["services"]["kafka-1"]
    secrets, tools, data = tmp_path / "secrets", tmp_path / "bin", tmp_path / "data"
    for path in (secrets, tools, data):
        path.mkdir()
    (secrets / "kafka-broker-password").write_text("brokerpw_-1\n")
    (secrets / "kafka-admin-password").write_text("adminpw_-2")
    record = tmp_path / "calls"
    for tool in ("kafka-storage.sh", "kafka-server-start.sh"):
        stub = tools / tool
        # the stand-in records its arguments and, for the server, the properties file it was given
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >>"{record}"\n'
                        f'[ "{tool}" = kafka-server-start.sh ] && cp "$1" "{tmp_path}/server.properties"\nexit 0\n')
        stub.chmod(0o755)
    env = {k: str(v) for k, v in service["environment"].items()}
    env.update(KAFKA_LOG_DIRS=str(data), SECRETS_DIR=str(secrets), TOOLS_DIR=str(tools), PATH="/usr/bin:/bin")
    import subprocess

    result = subprocess.run(["sh", str(COMPOSE_DIR / "kafka-start.sh")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    props = dict(line.split("=", 1) for line in (tmp_path / "server.properties").read_text().splitlines())
    local = _local_scram_broker_props()
    for prop in ("authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found", "sasl.enabled.mechanisms",
                 "sasl.mechanism.inter.broker.protocol", "sasl.mechanism.controller.protocol",
                 "listener.name.controller.sasl.enabled.mechanisms"):
        assert props[prop] == local[prop], prop
    assert props["node.id"] == "1" and props["log.dirs"] == str(data)
    assert props["listener.security.protocol.map"] == env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert "heap.opts" not in props and "cluster.id" not in props
    assert props["listener.name.broker.scram-sha-512.sasl.jaas.config"] == (
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{BROKER_USER}" '
        'password="brokerpw_-1";')
    assert props["listener.name.controller.plain.sasl.jaas.config"] == local[
        "listener.name.controller.plain.sasl.jaas.config"].replace("not-used", "brokerpw_-1")
    calls = record.read_text().splitlines()
    assert calls[0].startswith("kafka-storage.sh format --cluster-id ZWNtb24tY29tcG9zZS0wMQ ")
    assert f"--add-scram {MECHANISM}=[name={BROKER_USER},password=brokerpw_-1]" in calls[0]
    assert f"--add-scram {MECHANISM}=[name={ADMIN_USER},password=adminpw_-2]" in calls[0]
    assert calls[1].startswith("kafka-server-start.sh ") and len(calls) == 2
    assert "pw_" not in result.stdout + result.stderr  # no password in the container log
    (data / "meta.properties").write_text("formatted")  # formatted once: a restart only starts the server
    record.unlink()
    assert subprocess.run(["sh", str(COMPOSE_DIR / "kafka-start.sh")], env=env).returncode == 0
    assert [c.split()[0] for c in record.read_text().splitlines()] == ["kafka-server-start.sh"]
    (secrets / "kafka-broker-password").unlink()
    missing = subprocess.run(["sh", str(COMPOSE_DIR / "kafka-start.sh")], env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "ecmon_ops.stack.credentials" in missing.stderr


def _ecmon_services(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if s.get("image", "").startswith(ECMON_IMAGE)}


def test_every_ecmon_service_connects_to_kafka_as_its_own_role(compose, tmp_path):
    from ecmon_ops.stack.credentials import KAFKA_SETUP_FILE, KAFKA_SIMULATOR_FILE, kafka_secret_files

    services = _ecmon_services(compose)
    assert set(services) == set(COMPOSE_KAFKA_ROLES)
    users = {p.username: role for role, p in principals().items()}
    rendered = kafka_secret_files(Settings(state_dir=tmp_path))
    secret_files = {"kafka-setup": KAFKA_SETUP_FILE, "kafka-simulator": KAFKA_SIMULATOR_FILE}
    for name, service in services.items():
        env = service["environment"]
        assert env["ECMON_KAFKA_SECURITY"] == "scram", name
        assert "ECMON_KAFKA_PASSWORD" not in env, f"{name}: the password comes from a secret file"
        mounted = {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}
        if "ECMON_KAFKA_USERNAME" in env:  # one identity: user and password file of one role
            role = users.get(env["ECMON_KAFKA_USERNAME"])
            assert {role} == COMPOSE_KAFKA_ROLES[name], f"{name}: Kafka user {env['ECMON_KAFKA_USERNAME']}"
            secret = f"kafka-{role}-password"
            assert env["ECMON_KAFKA_PASSWORD_FILE"] == SECRETS_MOUNT + secret and mounted == {secret}
            assert _secret_file(compose, secret) == "./secrets/" + KAFKA_PASSWORD_FILE.format(role=role)
            assert "ECMON_KAFKA_SECRETS_FILE" not in env
        elif "ECMON_KAFKA_SECRETS_FILE" in env:  # several roles: a secrets file with exactly their entries
            secret = env["ECMON_KAFKA_SECRETS_FILE"].removeprefix(SECRETS_MOUNT)
            assert mounted - {"registry-authority"} == {secret}  # the simulator also signs registry records
            file = secret_files[secret]
            assert _secret_file(compose, secret) == "./secrets/" + file
            entries = json.loads(rendered[file])
            assert set(entries) == COMPOSE_KAFKA_ROLES[name], name
            for role, entry in entries.items():
                assert entry["username"] == ({**usernames(Settings(state_dir=tmp_path))})[role]
        else:
            assert COMPOSE_KAFKA_ROLES[name] == set() and not mounted, f"{name}: no Kafka identity"
    assert services["worker"]["command"] == ["worker"] and services["sink"]["command"] == ["sink"]
    assert services["gateway"]["command"][0] == "gateway"
    for name in ("worker", "sink", "gateway"):
        assert services[name]["depends_on"]["kafka-setup"]["condition"] == "service_completed_successfully"


def test_credentials_render_every_compose_secret(compose, tmp_path):
    from ecmon_ops.stack.credentials import render

    out = tmp_path / "out"
    written = {p.name for p in render(out, Settings(state_dir=tmp_path / "state"))}
    for name, secret in compose["secrets"].items():
        assert secret["file"].removeprefix("./secrets/") in written, f"compose secret {name} is not rendered"
    entries = json.loads((tmp_path / "state" / "secrets" / "kafka-users.json").read_text())
    for role, entry in entries.items():  # the local stack's passwords, one file each, nothing around them
        assert (out / KAFKA_PASSWORD_FILE.format(role=role)).read_text() == entry["password"]
    assert set(json.loads((out / "kafka-setup.json").read_text())) == set(ROLES)


def _values(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _values(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _values(value, f"{path}[{i}]")
    else:
        yield path, str(node)


def test_compose_holds_no_password_literal(compose):
    for path, value in _values(compose):
        parent, key = path.rsplit(".", 1)
        if parent.endswith(".environment") and re.search(r"PASSWORD|SECRET|JAAS", key, re.I):
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value) or value.startswith(SECRETS_MOUNT), (
                f"compose {path}: a password must come from passwords.env (${{user:?...}}) or a secret file")
        assert not re.search(r"password\s*=\s*[\"']?(?!\$)\w", value, re.I), f"compose {path}: password literal"
    for script in ("kafka-start.sh", "create-topics.sh"):
        text = (COMPOSE_DIR / script).read_text()
        literals = re.findall(r"password=\\?\"?(?![\\\"]*[$%])[\w-]+", text)
        assert not literals, f"{script}: password literal {literals}"


def test_compose_setup_service_creates_every_topic_user_and_acl(compose, monkeypatch, tmp_path):
    from ecmon_ops.stack import kafka_setup

    setup = compose["services"]["kafka-setup"]
    assert setup["entrypoint"] == ["python", "-m", "ecmon_ops.stack.kafka_setup"] and setup["restart"] == "no"
    assert "ECMON_KAFKA_USERNAME" not in setup["environment"]  # every role's user, not one identity
    env = {k.removeprefix("ECMON_").lower(): v for k, v in setup["environment"].items() if k.startswith("ECMON_")}
    env.update(state_dir=tmp_path, kafka_secrets_file=tmp_path / "kafka-setup.json")
    settings = Settings(**env)
    assert settings.broker_addresses == [f"{b}:9092" for b in sorted(_brokers(compose))]
    assert settings.replication_factor == 3
    assert kafka_setup.planned_topics(settings) == [t.name for t in topics.all_topics(_default("worker_app_id"))]
    calls = []
    monkeypatch.setattr(kafka_setup, "wait_for_brokers", lambda s: calls.append("wait"))
    monkeypatch.setattr(kafka_setup, "create_topics", lambda s, on_progress: calls.append("topics") or [])
    monkeypatch.setattr(kafka_setup.acls, "apply", lambda s: calls.append("acls") or {"created": 0, "deleted": 0})
    kafka_setup.setup(settings)
    assert calls == ["wait", "topics", "acls"]
    with pytest.raises(kafka_setup.ServiceError, match="ECMON_KAFKA_USERNAME"):
        kafka_setup.setup(settings.model_copy(update={"kafka_username": "ecmon-worker"}))


@pytest.mark.parametrize(("name", "current", "declared", "change"), [
    ("max.message.bytes", "1048588", str(topics.CHANGELOG_MAX_MESSAGE_BYTES), True),  # an old changelog: raised
    ("max.message.bytes", str(64 * 2**20), str(topics.CHANGELOG_MAX_MESSAGE_BYTES), False),  # an operator's larger
    ("retention.ms", str(30 * 86_400_000), str(13 * 7 * 86_400_000), True),
    ("retention.ms", str(400 * 86_400_000), str(13 * 7 * 86_400_000), False),  # kept longer on purpose: not lowered
    ("retention.ms", "-1", str(13 * 7 * 86_400_000), False),  # kept for ever
    ("min.insync.replicas", "2", "1", False),  # a stricter durability stays
    ("message.timestamp.type", "CreateTime", "LogAppendTime", True),  # the gateways' record time, enforced
    ("max.message.bytes", None, "1048588", True),
])
def test_existing_topics_are_raised_to_their_declared_limits_never_lowered(name, current, declared, change):
    from ecmon_ops.stack.stack import _config_change

    assert _config_change(name, current, declared) is change
