"""The one settings object: read once at an entry point, passed down from there."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
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
        default="auto",
        description=(
            "Adapter for calls and texts: 'outbox' records what would be sent, "
            "'twilio' calls and texts for real, 'auto' is twilio when its "
            "credentials are set and outbox otherwise."
        ),
    )
    timezone: str = "Asia/Shanghai"
    today: date | None = Field(
        default=None,
        description=(
            "The business date taken as today (replays, tests); empty: the "
            "clock's date in `timezone`."
        ),
    )

    # Twilio ------------------------------------------------------------------
    twilio_account_sid: str = Field(
        default="",
        validation_alias=AliasChoices(
            "TWILIO_ACCOUNT_SID", "DUNNING_TWILIO_ACCOUNT_SID"
        ),
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "DUNNING_TWILIO_AUTH_TOKEN"),
    )
    twilio_secret_block: str = Field(
        default="",
        description="Prefect Secret block holding the auth token, if not in env.",
    )
    twilio_api_base: str = Field(
        default="",
        description=(
            "Twilio REST base URL (a regional edge, a proxy or a test server); "
            "empty: the SDK's own, Twilio's."
        ),
    )
    twilio_from: str = Field(default="", description="Caller number, E.164.")
    twilio_timeout_seconds: float = 15.0
    voice: str = Field(
        default="Polly.Zhiyu",
        description="Text-to-speech voice; Zhiyu is Polly's Mandarin voice.",
    )
    voice_language: str = "cmn-CN"
    call_keypad_prompt: str = Field(
        default="如确认按时还款，请按1；如需工作人员回电，请按2。",
        description="Read after the call script when keypad answers are taken.",
    )
    call_keypad_thanks: str = "收到，谢谢您，再见。"
    public_base_url: str = Field(
        default="",
        description=(
            "Public base URL of the status-callback receiver (as Twilio sees it, "
            "behind any proxy); empty: no callbacks, statuses are fetched."
        ),
    )
    call_rate_per_second: float = 1.0
    sms_rate_per_second: float = 1.0
    sms_max_segments: int = 3
    redial_tries: int = Field(
        default=2,
        description="Re-dials the same day after a no-answer or busy; 0: none.",
    )
    redial_gap_minutes: int = 120
    redial_last_hour: int = Field(
        default=21,
        description="No re-dial run is scheduled at or after this local hour.",
    )
    redial_deployment: str = "redial-calls/redial-calls"
    status_deadline_minutes: int = Field(
        default=30,
        description="After this long without a final status, it is fetched.",
    )

    @property
    def twilio_configured(self) -> bool:
        return bool(
            self.twilio_account_sid
            and (self.twilio_auth_token is not None or self.twilio_secret_block)
        )

    @property
    def channel_name(self) -> str:
        if self.channel == "auto":
            return "twilio" if self.twilio_configured else "outbox"
        return self.channel

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
