"""The container deployment (`docker-compose.yml`, `deploy/`) hangs together, checked without a Docker engine.

No machine here runs Docker, so `make up` can only break silently: a renamed module, a missing build context,
a healthcheck that probes the wrong port or a dashboard reading a metric nobody exports. These tests read the
files the way compose, Prometheus and Grafana would and cross-check them against the repository and the
defaults in `dra_common.settings.Settings`.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.validators import validator_for

from dra_common.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE_SCHEMA = REPO.parent / "shared" / "schemas" / "compose-spec.json"
DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
GRAFANA_DIR = DEPLOY / "grafana"

# The processes of the stack and the Settings fields holding their ports.
GRPC_SERVICES = ("router", "ranking", "cache", "monitoring")
METRICS_PORT_FIELDS = {
    "gateway": "gateway_port",
    "router": "router_metrics_port",
    "ranking": "ranking_metrics_port",
    "cache": "cache_metrics_port",
    "monitoring": "monitoring_metrics_port",
    "worker": "worker_metrics_port",
}
EXPECTED_SERVICES = {
    "postgres",
    "redis",
    "migrate",
    "gateway",
    *GRPC_SERVICES,
    "worker",
    "beat",
    "prometheus",
    "grafana",
}


def _default(field: str) -> Any:
    """A Settings default, read without building Settings (which would read the environment and `.env`)."""
    return Settings.model_fields[field].default


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as compose sees it before interpolation (anchors and merge keys resolved)."""
    with COMPOSE_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The `services:` mapping."""
    return compose["services"]


def _argv(command: Any) -> list[str]:
    """A compose `command`/healthcheck `test` as one argv; `sh -c "..."` scripts are split into their words."""
    if command is None:
        return []
    words = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    if words and words[0] in ("CMD", "CMD-SHELL"):
        words = words[1:]
    expanded: list[str] = []
    for word in words:
        # A shell script (CMD-SHELL, `sh -c`) may hold more commands: look inside it too.
        try:
            expanded.extend(shlex.split(word) if " " in word else [word])
        except ValueError:  # not shell syntax (e.g. the code of `python -c`)
            expanded.append(word)
    return expanded


def _commands(service: dict[str, Any]) -> Iterator[list[str]]:
    """The service's command and its healthcheck command."""
    yield _argv(service.get("command"))
    yield _argv((service.get("healthcheck") or {}).get("test"))


def _module_exists(module: str) -> bool:
    """Whether `python -m module` (or an import of it) resolves inside one of the `services/*` package roots."""
    parts = module.split(".")
    for root in (REPO / "services").iterdir():
        base = root.joinpath(*parts)
        if base.with_suffix(".py").is_file() or (base / "__main__.py").is_file():
            return True
    return False


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`depends_on` in its long form: {target: {"condition": ...}}."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: (spec or {"condition": "service_started"}) for name, spec in deps.items()}


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _bind_sources(service: dict[str, Any]) -> list[str]:
    """Host paths bind-mounted into the service (short `./src:/dst[:ro]` or long `type: bind` syntax)."""
    sources = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                sources.append(source)
        elif volume.get("type") == "bind":
            sources.append(volume["source"])
    return sources


def _named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Named volumes mounted by the service: {volume: container path}."""
    named = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            if rest and not source.startswith((".", "/", "~")):
                named[source] = rest.split(":", 1)[0]
        elif volume.get("type", "volume") == "volume" and volume.get("source"):
            named[volume["source"]] = volume["target"]
    return named


def _container_path_to_repo(services: dict[str, dict[str, Any]], service: str, container_path: str) -> Path | None:
    """The repository file that a bind mount of `service` shows at `container_path`, if any."""
    for volume in services[service].get("volumes") or []:
        if not isinstance(volume, str):
            continue
        source, _, rest = volume.partition(":")
        target = rest.split(":", 1)[0]
        if source.startswith(".") and (container_path == target or container_path.startswith(target + "/")):
            return (REPO / source / container_path[len(target) :].lstrip("/")).resolve()
    return None


def _load_yaml(path: Path) -> Any:
    """A YAML file of deploy/, parsed safely."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# ----------------------------------------------------------------------------------------------- compose


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    """`docker compose` rejects a file that breaks the Compose specification; catch that without Docker."""
    if not COMPOSE_SCHEMA.is_file():
        pytest.skip(f"Compose specification schema not found at {COMPOSE_SCHEMA} (it lives in the shared folder)")
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator_class = validator_for(schema, default=Draft7Validator)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose), key=lambda error: [str(part) for part in error.absolute_path])
    messages = [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors]
    assert not messages, "docker-compose.yml breaks the Compose specification:\n" + "\n".join(messages)


def test_compose_has_every_process_of_the_stack(services: dict[str, dict[str, Any]]) -> None:
    """Issue 2 asks for every process plus postgres, redis, prometheus and grafana."""
    assert set(services) >= EXPECTED_SERVICES, f"missing services: {sorted(EXPECTED_SERVICES - set(services))}"


def test_build_contexts_dockerfiles_and_copied_paths_exist(services: dict[str, dict[str, Any]]) -> None:
    """A missing context, Dockerfile or COPY source only shows up at `docker compose build` otherwise."""
    problems = []
    built = {name: spec["build"] for name, spec in services.items() if "build" in spec}
    assert built, "no service builds an image"
    for name, build in built.items():
        build = {"context": build} if isinstance(build, str) else build
        context = (REPO / build.get("context", ".")).resolve()
        if not context.is_dir():
            problems.append(f"{name}: build context {context} is not a directory")
            continue
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            problems.append(f"{name}: Dockerfile {dockerfile} does not exist")
            continue
        for keyword, args in _dockerfile_instructions(dockerfile):
            if keyword not in ("COPY", "ADD"):
                continue
            words = [word for word in shlex.split(args) if not word.startswith("--")]
            if "--from=" in args:
                continue
            for source in words[:-1]:
                if not any(context.glob(source)):
                    problems.append(f"{name}: {dockerfile.name} copies {source!r}, absent from {context}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_runtime_image_runs_as_a_non_root_user() -> None:
    """The last USER of every Dockerfile under deploy/docker is not root."""
    dockerfiles = sorted((DEPLOY / "docker").rglob("Dockerfile*"))
    assert dockerfiles, "no Dockerfile under deploy/docker"
    for dockerfile in dockerfiles:
        users = [args for keyword, args in _dockerfile_instructions(dockerfile) if keyword == "USER"]
        assert users and users[-1].split(":")[0] not in ("root", "0"), f"{dockerfile} runs as root"


def test_python_and_celery_commands_name_existing_modules(services: dict[str, dict[str, Any]]) -> None:
    """Every `python -m X` and `celery -A X:app` in a command or healthcheck names a module of the repo."""
    missing = []
    seen = set()
    for name, service in services.items():
        for argv in _commands(service):
            for index, word in enumerate(argv[:-1]):
                module = None
                if word == "-m" and index > 0 and Path(argv[index - 1]).name.startswith("python"):
                    module = argv[index + 1]
                elif word in ("-A", "--app") and argv[0] == "celery":
                    module = argv[index + 1].split(":", 1)[0]
                if module:
                    seen.add(module)
                    if not _module_exists(module):
                        missing.append(f"{name}: module {module} not found under services/*/")
    # The processes named by the issue must all be started this way.
    for process in ("gateway", *GRPC_SERVICES):
        assert f"dra_{process}" in seen, f"no compose service runs `python -m dra_{process}`"
    assert "dra_worker.celery_app" in seen, "no compose service runs the Celery app dra_worker.celery_app"
    assert not missing, "\n".join(missing)


def test_cli_commands_in_compose_exist(services: dict[str, dict[str, Any]]) -> None:
    """`dra ...` steps (the one-off migrate service) name sub-commands the `dra` CLI really has."""
    import typer.main

    from dra_cli.main import app

    root = typer.main.get_command(app)
    problems = []
    checked = 0
    for name, service in services.items():
        argv = _argv(service.get("command"))
        starts = [index for index, word in enumerate(argv) if word == "dra"]
        for start in starts:
            group: Any = root
            for word in argv[start + 1 :]:
                if word in ("&&", ";", "||") or word.startswith("-"):
                    break
                commands = getattr(group, "commands", None)
                if commands is None:
                    break
                if word not in commands:
                    problems.append(f"{name}: `dra` has no command {word!r} (in {' '.join(argv)})")
                    break
                group = commands[word]
            checked += 1
    assert checked, "no compose service runs the `dra` CLI (migrations and the default catalog need it)"
    assert not problems, "\n".join(problems)


def test_dependencies_exist_are_acyclic_and_wait_on_real_conditions(services: dict[str, dict[str, Any]]) -> None:
    """`service_healthy` needs a healthcheck on the target and `service_completed_successfully` a one-off."""
    problems = []
    for name, service in services.items():
        for target, spec in _depends_on(service).items():
            if target not in services:
                problems.append(f"{name} depends on unknown service {target}")
                continue
            condition = spec.get("condition", "service_started")
            healthcheck = services[target].get("healthcheck") or {}
            if condition == "service_healthy" and (not healthcheck.get("test") or healthcheck.get("disable")):
                problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
            if condition == "service_completed_successfully" and services[target].get("restart") not in (None, "no"):
                problems.append(f"{name} waits for {target} to complete, but {target} restarts")
    assert not problems, "\n".join(problems)

    # Depth-first search: a cycle would leave compose unable to start anything.
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "active", "depends_on cycle: " + " -> ".join([*path, node])
        state[node] = "active"
        for target in _depends_on(services[node]):
            visit(target, [*path, node])
        state[node] = "done"

    for name in services:
        visit(name, [])


def test_services_that_need_the_schema_wait_for_migrations(services: dict[str, dict[str, Any]]) -> None:
    """Processes reading Postgres tables start only after `migrate` created them."""
    for name in ("ranking", "monitoring", "worker"):
        condition = _depends_on(services[name]).get("migrate", {}).get("condition")
        assert condition == "service_completed_successfully", f"{name} does not wait for migrate"
    migrate_db = _depends_on(services["migrate"]).get("postgres", {}).get("condition")
    assert migrate_db == "service_healthy", "migrate does not wait for a healthy postgres"


def test_long_running_services_have_healthcheck_and_restart_policy(services: dict[str, dict[str, Any]]) -> None:
    """Everything but the one-off steps is probed and restarted."""
    problems = []
    for name, service in services.items():
        if service.get("restart") == "no":
            continue
        if not (service.get("healthcheck") or {}).get("test"):
            problems.append(f"{name} has no healthcheck")
        if service.get("restart") not in ("always", "unless-stopped", "on-failure"):
            problems.append(f"{name} has no restart policy")
    assert not problems, "\n".join(problems)


def test_grpc_healthchecks_and_addresses_match_the_settings_ports(services: dict[str, dict[str, Any]]) -> None:
    """ROUTER_ADDR & co. point at the compose service that listens there, and its healthcheck probes that port."""
    for process in GRPC_SERVICES:
        port = _default(f"{process}_port")
        probe = " ".join(_argv(services[process]["healthcheck"]["test"]))
        assert f"dra_common.healthcheck grpc 127.0.0.1:{port}" in probe, f"{process} healthcheck: {probe}"
    gateway_probe = " ".join(_argv(services["gateway"]["healthcheck"]["test"]))
    assert f"http://127.0.0.1:{_default('gateway_port')}/healthz" in gateway_probe

    for name, service in services.items():
        if "build" not in service:
            continue
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use the mapping form of environment"
        for process in GRPC_SERVICES:
            expected = f"{process}:{_default(f'{process}_port')}"
            assert env.get(f"{process.upper()}_ADDR") == expected, f"{name}: {process.upper()}_ADDR != {expected}"
        assert env.get("GATEWAY_URL") == f"http://gateway:{_default('gateway_port')}", f"{name}: GATEWAY_URL"
        assert env.get("BIND_HOST") == "0.0.0.0", f"{name}: servers must listen on every interface in a container"
        assert "${POSTGRES_PASSWORD:?" in env.get("DATABASE_URL", ""), f"{name}: DATABASE_URL must require the password"
        assert env.get("REDIS_URL", "").startswith("redis://redis:6379"), f"{name}: REDIS_URL"


def test_bind_mounts_exist_and_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    """Config mounted from deploy/ must exist (Docker would create an empty directory instead)."""
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    problems = []
    for name, service in services.items():
        for source in _bind_sources(service):
            if not (REPO / source).exists():
                problems.append(f"{name}: bind-mounted {source} does not exist")
        for volume in _named_volumes(service):
            if volume not in declared:
                problems.append(f"{name}: named volume {volume} is not declared under volumes:")
    assert not problems, "\n".join(problems)
    assert "/var/lib/postgresql/data" in _named_volumes(services["postgres"]).values()
    models_dir = services["ranking"]["environment"]["MODELS_DIR"]
    for name in ("ranking", "worker"):
        assert _named_volumes(services[name]).get("models") == models_dir, f"{name} does not mount models"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    """The build context skips `.env`, the virtualenv and locally generated stubs."""
    patterns = {line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    assert {".env", ".venv", ".git", "services/common/dra"} <= patterns


# ----------------------------------------------------------------------------------------------- prometheus


def test_prometheus_scrapes_every_metrics_port(services: dict[str, dict[str, Any]]) -> None:
    """One scrape target per process, on the metrics port its Settings default opens."""
    config = _load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    targets = {
        target for job in config["scrape_configs"] for static in job.get("static_configs", []) for target in static["targets"]
    }
    for process, field in METRICS_PORT_FIELDS.items():
        assert f"{process}:{_default(field)}" in targets, f"prometheus.yml does not scrape {process}:{_default(field)}"
    for target in targets:
        host = target.rsplit(":", 1)[0]
        assert host in services or host in ("127.0.0.1", "localhost"), f"scrape target {target}: unknown host"

    mounted = _container_path_to_repo(services, "prometheus", "/etc/prometheus/prometheus.yml")
    assert mounted == (PROMETHEUS_DIR / "prometheus.yml").resolve(), "compose does not mount deploy/prometheus"
    for rule_file in config.get("rule_files", []):
        assert (PROMETHEUS_DIR / rule_file).is_file(), f"rule file {rule_file} is not beside prometheus.yml"


def _alert_rules() -> list[dict[str, Any]]:
    """Every rule of alerts.yml; each group must be named and non-empty."""
    rules = []
    for group in _load_yaml(PROMETHEUS_DIR / "alerts.yml")["groups"]:
        assert group.get("name") and group.get("rules"), f"group without name or rules: {group}"
        rules.extend(group["rules"])
    return rules


def test_alert_rules_cover_the_runbook_thresholds() -> None:
    """Thresholds in the rules are the Settings thresholds the monitoring service alerts on."""
    rules = _alert_rules()
    for rule in rules:
        assert rule.get("alert") and rule.get("expr"), f"incomplete rule: {rule}"
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), f"{rule['alert']}: severity"

    def threshold(metric: str) -> list[float]:
        found = [re.search(rf"{metric}\s*<\s*([0-9.]+)", rule["expr"]) for rule in rules]
        return [float(match.group(1)) for match in found if match]

    assert _default("ndcg_alert_threshold") in threshold("dra_quality_ndcg_at_3")
    assert _default("relevance_alert_threshold") in threshold("dra_quality_relevance_accuracy")
    assert 0.70 in threshold("dra_quality_cache_hit_rate")
    assert any(re.fullmatch(r"up\s*==\s*0", rule["expr"].strip()) for rule in rules), "no service-down rule"
    ndcg_rule = next(rule for rule in rules if f"< {_default('ndcg_alert_threshold')}" in rule["expr"])
    assert ndcg_rule.get("for") == "1h", "the runbook's NDCG@3 alert is hourly"


def test_rule_unit_tests_cover_every_alert() -> None:
    """rules_test.yml (promtool format) loads alerts.yml and exercises each alert at least once."""
    tests = _load_yaml(PROMETHEUS_DIR / "rules_test.yml")
    for rule_file in tests["rule_files"]:
        assert (PROMETHEUS_DIR / rule_file).is_file(), f"rules_test.yml loads missing {rule_file}"
    tested = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])}
    fired = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    alerts = {rule["alert"] for rule in _alert_rules()}
    assert alerts <= tested, f"alerts without a unit test: {sorted(alerts - tested)}"
    assert alerts <= fired, f"alerts never shown to fire: {sorted(alerts - fired)}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Prometheus) is not installed")
def test_promtool_accepts_config_and_passes_rule_unit_tests() -> None:
    """Prometheus' own checker, where it is installed."""
    for args in (["check", "config", "prometheus.yml"], ["test", "rules", "rules_test.yml"]):
        result = subprocess.run(["promtool", *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


# ----------------------------------------------------------------------------------------------- grafana


def _dashboards() -> dict[str, dict[str, Any]]:
    """Dashboard JSON files by uid; uids must be unique since Grafana serves them at /d/<uid>."""
    dashboards = {}
    for path in sorted((GRAFANA_DIR / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        assert dashboard.get("uid"), f"{path.name} has no uid"
        assert dashboard["uid"] not in dashboards, f"uid {dashboard['uid']} used twice"
        dashboards[dashboard["uid"]] = dashboard
    return dashboards


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Panels, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def _queries(dashboard: dict[str, Any]) -> str:
    """All PromQL and SQL of a dashboard, one query per line."""
    return "\n".join(
        target.get("expr") or target.get("rawSql") or "" for panel in _panels(dashboard) for target in panel.get("targets", [])
    )


def test_grafana_is_provisioned_from_deploy(services: dict[str, dict[str, Any]]) -> None:
    """Compose mounts the provisioning folder, the provider reads the mounted dashboards, and the home exists."""
    provisioning = _container_path_to_repo(services, "grafana", "/etc/grafana/provisioning")
    assert provisioning == (GRAFANA_DIR / "provisioning").resolve()
    for provider in _load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml")["providers"]:
        folder = _container_path_to_repo(services, "grafana", provider["options"]["path"])
        assert folder is not None and folder.is_dir(), f"provider path {provider['options']['path']} is not mounted"
        assert list(folder.glob("*.json")), f"no dashboards in {folder}"
    environment = services["grafana"]["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = _container_path_to_repo(services, "grafana", environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home is not None and home.is_file(), "the home dashboard path is not a mounted file"


def test_dashboards_parse_with_expected_uids_and_known_datasources() -> None:
    """/d/quality-dashboard and /d/ab-testing-dashboard exist, and every panel reads a provisioned data source."""
    dashboards = _dashboards()
    assert {"quality-dashboard", "ab-testing-dashboard"} <= set(dashboards)
    datasources = _load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yml")["datasources"]
    known = {source["uid"] for source in datasources}
    assert sum(1 for source in datasources if source.get("isDefault")) == 1
    for uid, dashboard in dashboards.items():
        for panel in _panels(dashboard):
            refs = [panel.get("datasource"), *(target.get("datasource") for target in panel.get("targets", []))]
            for ref in refs:
                if isinstance(ref, dict):
                    assert ref.get("uid") in known, f"{uid} / {panel.get('title')}: unknown data source {ref}"


def test_quality_dashboard_shows_the_runbook_metrics() -> None:
    """NDCG@3, relevance, routing, Singapore-first, cache hit rate, latency p50/p99, searches/s and alerts."""
    queries = _queries(_dashboards()["quality-dashboard"])
    for metric in (
        "dra_quality_ndcg_at_3",
        "dra_quality_relevance_accuracy",
        "dra_quality_domain_routing_accuracy",
        "dra_quality_singapore_first_accuracy",
        "dra_quality_cache_hit_rate",
        "dra_alerts_open",
        "rate(dra_gateway_searches_total",
    ):
        assert metric in queries, f"quality dashboard does not show {metric}"
    for quantile in ("0.50", "0.99"):
        assert re.search(rf"histogram_quantile\({quantile},[^\n]*dra_gateway_search_latency_seconds_bucket", queries)


def test_ab_dashboard_reads_the_ab_tables() -> None:
    """The A/B dashboard queries tables and columns that exist in the metrics store."""
    from dra_common.models import ABTest, SearchEvent

    queries = _queries(_dashboards()["ab-testing-dashboard"])
    assert f"FROM {ABTest.__tablename__}" in queries
    assert f"FROM {SearchEvent.__tablename__}" in queries
    for column in ("ab_arm", "estimated_ndcg_at_3", "latency_ms", "created_at"):
        assert column in SearchEvent.__table__.columns, f"search_events has no column {column}"
        assert column in queries
