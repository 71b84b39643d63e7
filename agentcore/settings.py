"""Typed settings, declared once with defaults and descriptions.

Secrets are not settings: the API key lives in the OS keyring (see
`secrets.py`); a settings file never holds one.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agentcore.cache import CacheSettings
from agentcore.channels import ChatwootSettings
from agentcore.errors import SettingsError
from agentcore.intake.settings import IntakeSettings
from agentcore.resilience import ResilienceSettings
from agentcore.tool_servers import ToolServerConfig

APP_NAME = "agent-console"
REPO_ROOT = Path(__file__).resolve().parent.parent


def default_settings_path() -> Path:
    """Where the console keeps its settings file (never a secret: keys are in the keyring)."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "settings.json"


class _Model(BaseModel):
    # A refused value is not quoted in the error: a settings file's base URL may hold
    # a key pasted into it, and pydantic's elision could leave part of it showing.
    model_config = ConfigDict(extra="forbid", validate_assignment=True,
                              hide_input_in_errors=True)


class StageModel(_Model):
    """A model used for one stage of the slow path, with its price."""

    model: str
    input_per_mtok: float = Field(ge=0, description="dollars per million prompt tokens")
    output_per_mtok: float = Field(ge=0, description="dollars per million completion tokens")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok
                + completion_tokens * self.output_per_mtok) / 1_000_000


class LLMSettings(_Model):
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint; None runs the in-process mock LLM")
    api_key_name: str = Field("default", description="keyring entry holding the API key")
    classify: StageModel | None = Field(
        default_factory=lambda: StageModel(model="gpt-4o-mini", input_per_mtok=0.15,
                                           output_per_mtok=0.60),
        description="cheap model that names the intent; None skips the stage")
    decide: StageModel = Field(
        default_factory=lambda: StageModel(model="gpt-4o", input_per_mtok=2.50,
                                           output_per_mtok=10.00),
        description="stronger model that calls tools and writes the answer")
    max_tokens: int = Field(400, ge=16, le=32_000, description="completion cap per call")
    request_timeout_s: float = Field(30.0, gt=0, description="HTTP timeout per LLM call")
    structured_output: Literal["auto", "json_schema", "off"] = Field(
        "auto", description="ask for JSON replies with a JSON schema (response_format): auto "
                            "tries it once and stops asking an endpoint that refuses it")

    @field_validator("base_url", mode="before")
    @classmethod
    def _an_http_url(cls, value: object) -> object:
        # Refused here, beside the field, rather than as a baffling failure on the
        # first request: "localhost:8000/v1" has no scheme, "htps://" a typo.
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None  # an emptied field: the built-in mock
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the base URL must start with http:// or https:// and name a "
                             "host, e.g. https://api.openai.com/v1")
        try:
            parts.port  # noqa: B018 (urlsplit checks the port only when asked)
        except ValueError:
            raise ValueError("the base URL's port must be a number from 1 to 65535, "
                             "e.g. http://localhost:8000/v1") from None
        return value


class LoopSettings(_Model):
    max_iterations: int = Field(3, ge=1, le=20, description="LLM calls in the decide loop")
    dollar_ceiling: float = Field(0.05, gt=0,
                                  description="dollars per request, checked before each call")
    tool_timeout_s: float = Field(5.0, gt=0, description="timeout per tool call")
    min_confidence: float = Field(0.5, ge=0, le=1, description="below this, hand to a human")


class GuardSettings(_Model):
    max_chars: int = Field(4000, ge=16, description="longer requests are rejected")
    rate_per_minute: int = Field(120, ge=1, description="requests per customer per minute")
    anonymous_rate_per_minute: int = Field(
        1200, ge=1, description="requests per minute without a customer, all of them together")


class MockSettings(_Model):
    """The offline LLM: latency model and fault knobs (rates are 0..1)."""

    latency_median_ms: float = Field(0.0, ge=0)
    latency_sigma: float = Field(0.5, ge=0)
    rate_429: float = Field(0.0, ge=0, le=1)
    rate_5xx: float = Field(0.0, ge=0, le=1)
    rate_timeout: float = Field(0.0, ge=0, le=1)
    rate_malformed: float = Field(0.0, ge=0, le=1)
    rate_unknown_tool: float = Field(0.0, ge=0, le=1)
    seed: int = 7


def _os_user() -> str:
    """The operator's name when none is set: who is logged in to this desktop."""
    try:
        return getpass.getuser().strip() or "operator"
    except (OSError, KeyError):  # no login name (a container, a service account)
        return "operator"


OPERATOR_MAX = 64
OPERATOR_REQUIRED = ("the operator's name is required: every claim, reply, approval and "
                     "rule version is recorded under it")


class EscalationSettings(_Model):
    """How this console's operator works the escalation queue."""

    operator: str = Field(default_factory=_os_user,
                          description="this station's operator: the name every claim, "
                                      "reply, approval and rule version is recorded under")
    lease_s: float = Field(300.0, ge=10, le=86_400,
                           description="a claim lapses this long after the operator's "
                                       "last action on it")
    waiting_target_s: float = Field(600.0, gt=0,
                                    description="an open item waiting longer is late")

    @field_validator("operator", mode="before")
    @classmethod
    def _trimmed(cls, value: object) -> object:
        # Claims are matched by name: " alice" must not be another operator than "alice".
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            raise ValueError(OPERATOR_REQUIRED)
        if len(value) > OPERATOR_MAX:
            raise ValueError(f"the operator's name must be at most {OPERATOR_MAX} characters")
        return value


class StorageSettings(_Model):
    """How long the engine database keeps what it no longer needs."""

    retention_days: float | None = Field(
        30.0, gt=0, description="finished requests older than this are pruned with their "
        "outcomes and spans (never an open escalation or a labelled example); None: keep "
        "for ever")
    spans_max_mb: float | None = Field(
        512.0, gt=0, description="the spans of the oldest finished requests are pruned "
        "beyond this size; None: no cap")


DEFAULT_SAMPLE = 10_000


class BacktestSettings(_Model):
    """What the rules view's backtests replay."""

    sample: int = Field(
        DEFAULT_SAMPLE, ge=100, le=2_000_000, description="newest recorded requests a "
        "backtest replays: read when the rules view opens (a million take seconds), then "
        "topped up with what was answered since")


class LearnedSettings(_Model):
    """The learned intent tier (agentcore.learned): what a newly trained version gets."""

    threshold: float = Field(
        0.9, gt=0, le=1, description="a new version answers only at or above this "
        "calibrated confidence (a probability: at 0.9, nine in ten of its answers right); "
        "each version keeps its own, which the operator changes")
    training_limit: int = Field(100_000, ge=100, le=2_000_000,
                                description="newest recorded requests read to train on")
    holdout_folds: int = Field(5, ge=2, le=10,
                               description="folds of the hold-out backtest before saving")


class TelemetrySettings(_Model):
    """What the engine's OTLP traces may carry (agentcore.telemetry); where they go is
    the standard OTEL_* environment (OTEL_EXPORTER_OTLP_ENDPOINT turns them on)."""

    capture_content: bool = Field(
        False, description="put the customer's text, the answer and tool arguments on "
        "exported spans (redacted of secrets); also on when "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true")


DATABASE_PASSWORD_ENTRY = "database-password"


class Settings(_Model):
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)),
                           description="where the engine's SQLite database lives")
    database_url: str = Field(
        "sqlite", description="the engine database: 'sqlite' (data_dir/agent.sqlite, one "
        "workstation) or a team's PostgreSQL server, postgresql://user@host:port/database "
        "(docs/postgresql.md); its password is never here but in the keyring")
    database_password_name: str = Field(
        DATABASE_PASSWORD_ENTRY, description="keyring entry holding the PostgreSQL password "
        "(none stored: connect without one, e.g. trust or a client certificate)")
    domain: str | None = Field(
        None, description="the agent's world: module:factory, or an installed domain's name "
                          "(entry points 'hybrid_agent.domains'); None: the demo shop")
    shop_db: Path | None = Field(None, description="demo shop database; None: data_dir/shop.sqlite")
    resources_dir: Path | None = Field(
        None, description="rules, prompts and static answers; None: the domain's own")
    shop_today: str | None = Field(
        None, description="ISO date the shop treats as today; None uses the shop data's own date")
    shop_latency_ms: float = Field(
        0.0, ge=0, description="simulated round trip of each shop tool call (demo realism)")
    llm: LLMSettings = Field(default_factory=LLMSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    mock: MockSettings = Field(default_factory=MockSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    escalations: EscalationSettings = Field(default_factory=EscalationSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)
    learned: LearnedSettings = Field(default_factory=LearnedSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    tool_servers: list[ToolServerConfig] = Field(
        default_factory=list, description="MCP servers whose tools the agent offers beside "
        "the domain's")
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    chatwoot: ChatwootSettings | None = Field(
        None, description="a Chatwoot Agent Bot channel on the intake server; None: off")
    log_payloads: bool = Field(False, description="log request text and tool payloads")

    @model_validator(mode="after")
    def _no_secret_in_url(self) -> Settings:
        if self.llm.base_url and "@" in self.llm.base_url.split("//", 1)[-1].split("/", 1)[0]:
            raise ValueError("put credentials in the keyring, not in the base URL")
        return self

    @field_validator("database_url")
    @classmethod
    def _a_database(cls, url: str) -> str:
        url = url.strip()
        if url == "sqlite":
            return url
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"database_url {url!r}: 'sqlite', or a PostgreSQL URL such as "
                             "postgresql://agent@db.example.org:5432/agent")
        if ":" in urlsplit(url).netloc.rpartition("@")[0] or "password=" in url:
            raise ValueError("put the database password in the keyring (keyring set "
                             "agent-console database-password), not in database_url")
        return url

    @property
    def uses_postgres(self) -> bool:
        return self.database_url != "sqlite"

    @field_validator("tool_servers")
    @classmethod
    def _unique_servers(cls, servers: list[ToolServerConfig]) -> list[ToolServerConfig]:
        names = [s.name for s in servers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"tool server names must differ: {', '.join(twice)} "
                             "is given twice")
        return servers

    @property
    def engine_db(self) -> Path:
        return self.data_dir / "agent.sqlite"

    @property
    def shop_path(self) -> Path:
        return self.shop_db or self.data_dir / "shop.sqlite"

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Settings from a JSON file; a missing file gives the defaults."""
        if not path.exists():
            return cls()
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            raise SettingsError(f"{path}: {exc}") from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2), encoding="utf-8")
