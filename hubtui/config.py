"""The one place settings come from, first wins: the environment, `.env` in the working directory, the user's
config file (`~/.config/hubtui/.env`), then safe defaults; `hubtui --env FILE` replaces both files.

Every setting is documented in `.env.example`; a test keeps the two in step.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource, SettingsConfigDict

FIELD_TRUST_SYSTEMS = ("hub", "vtiger", "economic")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hubtui"


def over_ssh() -> bool:
    """True in an SSH session, where every repaint (a blinking cursor's too) travels over the link."""
    return bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))


def user_config_file() -> Path:
    """The user's own settings file, where Posting and Harlequin keep theirs (~/.config/hubtui/.env)."""
    return Path(platformdirs.user_config_dir("hubtui")) / ".env"


def settings_files(env_file: Path | None = None) -> tuple[Path, ...]:
    """The files settings are read from, the one that wins first: `env_file` alone when given, else
    `.env` in the working directory and then the user's config file."""
    if env_file is not None:
        return (Path(env_file).absolute(),)
    return (Path.cwd() / ".env", user_config_file())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    def __init__(self, **values: Any) -> None:
        # The files are found when settings are loaded (cwd, HOME and XDG_CONFIG_HOME then), not at import;
        # pydantic-settings lets later files win, so they go in lowest first.
        values.setdefault("_env_file", tuple(reversed(settings_files())))
        super().__init__(**values)

    database_url: SecretStr | None = None
    hubtui_data_dir: Path = Field(default_factory=default_data_dir)
    hubtui_language: Literal["en", "da"] = "en"
    hubtui_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    hubtui_keymap: str = ""
    hubtui_cursor_blink: bool = Field(default_factory=lambda: not over_ssh())

    vtiger_url: AnyHttpUrl | None = None
    vtiger_username: str = ""
    vtiger_api_key: SecretStr = SecretStr("")
    vtiger_api_flavour: Literal["rest", "webservice"] = "rest"
    vtiger_cvr_field: str = "cf_856"
    vtiger_economic_number_field: str = "cf_854"
    vtiger_mobile_field: str = ""
    vtiger_max_concurrency: int = Field(default=4, ge=1, le=32)

    vtiger_timelog_module: str = "Timelogs"
    vtiger_timelog_account_field: str = "related_to"
    vtiger_timelog_contact_field: str = "contact_id"
    vtiger_timelog_date_field: str = "date_start"
    vtiger_timelog_duration_field: str = "duration"
    vtiger_timelog_description_field: str = "description"
    vtiger_timelog_billable_field: str = "billable"
    vtiger_timelog_case_field: str = "case_id"

    economic_api_url: AnyHttpUrl = AnyHttpUrl("https://restapi.e-conomic.com")
    economic_app_secret_token: SecretStr = SecretStr("")
    economic_agreement_grant_token: SecretStr = SecretStr("")
    economic_max_concurrency: int = Field(default=8, ge=1, le=32)

    http_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    http_max_retries: int = Field(default=4, ge=0, le=10)

    vtiger_sync_enabled: bool = True
    economic_sync_enabled: bool = True
    auto_check_consistency: bool = True
    economic_read_only: bool = True
    economic_dry_run: bool = True
    field_trust: str = ""

    timetracking_economic_read_only: bool = True
    timetracking_economic_dry_run: bool = True
    # "booked" is accepted as a value the seed knew, but hubtui refuses to export anything but drafts.
    timetracking_export_type: Literal["draft", "booked"] = "draft"
    timetracking_rounding_minutes: int = Field(default=15, ge=1, le=60)
    timetracking_default_rate: Decimal = Field(default=Decimal("850.00"), ge=0, decimal_places=2)
    timetracking_currency: str = Field(default="DKK", min_length=3, max_length=3)
    timetracking_economic_product_number: str = "1"
    timetracking_economic_unit_number: int = 1
    timetracking_economic_layout_number: int = 19
    timetracking_economic_payment_terms_number: int = 1

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        url = value.get_secret_value()
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme in ("postgresql", "postgres"):
            # asyncpg is the driver hubtui ships with; a plain libpq URL means the same server.
            return SecretStr("postgresql+asyncpg://" + url.split("://", 1)[1])
        if scheme != "postgresql+asyncpg":
            raise ValueError("must be a Postgres URL like postgresql+asyncpg://user:password@host:5432/hubtui")
        return value

    @field_validator("field_trust")
    @classmethod
    def _check_field_trust(cls, value: str) -> str:
        for rule in filter(None, (part.strip() for part in value.split(","))):
            field, sep, system = rule.partition("=")
            if not sep or not field.strip() or system.strip() not in FIELD_TRUST_SYSTEMS:
                raise ValueError(f"'{rule}' is not field=hub|vtiger|economic")
        return value

    @cached_property
    def trusted_systems(self) -> dict[str, str]:
        rules = (part.split("=", 1) for part in self.field_trust.split(",") if "=" in part)
        return {field.strip(): system.strip() for field, system in rules}

    @property
    def remote_configured(self) -> bool:
        """True when at least one remote system has an address and credentials to compare the hub with."""
        vtiger = self.vtiger_url is not None and bool(self.vtiger_username)
        economic = bool(self.economic_app_secret_token.get_secret_value())
        return vtiger or economic

    @property
    def pgdata_dir(self) -> Path:
        return self.hubtui_data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.hubtui_data_dir / "hubtui.log"


class SettingsError(Exception):
    """A setting has a value hubtui cannot use; the message names it, in one line."""


def describe_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        problems.append(f"{name}: {item['msg']} (got {item.get('input')!r})"
                        if not _is_secret(name) else f"{name}: {item['msg']}")
    return "invalid setting " + "; ".join(problems)


def _is_secret(name: str) -> bool:
    return any(word in name for word in ("KEY", "TOKEN", "DATABASE_URL", "SECRET"))


ENVIRONMENT, DEFAULT = "environment", "default"


def setting_sources(env_file: Path | None = None) -> dict[str, str]:
    """Where each setting's value comes from: "environment", a file's path ("--env PATH" for --env) or
    "default". The same pydantic-settings sources Settings reads, asked one at a time, first wins."""
    sources: list[tuple[str, dict[str, Any]]] = [(ENVIRONMENT, EnvSettingsSource(Settings)())]
    for path in settings_files(env_file):
        label = f"--env {path}" if env_file is not None else str(path)
        sources.append((label, DotEnvSettingsSource(Settings, env_file=path)()))
    return {name: next((label for label, values in sources if name in values), DEFAULT)
            for name in Settings.model_fields}


def _check_readable(path: Path, *, required: bool) -> None:
    """A settings file hubtui cannot read stops it, rather than being skipped for defaults."""
    if not required and not path.is_file():
        return  # absent, or a `.env` virtualenv directory: pydantic-settings skips those too
    try:
        path.open("rb").close()
    except OSError as error:
        what = "--env" if required else "settings file"
        raise SettingsError(f"{what} {path}: {error.strerror or error} (give a readable settings file, "
                            "see .env.example)") from None


def load_settings(env_file: Path | None = None, **overrides: object) -> Settings:
    """The settings in force; `env_file` is `hubtui --env FILE`. Raises SettingsError with one line."""
    files = settings_files(env_file)
    for path in files:
        _check_readable(path, required=env_file is not None)
    try:
        settings = Settings(_env_file=tuple(reversed(files)), **overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None
    source = setting_sources(env_file)["database_url"]
    if settings.database_url is None and "database_url" not in overrides and source not in (ENVIRONMENT, DEFAULT):
        # A file that names DATABASE_URL expects a server: an empty value must not open a new, empty database.
        raise SettingsError(f"invalid setting DATABASE_URL: it is empty in {source.removeprefix('--env ')}; "
                            "set it to the team's Postgres URL, or remove the line to use the embedded database")
    return settings
