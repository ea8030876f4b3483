"""Process settings, read once from the environment (and `.env`).

Each backend switches from its embedded default to production when its setting is present
(DESIGN §4). Per-run dependencies live in `graph.context.Context`, not here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting the service reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # Service
    host: str = Field(default="127.0.0.1", alias="HOST")
    port: int = Field(default=8000, alias="PORT", ge=1, le=65535)
    public_base_url: str | None = Field(default=None, alias="PUBLIC_BASE_URL")
    data_dir: Path = Field(default=ROOT / "data", alias="DATA_DIR")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    shadow_mode: bool = Field(default=False, alias="SHADOW_MODE")
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    admin_token: SecretStr | None = Field(default=None, alias="ADMIN_TOKEN")
    admin_open: bool = Field(default=False, alias="ADMIN_OPEN")
    max_body_bytes: int = Field(default=64 * 1024, alias="MAX_BODY_BYTES")
    idempotency_ttl_days: int = Field(default=7, alias="IDEMPOTENCY_TTL_DAYS", ge=7)
    dedupe_window_minutes: int = Field(default=30, alias="DEDUPE_WINDOW_MINUTES", ge=0)

    # What a RevOps team edits
    routing_config: Path = Field(default=ROOT / "infra" / "routing.yaml", alias="ROUTING_CONFIG")
    scoring_config: Path = Field(default=ROOT / "infra" / "scoring.yaml", alias="SCORING_CONFIG")
    accounts_csv: Path = Field(default=ROOT / "infra" / "accounts.csv", alias="ACCOUNTS_CSV")
    company_directory: Path | None = Field(default=None, alias="COMPANY_DIRECTORY")
    accounts_strict: bool = Field(default=False, alias="ACCOUNTS_STRICT")
    own_domains: list[str] = Field(default_factory=list, alias="OWN_DOMAINS")

    # Enrichment waterfall
    enrichment_order: list[str] = Field(
        default_factory=lambda: ["crm", "directory", "http", "inference"],
        alias="ENRICHMENT_ORDER",
    )
    enrichment_fields: list[str] = Field(
        default_factory=lambda: ["name", "industry", "employees", "country"],
        alias="ENRICHMENT_FIELDS",
    )
    enrichment_min_confidence: float = Field(
        default=0.7, alias="ENRICHMENT_MIN_CONFIDENCE", ge=0, le=1
    )
    enrichment_budget: int = Field(default=1, alias="ENRICHMENT_BUDGET", ge=0)
    enrichment_cache_ttl_s: int = Field(default=7 * 86400, alias="ENRICHMENT_CACHE_TTL_S", ge=0)
    enrichment_url: str | None = Field(default=None, alias="ENRICHMENT_URL")
    enrichment_api_key: SecretStr | None = Field(default=None, alias="ENRICHMENT_API_KEY")
    enrichment_path: str = Field(
        default="/v1/companies/find?domain={domain}", alias="ENRICHMENT_PATH"
    )
    enrichment_timeout_s: float = Field(default=3.0, alias="ENRICHMENT_TIMEOUT_S", gt=0)
    model_path: Path | None = Field(default=None, alias="MODEL_PATH")
    similar_accounts_k: int = Field(default=5, alias="SIMILAR_ACCOUNTS_K", ge=0, le=50)

    # Backends (unset = embedded default)
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    redis_prefix: str = Field(default="lr:", alias="REDIS_PREFIX")
    queue_url: str | None = Field(default=None, alias="QUEUE_URL")
    queue_name: str = Field(default="lead-router", alias="QUEUE_NAME")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    pinecone_api_key: SecretStr | None = Field(default=None, alias="PINECONE_API_KEY")
    pinecone_index: str | None = Field(default=None, alias="PINECONE_INDEX")
    pinecone_host: str | None = Field(default=None, alias="PINECONE_HOST")
    embeddings_model: str | None = Field(default=None, alias="EMBEDDINGS_MODEL")
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    llm_model: str | None = Field(default=None, alias="LLM_MODEL")
    llm_structured_output: Literal["json_schema", "function_calling"] = Field(
        default="json_schema", alias="LLM_STRUCTURED_OUTPUT"
    )
    llm_timeout_s: float = Field(default=10.0, alias="LLM_TIMEOUT_S", gt=0)
    llm_deadline_s: float = Field(default=20.0, alias="LLM_DEADLINE_S", gt=0)
    llm_calls_per_lead: int = Field(default=2, alias="LLM_CALLS_PER_LEAD", ge=0)
    llm_max_adjustment: float = Field(default=10.0, alias="LLM_MAX_ADJUSTMENT", ge=0, le=50)
    hubspot_access_token: SecretStr | None = Field(default=None, alias="HUBSPOT_ACCESS_TOKEN")
    hubspot_api_url: str | None = Field(default=None, alias="HUBSPOT_API_URL")
    hubspot_client_secret: SecretStr | None = Field(default=None, alias="HUBSPOT_CLIENT_SECRET")
    hubspot_signature_v2: bool = Field(default=False, alias="HUBSPOT_SIGNATURE_V2")
    hubspot_requests_per_10s: int = Field(
        default=100, alias="HUBSPOT_REQUESTS_PER_10S", ge=1, le=1000
    )
    hubspot_searches_per_s: int = Field(default=4, alias="HUBSPOT_SEARCHES_PER_S", ge=1, le=50)
    hubspot_sync_interval_s: float = Field(default=300.0, alias="HUBSPOT_SYNC_INTERVAL_S", ge=1)
    hubspot_full_sync_hours: float = Field(default=24.0, alias="HUBSPOT_FULL_SYNC_HOURS", gt=0)
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: str | None = Field(default=None, alias="SLACK_API_URL")
    slack_fallback_channel: str | None = Field(default=None, alias="SLACK_FALLBACK_CHANNEL")
    slack_min_post_interval_s: float = Field(default=1.0, alias="SLACK_MIN_POST_INTERVAL_S", ge=0)
    calcom_api_key: SecretStr | None = Field(default=None, alias="CALCOM_API_KEY")
    calcom_api_url: str | None = Field(default=None, alias="CALCOM_API_URL")
    calcom_app_url: str | None = Field(default=None, alias="CALCOM_APP_URL")
    calcom_webhook_secret: SecretStr | None = Field(default=None, alias="CALCOM_WEBHOOK_SECRET")

    # Worker
    worker_concurrency: int = Field(default=16, alias="WORKER_CONCURRENCY", ge=1)
    lease_ttl_ms: int = Field(default=10_000, alias="LEASE_TTL_MS", ge=500)
    recovery_interval_s: float = Field(default=15.0, alias="RECOVERY_INTERVAL_S", gt=0)
    redeliver_after_ms: int = Field(default=60_000, alias="QUEUE_REDELIVER_AFTER_MS", ge=1000)
    backend_retry_s: float = Field(default=600.0, alias="BACKEND_RETRY_S", ge=0)
    checkpoint_retention_hours: float = Field(
        default=168.0, alias="CHECKPOINT_RETENTION_HOURS", ge=0
    )
    node_max_attempts: int = Field(default=3, alias="NODE_MAX_ATTEMPTS", ge=1)
    node_retry_initial_s: float = Field(default=0.5, alias="NODE_RETRY_INITIAL_S", ge=0)

    # Metrics: prometheus-client's multiprocess mode (read by prometheus-client itself from the
    # process environment; here so that a value only in .env is refused with the reason).
    prometheus_multiproc_dir: Path | None = Field(default=None, alias="PROMETHEUS_MULTIPROC_DIR")

    @field_validator("public_base_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        """An absolute http(s) address with no trailing slash, or None."""
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(
                "must be an absolute http:// or https:// address such as "
                "https://leads.example.com, with no query or fragment"
            )
        return value.rstrip("/")

    @property
    def public_url(self) -> str:
        """Where people reach this service: every link in a rep's message or a draft starts
        with it (PUBLIC_BASE_URL, else http://HOST:PORT)."""
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "lead_router.sqlite3"

    @property
    def checkpoints_path(self) -> Path:
        return self.data_dir / "checkpoints.sqlite3"

    @property
    def current_model_path(self) -> Path:
        """The learned model the scorer uses when the file exists (`python cli.py learn`)."""
        return self.model_path or self.data_dir / "models" / "current.json"

    @property
    def shadow_model_path(self) -> Path:
        """The model scored in shadow beside the live one when the file exists (`cli.py model`)."""
        return self.current_model_path.with_name("shadow.json")

    @property
    def crm_path(self) -> Path:
        return self.data_dir / "crm.sqlite3"


class _GivenOnly(Settings):
    """Settings that read neither .env nor the environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def given_settings(values: dict[str, object]) -> Settings:
    """Settings from `values` and the defaults alone: whatever .env and the environment say
    does not reach them (the demo's own)."""
    return _GivenOnly.model_validate(values)


class UnsupportedSetting(ValueError):
    """A setting cannot work as given (a backend's address without its key); the message says
    what to set or unset."""


def refuse_unsupported(settings: Settings) -> None:
    """Raise UnsupportedSetting naming every setting that cannot work without another one."""
    problems = []
    if settings.hubspot_api_url and settings.hubspot_access_token is None:
        problems.append(
            "HUBSPOT_API_URL is set but HUBSPOT_ACCESS_TOKEN is not: set the private app's "
            "token or unset HUBSPOT_API_URL to use the built-in CRM"
        )
    if settings.hubspot_client_secret and settings.hubspot_access_token is None:
        problems.append(
            "HUBSPOT_CLIENT_SECRET is set but HUBSPOT_ACCESS_TOKEN is not: the webhook's "
            "contacts are read from HubSpot, so set the token or unset HUBSPOT_CLIENT_SECRET"
        )
    if settings.llm_model and settings.openai_api_key is None:
        problems.append(
            "LLM_MODEL is set but OPENAI_API_KEY is not: set it (any value for a server that "
            "takes no key) or unset LLM_MODEL to use rules and templates"
        )
    if settings.calcom_api_key is None and (settings.calcom_api_url or settings.calcom_app_url):
        problems.append(
            "CALCOM_API_URL or CALCOM_APP_URL is set but CALCOM_API_KEY is not: set it to book on "
            "Cal.com, or unset them to use the built-in calendar"
        )
    if settings.prometheus_multiproc_dir and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        problems.append(
            "PROMETHEUS_MULTIPROC_DIR is set in .env but not in the environment: prometheus-client "
            "reads it from the environment before the settings are read, so export it (or set it "
            "in the service's environment) for the processes to share their metrics"
        )
    if problems:
        raise UnsupportedSetting("; ".join(problems))


def access(settings: Settings) -> dict[str, str]:
    """Who may use each entry point with these settings, for the start log and `serve`."""
    open_ = "OPEN to anyone who can reach it (ADMIN_OPEN=true)"
    if settings.admin_token is not None:
        admin = "ADMIN_TOKEN (Authorization: Bearer; the console signs in with it)"
    else:
        admin = open_ if settings.admin_open else "closed: set ADMIN_TOKEN"
    signed = "signed with WEBHOOK_SECRET"
    if settings.webhook_secret is not None:
        systems = signed
    else:
        systems = open_ if settings.admin_open else "closed: set WEBHOOK_SECRET"

    def by_secret(secret: object, name: str) -> str:
        return f"signed ({name})" if secret is not None else f"closed: set {name}"

    return {
        "/webhooks/lead": signed if settings.webhook_secret is not None else "open (forms)",
        "/webhooks/outcome, /webhooks/reply": systems,
        "/admin, /console": admin,
        "/slack/interactions": by_secret(settings.slack_signing_secret, "SLACK_SIGNING_SECRET"),
        "/webhooks/hubspot": by_secret(settings.hubspot_client_secret, "HUBSPOT_CLIENT_SECRET"),
        "/webhooks/calcom": by_secret(settings.calcom_webhook_secret, "CALCOM_WEBHOOK_SECRET"),
        "/health, /metrics": "open (no lead data)",
    }


def backends(settings: Settings) -> dict[str, str]:
    """Which backend serves each concern with these settings (the embedded default unless
    its production setting is present), for `serve` to print."""
    return {
        "store": "Redis" if settings.redis_url else f"SQLite in {settings.data_dir}",
        "queue": "Redis stream" if settings.queue_url else "in this process",
        "checkpoints": "PostgreSQL" if settings.database_url else "SQLite",
        "crm": "HubSpot" if settings.hubspot_access_token else "built-in",
        "rep messages": "Slack" if settings.slack_bot_token else "outbox",
        "calendar": "Cal.com" if settings.calcom_api_key else "built-in",
        "language model": settings.llm_model or "off (rules and templates)",
        "writes": "shadow: outbox only" if settings.shadow_mode else "live",
    }
