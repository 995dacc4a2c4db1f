"""Settings: what a fresh install does, and how a bad value is reported (one line, exit 2, no secrets)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from hubtui.cli import main
from hubtui.config import Settings, SettingsError, load_settings

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
        ((), ("demo", "ui", "db", "--demo")),
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
