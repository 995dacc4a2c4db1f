"""Settings: what a fresh install does, where values come from (environment, ./.env, the user's config file,
--env), `hubtui config`, and how a bad value is reported (one line, exit 2, no secrets)."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from hubtui_process import clean_environment
from hubtui_process import run_hubtui as run_process
from pydantic import SecretStr

from hubtui.cli import main
from hubtui.config import Settings, SettingsError, load_settings, setting_sources, user_config_file
from hubtui.tui.keymap import check_keymap

REPO = Path(__file__).resolve().parents[1]
SECRET = "supersecret123"
SECRET_FIELDS = (
    "database_url", "vtiger_api_key", "economic_app_secret_token", "economic_agreement_grant_token",
)
# A setting line in .env.example, commented out or not: `NAME=value` or `# NAME=value`.
ENV_LINE = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)\s*=")


def clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The process environment without any hubtui setting, plus `values`."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env["HUBTUI_DATA_DIR"] = str(tmp_path / "data")
    env.update(values)
    return env


def run_hubtui(tmp_path: Path, *args: str, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubtui", *args],
        cwd=tmp_path, env=clean_env(tmp_path, **values), capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )


def settings_error(monkeypatch: pytest.MonkeyPatch, **values: str) -> str:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


# --- defaults ---------------------------------------------------------------------------------------


def test_safety_defaults_are_the_safe_ones(settings: Settings) -> None:
    fresh = load_settings()
    for loaded in (settings, fresh):
        assert loaded.database_url is None  # embedded Postgres, never a guessed server
        assert loaded.hubtui_language == "en"
        assert loaded.vtiger_sync_enabled is True
        assert loaded.economic_sync_enabled is True
        assert loaded.auto_check_consistency is True
        assert loaded.economic_read_only is True
        assert loaded.economic_dry_run is True
        assert loaded.timetracking_economic_read_only is True
        assert loaded.timetracking_economic_dry_run is True
        assert loaded.timetracking_export_type == "draft"
        assert loaded.vtiger_cvr_field == "cf_856"
        assert loaded.vtiger_economic_number_field == "cf_854"
        assert str(loaded.economic_api_url).rstrip("/") == "https://restapi.e-conomic.com"
        assert loaded.timetracking_default_rate == Decimal("850.00")
        assert isinstance(loaded.timetracking_default_rate, Decimal)


def test_secrets_are_secret_str(settings: Settings) -> None:
    for name in ("vtiger_api_key", "economic_app_secret_token", "economic_agreement_grant_token"):
        assert isinstance(getattr(settings, name), SecretStr), name
    with_url = Settings(database_url="postgresql+asyncpg://hub:pw@db/hub")
    assert isinstance(with_url.database_url, SecretStr)


def test_data_dir_default_is_under_local_share(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/support")
    assert load_settings().hubtui_data_dir == Path("/home/support/.local/share/hubtui")


# --- where values come from -------------------------------------------------------------------------


def test_env_file_in_cwd_is_read(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "HUBTUI_LANGUAGE=da\nECONOMIC_DRY_RUN=false\nVTIGER_API_KEY=from-dotenv\n"
        "VTIGER_URL=https://crm.example.dk\n", encoding="utf-8",
    )
    loaded = load_settings()
    assert loaded.hubtui_language == "da"
    assert loaded.economic_dry_run is False
    assert loaded.economic_read_only is True  # not in .env: stays safe
    assert loaded.vtiger_api_key.get_secret_value() == "from-dotenv"
    assert str(loaded.vtiger_url).startswith("https://crm.example.dk")


def test_environment_wins_over_env_file(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("HUBTUI_LANGUAGE=da\n", encoding="utf-8")
    monkeypatch.setenv("HUBTUI_LANGUAGE", "en")
    assert load_settings().hubtui_language == "en"


def test_invalid_value_in_env_file_names_the_setting(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ECONOMIC_DRY_RUN=perhaps\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="ECONOMIC_DRY_RUN"):
        load_settings()


# --- invalid values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ECONOMIC_READ_ONLY", "maybe"),
        ("TIMETRACKING_ECONOMIC_DRY_RUN", "perhaps"),
        ("VTIGER_URL", "not a url"),
        ("VTIGER_URL", "http://"),
        ("ECONOMIC_API_URL", "restapi.e-conomic.com"),
        ("HUBTUI_LANGUAGE", "sv"),
        ("HTTP_TIMEOUT_SECONDS", "-1"),
    ],
)
def test_invalid_value_raises_one_line_naming_the_setting(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    message = settings_error(monkeypatch, **{name: value})
    assert name in message
    assert "\n" not in message
    other_names = {field.upper() for field in Settings.model_fields} - {name}
    assert not [other for other in other_names if re.search(rf"\b{other}\b", message)]


def test_secret_never_in_error_line(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(
        monkeypatch,
        VTIGER_API_KEY=SECRET,
        ECONOMIC_APP_SECRET_TOKEN=SECRET + "a",
        ECONOMIC_AGREEMENT_GRANT_TOKEN=SECRET + "b",
        DATABASE_URL=f"postgresql+asyncpg://hub:{SECRET}@db.example.dk/hub", ECONOMIC_READ_ONLY="maybe",
    )
    assert "ECONOMIC_READ_ONLY" in message
    assert SECRET not in message


def test_secret_never_in_repr(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VTIGER_API_KEY", SECRET)
    monkeypatch.setenv("ECONOMIC_APP_SECRET_TOKEN", SECRET + "a")
    monkeypatch.setenv("ECONOMIC_AGREEMENT_GRANT_TOKEN", SECRET + "b")
    monkeypatch.setenv("DATABASE_URL", f"postgresql+asyncpg://hub:{SECRET}@db.example.dk/hub")
    loaded = load_settings()
    assert loaded.vtiger_api_key.get_secret_value() == SECRET  # it was read ...
    for shown in (repr(loaded), str(loaded), str(loaded.model_dump())):
        assert SECRET not in shown  # ... and is never shown


@pytest.mark.parametrize(
    "value",
    ["name=hub", "name=vtiger, email=economic", " phone = hub ,", ""],
)
def test_field_trust_accepts_field_equals_system(settings: Settings, value: str) -> None:
    assert load_settings(field_trust=value).field_trust == value


def test_field_trust_is_parsed_to_systems(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELD_TRUST", "name=vtiger, email = economic")
    assert load_settings().trusted_systems == {"name": "vtiger", "email": "economic"}


@pytest.mark.parametrize("value", ["name=salesforce", "name", "=hub", "name=hub,email"])
def test_field_trust_rejects_unknown_system_or_shape(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    message = settings_error(monkeypatch, FIELD_TRUST=value)
    assert "FIELD_TRUST" in message
    assert "\n" not in message


def test_export_type_rejects_unknown_value(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "TIMETRACKING_EXPORT_TYPE" in settings_error(monkeypatch, TIMETRACKING_EXPORT_TYPE="drfat")


# --- the command line -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "args"),
    [
        ("ECONOMIC_READ_ONLY", "maybe", ()),
        ("VTIGER_URL", "not-a-url", ()),
        ("ECONOMIC_READ_ONLY", "maybe", ("demo",)),
        ("VTIGER_URL", "http://", ("db", "upgrade")),
    ],
)
def test_cli_invalid_setting_exits_2_with_one_line(
    tmp_path: Path, name: str, value: str, args: tuple[str, ...]
) -> None:
    result = run_hubtui(tmp_path, *args, **{name: value, "VTIGER_API_KEY": SECRET})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert result.stdout == ""


def test_cli_invalid_setting_in_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ECONOMIC_READ_ONLY=maybe\n", encoding="utf-8")
    result = run_hubtui(tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "ECONOMIC_READ_ONLY" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_malformed_database_url_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_hubtui(tmp_path, DATABASE_URL="notaurl")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "DATABASE_URL" in lines[0]


def test_cli_unreachable_database_exits_2_without_the_password(tmp_path: Path) -> None:
    result = run_hubtui(tmp_path, DATABASE_URL=f"postgresql+asyncpg://hub:{SECRET}@127.0.0.1:1/hub")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_cli_unusable_data_dir_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory", encoding="utf-8")
    result = run_hubtui(tmp_path, HUBTUI_DATA_DIR=str(tmp_path / "a-file" / "hubtui"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "HUBTUI_DATA_DIR" in lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), ("demo", "ui", "db", "config", "--demo", "--env")),
        (("db",), ("upgrade",)),
        (("demo",), ("--customers", "--reset")),
    ],
)
def test_cli_help_documents_every_command(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    for word in words:
        assert re.search(rf"(^|\s){re.escape(word)}\b", shown), word


# --- .env.example -----------------------------------------------------------------------------------


def env_example_names() -> list[str]:
    path = REPO / ".env.example"
    assert path.is_file(), f"{path} is missing: it must list every setting"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [match.group(1) for line in lines if (match := ENV_LINE.match(line))]


def test_env_example_lists_every_setting() -> None:
    listed = set(env_example_names())
    missing = sorted(name.upper() for name in Settings.model_fields if name.upper() not in listed)
    assert not missing, f".env.example does not list: {missing}"


def test_env_example_lists_only_real_settings() -> None:
    names = env_example_names()
    real = {name.upper() for name in Settings.model_fields}
    assert not sorted(set(names) - real), "listed in .env.example but not a setting"
    assert len(names) == len(set(names)), "a setting is listed twice"


def test_env_example_values_are_valid_and_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               settings: Settings) -> None:
    """Copying .env.example to .env as it is gives a working, safe configuration."""
    example = REPO / ".env.example"
    assert example.is_file(), f"{example} is missing"
    (tmp_path / ".env").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    loaded = load_settings()
    assert loaded.economic_read_only and loaded.economic_dry_run
    assert loaded.timetracking_economic_read_only and loaded.timetracking_economic_dry_run
    assert loaded.timetracking_export_type == "draft"
    assert loaded.database_url is None


# --- the user's config file, --env and `hubtui config` ----------------------------------------------


@pytest.fixture
def user_file(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's config file under a temporary XDG_CONFIG_HOME; the working directory is tmp_path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = tmp_path / "config" / "hubtui" / ".env"
    path.parent.mkdir(parents=True)
    return path


def test_user_config_file_is_under_xdg_config_home(user_file: Path) -> None:
    assert user_config_file() == user_file


def test_precedence_environment_then_cwd_env_then_user_file_then_default(
    user_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_file.write_text("HUBTUI_LANGUAGE=da\nHTTP_MAX_RETRIES=1\nHTTP_TIMEOUT_SECONDS=1\n", encoding="utf-8")
    (tmp_path / ".env").write_text("HTTP_MAX_RETRIES=2\nHTTP_TIMEOUT_SECONDS=2\n", encoding="utf-8")
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "3")
    loaded = load_settings()
    assert loaded.http_timeout_seconds == 3  # environment over both files
    assert loaded.http_max_retries == 2  # ./.env over the user file
    assert loaded.hubtui_language == "da"  # the user file over the default
    assert loaded.vtiger_max_concurrency == 4  # nowhere: the default
    sources = setting_sources()
    assert sources["http_timeout_seconds"] == "environment"
    assert sources["http_max_retries"] == str(tmp_path / ".env")
    assert sources["hubtui_language"] == str(user_file)
    assert sources["vtiger_max_concurrency"] == "default"


def test_env_option_replaces_both_files_but_not_the_environment(
    user_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_file.write_text("HUBTUI_LANGUAGE=da\nHTTP_MAX_RETRIES=1\n", encoding="utf-8")
    (tmp_path / ".env").write_text("HTTP_MAX_RETRIES=2\nVTIGER_MAX_CONCURRENCY=2\n", encoding="utf-8")
    chosen = tmp_path / "team.env"
    chosen.write_text("HTTP_MAX_RETRIES=7\nHTTP_TIMEOUT_SECONDS=7\n", encoding="utf-8")
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "3")
    loaded = load_settings(chosen)
    assert loaded.http_max_retries == 7
    assert loaded.http_timeout_seconds == 3
    assert loaded.hubtui_language == "en"  # the user file is not read
    assert loaded.vtiger_max_concurrency == 4  # nor ./.env
    assert setting_sources(chosen)["http_max_retries"] == f"--env {chosen}"


def test_env_directory_in_cwd_is_not_a_settings_file(user_file: Path, tmp_path: Path) -> None:
    """A virtualenv called .env is common; it is skipped, as before, and the user file still counts."""
    (tmp_path / ".env").mkdir()
    user_file.write_text("HUBTUI_LANGUAGE=da\n", encoding="utf-8")
    assert load_settings().hubtui_language == "da"


@pytest.mark.parametrize("place", ["user", "cwd", "env_option"])
def test_empty_database_url_in_a_file_is_an_error(user_file: Path, tmp_path: Path, place: str) -> None:
    path = {"user": user_file, "cwd": tmp_path / ".env", "env_option": tmp_path / "team.env"}[place]
    path.write_text("HUBTUI_LANGUAGE=da\nDATABASE_URL=\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path if place == "env_option" else None)
    message = str(caught.value)
    assert "DATABASE_URL" in message and str(path) in message and "remove the line" in message
    assert "\n" not in message


def test_empty_database_url_in_a_file_is_fine_when_the_environment_sets_it(
    user_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_file.write_text("DATABASE_URL=\n", encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://hub@db.example.dk/hub")
    assert load_settings().database_url is not None


def process_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """A hubtui process's environment: no settings, its own XDG_CONFIG_HOME and data dir under tmp_path."""
    return clean_environment(XDG_CONFIG_HOME=str(tmp_path / "config"), HUBTUI_DATA_DIR=str(tmp_path / "data"),
                             **values)


def write_user_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "hubtui" / ".env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


async def test_cli_config_shows_where_each_value_comes_from(tmp_path: Path) -> None:
    user = write_user_file(tmp_path, "HUBTUI_LANGUAGE=da\nHTTP_MAX_RETRIES=1\nHTTP_TIMEOUT_SECONDS=1\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_text("HTTP_MAX_RETRIES=2\nHTTP_TIMEOUT_SECONDS=2\n", encoding="utf-8")
    env = process_env(tmp_path, HTTP_TIMEOUT_SECONDS="3")
    result = await run_process("config", "--json", env=env, cwd=work)
    assert result.code == 0, result.stderr
    shown = result.json()["settings"]
    assert shown["HTTP_TIMEOUT_SECONDS"] == {"value": 3.0, "source": "environment"}
    assert shown["HTTP_MAX_RETRIES"] == {"value": 2, "source": str(work / ".env")}
    assert shown["HUBTUI_LANGUAGE"] == {"value": "da", "source": str(user)}
    assert shown["ECONOMIC_READ_ONLY"] == {"value": True, "source": "default"}
    assert set(shown) == {name.upper() for name in Settings.model_fields}
    assert result.json()["database"] == f"embedded Postgres in {tmp_path / 'data' / 'pgdata'} (DATABASE_URL unset)"

    text = await run_process("config", env=env, cwd=work)
    assert text.code == 0, text.stderr
    lines = {line.split()[0]: line for line in text.stdout.splitlines()}
    assert lines["HUBTUI_LANGUAGE"].split() == ["HUBTUI_LANGUAGE", "da", f"[{user}]"]
    assert lines["HTTP_MAX_RETRIES"].split() == ["HTTP_MAX_RETRIES", "2", f"[{work / '.env'}]"]
    assert str(tmp_path / "data" / "pgdata") in lines["database:"]

    chosen = tmp_path / "team.env"
    chosen.write_text("HTTP_MAX_RETRIES=7\n", encoding="utf-8")
    replaced = await run_process("--env", str(chosen), "config", "--json", env=env, cwd=work)
    assert replaced.code == 0, replaced.stderr
    assert replaced.json()["settings"]["HTTP_MAX_RETRIES"] == {"value": 7, "source": f"--env {chosen}"}
    assert replaced.json()["settings"]["HUBTUI_LANGUAGE"]["source"] == "default"


async def test_cli_config_masks_every_secret(tmp_path: Path) -> None:
    write_user_file(tmp_path, f"ECONOMIC_APP_SECRET_TOKEN={SECRET}a\n")
    (tmp_path / ".env").write_text(f"ECONOMIC_AGREEMENT_GRANT_TOKEN={SECRET}b\n", encoding="utf-8")
    env = process_env(tmp_path, VTIGER_API_KEY=SECRET,
                      DATABASE_URL=f"postgresql+asyncpg://hub:{SECRET}@db.example.dk/hub")
    for args in (("config",), ("config", "--json")):
        result = await run_process(*args, env=env, cwd=tmp_path)
        assert result.code == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
        assert "supersecret" not in result.stdout  # not even a prefix
    shown = result.json()["settings"]
    for name in SECRET_FIELDS:
        assert shown[name.upper()]["value"] == "***", name
    assert shown["ECONOMIC_APP_SECRET_TOKEN"]["source"] == str(tmp_path / "config" / "hubtui" / ".env")


async def test_cli_env_option_with_a_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such.env"
    result = await run_process("--env", str(missing), "config", env=process_env(tmp_path), cwd=tmp_path)
    assert result.code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert str(missing) in result.stderr and "--env" in result.stderr
    assert "Traceback" not in result.stderr


async def test_cli_empty_database_url_in_the_user_file_exits_2_naming_it(tmp_path: Path) -> None:
    user = write_user_file(tmp_path, "DATABASE_URL=\n")
    result = await run_process("db", "upgrade", env=process_env(tmp_path), cwd=tmp_path)
    assert result.code == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "DATABASE_URL" in result.stderr and str(user) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "pgdata").exists()  # no new, empty embedded database


async def test_cli_from_another_directory_uses_the_user_files_database(tmp_path: Path, database_url: str) -> None:
    user = write_user_file(tmp_path, f"DATABASE_URL={database_url}\n")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    env = process_env(tmp_path)
    result = await run_process("db", "upgrade", env=env, cwd=elsewhere)
    assert result.code == 0, result.stderr
    assert "already at revision" in result.stdout  # the session's migrated database, not a new one
    assert not (tmp_path / "data" / "pgdata").exists()
    shown = await run_process("config", "--json", env=env, cwd=elsewhere)
    assert shown.json()["settings"]["DATABASE_URL"] == {"value": "***", "source": str(user)}


async def test_cli_logs_the_embedded_data_dir_when_database_url_is_unset(tmp_path: Path) -> None:
    result = await run_process("db", "upgrade", env=process_env(tmp_path), cwd=tmp_path)
    assert result.code == 0, result.stderr
    log = (tmp_path / "data" / "hubtui.log").read_text(encoding="utf-8")
    assert f"DATABASE_URL is unset: using the embedded Postgres in {tmp_path / 'data' / 'pgdata'}" in log


def test_every_third_party_import_is_a_declared_dependency() -> None:
    imported = set()
    for path in (REPO / "hubtui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # real imports, not words in prose
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"hubtui", "__future__"}
    distributions = importlib.metadata.packages_distributions()
    declared = {re.split(r"[\s<>=\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
                for requirement in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    undeclared = sorted(module for module in third_party
                        if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])} & declared)
    assert not undeclared, f"imported by hubtui/ but not in pyproject dependencies: {undeclared}"


# --- HUBTUI_KEYMAP ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keymap", "said"),
    [
        ("nosuch.id=f9", "no binding has the id 'nosuch.id'"),
        ("customers.sort=f66", "'f66' in customers.sort=f66 is not a key name"),
        ("customers.sort", "'customers.sort' is not id=key"),
        ("customers.sort=f6", "customers.sort=f6: f6 is already customers.check_all"),  # the screen's own key
        ("audit.reload=f3", "audit.reload=f3: f3 is already app.audit"),  # the app's key
    ],
)
async def test_a_wrong_keymap_stops_hubtui_with_one_line_naming_it(tmp_path: Path, keymap: str, said: str) -> None:
    env = clean_environment(HUBTUI_KEYMAP=keymap, HUBTUI_DATA_DIR=str(tmp_path / "data"))
    for args in ((), ("demo",)):
        result = await run_process(*args, env=env, cwd=tmp_path)
        assert result.code == 2, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"hubtui: invalid setting HUBTUI_KEYMAP: {said}"), line
        assert result.stdout == ""


def test_the_readme_keymap_example_is_valid() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r'"((?:[a-z_]+\.[a-z_]+=[^";]+;?)+)"', readme)  # "screen.action=key;…"
    assert len(examples) == 2, examples
    for example in examples:
        assert check_keymap(example), example
