"""The one settings object: read once at an entry point, passed down from there."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Where things are and which adapters run.

    Every value comes from a ``DUNNING_*`` environment variable or its default;
    nothing below the entry points reads the environment again.
    """

    model_config = SettingsConfigDict(env_prefix="DUNNING_", frozen=True)

    home: Path = Field(
        default=PROJECT_ROOT / "var",
        description="Working folder: database file, outbox, imports, reports.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means the SQLite file under home.",
    )
    config_dir: Path = PROJECT_ROOT / "config"
    templates_dir: Path = PROJECT_ROOT / "templates"
    data_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data" / "real",
        description="Where the real sample data sets are read from.",
    )
    channel: str = Field(
        default="outbox",
        description="Adapter for calls and texts: 'outbox' records what would be sent.",
    )
    timezone: str = "Asia/Shanghai"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'dunning.db'}"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def imports_dir(self) -> Path:
        return self.home / "imports"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def playbook_path(self) -> Path:
        return self.config_dir / "playbook.yaml"

    @property
    def adapters_path(self) -> Path:
        return self.config_dir / "adapters.yaml"
