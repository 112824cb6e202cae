"""Containers and service units (issue 17, items 4 and 5): compose.yaml's services run the README's commands
with settings .env.example documents, the Dockerfile follows the rules, and the systemd stop timeouts fit the
30 s stop budget. Docker is not needed: the files are parsed."""

from __future__ import annotations

import configparser
import re
import shlex

import yaml

from tests.ops.promql import ROOT
from tradebot.config import read_dotenv

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "web", "worker", "beat", "bot", "simulator")
STOP_BUDGET_SEC = 30  # README: graceful shutdown within 30 s


def readme_commands() -> dict[str, list[str]]:
    """The "What runs" table of the README: process → command."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## What runs\n", 1)[1].split("\n## ", 1)[0]
    commands = {}
    for name, command in re.findall(r"^\| (\w+)(?: \(optional\))? \| `([^`]+)`", section, re.M):
        commands[name] = shlex.split(command)
    return commands


def command(service: str) -> list[str]:
    value = SERVICES[service]["command"]
    return value if isinstance(value, list) else shlex.split(value)


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)?", str(value).strip())
    assert match, value
    number, unit = int(match.group(1)), match.group(2) or "s"
    return number / 1000 if unit == "ms" else number * (60 if unit == "m" else 1)


def test_compose_has_every_service_with_the_right_profiles():
    assert set(SERVICES) == {
        "postgres", "redis", "migrate", "web", "worker", "beat", "bot", "simulator", "prometheus", "grafana",
    }  # fmt: skip
    profiles = {name: tuple(service.get("profiles", ())) for name, service in SERVICES.items()}
    assert profiles["bot"] == ("telegram",)
    assert profiles["simulator"] == ("simulator",)
    assert profiles["prometheus"] == profiles["grafana"] == ("monitoring",)
    for name in ("postgres", "redis", "migrate", "web", "worker", "beat"):
        assert profiles[name] == (), name


def test_compose_commands_are_the_readmes():
    readme = readme_commands()
    assert {"web", "worker", "beat", "simulator", "bot"} <= set(readme)
    for service in ("web", "worker", "beat", "simulator", "bot"):
        expected = readme[service]
        assert command(service)[: len(expected)] == expected, (service, command(service), expected)


def test_app_services_share_the_data_and_backup_volumes():
    for service in ("web", "worker", "beat", "bot"):
        mounts = SERVICES[service]["volumes"]
        assert "data:/app/data" in mounts and "backups:/backups" in mounts, service
        assert SERVICES[service]["environment"]["DATA_DIR"] == "/app/data"
    assert {"data", "backups", "pgdata"} <= set(COMPOSE["volumes"])


def test_app_services_start_after_the_database_redis_and_migrations():
    for service in ("web", "worker", "beat"):
        depends = SERVICES[service]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert "python manage.py migrate --noinput" in " ".join(command("migrate"))


def test_environment_names_are_documented_in_env_example():
    documented = set(read_dotenv(ROOT / ".env.example"))
    used = set()
    for name in APP_SERVICES:
        used |= set(SERVICES[name].get("environment") or {})
    # ${NAME} / ${NAME:-default} interpolations anywhere in the file are read from .env too
    used |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (ROOT / "compose.yaml").read_text()))
    missing = used - documented
    assert missing == set(), f"not in .env.example: {sorted(missing)}"


def test_stop_grace_periods_fit_the_stop_budget():
    assert seconds(SERVICES["worker"]["stop_grace_period"]) == STOP_BUDGET_SEC
    assert seconds(SERVICES["web"]["stop_grace_period"]) >= 25  # gunicorn.conf.py graceful_timeout
    assert SERVICES["beat"]["deploy"]["replicas"] == 1


def test_monitoring_services_mount_the_files_in_ops():
    for mount in SERVICES["prometheus"]["volumes"] + SERVICES["grafana"]["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), source
    assert COMPOSE["configs"]["metrics_token"]["content"] == "${METRICS_TOKEN:-}"
    assert SERVICES["prometheus"]["configs"][0]["target"] == "/etc/prometheus/metrics_token"


def test_dockerfile_is_slim_non_root_pinned_with_static_files_and_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    keywords = [parts[0] for parts in instructions]
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    assert "pip install -r requirements.txt" in text
    assert "collectstatic --noinput" in text
    user_at = keywords.index("USER")
    assert instructions[user_at][1].strip() not in ("root", "0")
    assert user_at < keywords.index("CMD")
    assert "HEALTHCHECK" in keywords and "/health" in text[text.index("HEALTHCHECK") :]
    assert instructions[keywords.index("CMD")][1].strip() == '["gunicorn", "tradebot.wsgi"]'


def test_requirements_are_pinned():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][\w.]*", line), line


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ROOT / "ops" / "systemd" / name)
    return parser


def test_systemd_units_run_the_readme_commands_with_the_stop_budget():
    readme = readme_commands()
    for process, name in (("web", "tradebot-web.service"), ("worker", "tradebot-worker.service"),
                          ("beat", "tradebot-beat.service"), ("bot", "tradebot-bot.service")):  # fmt: skip
        service = unit(name)["Service"]
        argv = shlex.split(service["ExecStart"])
        argv[0] = argv[0].rsplit("/", 1)[-1]
        assert argv[: len(readme[process])] == readme[process], (name, argv)
        assert service["KillMode"] == "mixed" and service["KillSignal"] == "SIGTERM", name
        assert service["User"] == "tradebot", name
        assert seconds(service["TimeoutStopSec"]) <= STOP_BUDGET_SEC, name
    # the worker gets the whole budget (README: TimeoutStopSec=30, KillMode=mixed); web at least gunicorn's 25 s
    assert seconds(unit("tradebot-worker.service")["Service"]["TimeoutStopSec"]) == STOP_BUDGET_SEC
    assert seconds(unit("tradebot-web.service")["Service"]["TimeoutStopSec"]) >= 25
    readme_text = (ROOT / "README.md").read_text()
    assert f"TimeoutStopSec={STOP_BUDGET_SEC}" in readme_text


def test_gunicorn_listens_on_the_platforms_port_unless_told_otherwise(monkeypatch):
    import runpy

    def bind(**env: str) -> str:
        for name in ("GUNICORN_BIND", "PORT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"]

    assert bind() == "127.0.0.1:8000"
    assert bind(PORT="7777") == "0.0.0.0:7777"  # Railway / Heroku
    assert bind(PORT="7777", GUNICORN_BIND="127.0.0.1:9000") == "127.0.0.1:9000"
