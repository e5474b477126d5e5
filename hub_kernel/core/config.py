"""Settings for hub, read from ``HUB_*`` environment variables and a ``.env`` file.

``get_settings()`` returns the process-wide instance, built on first use (so a bad variable is
reported where it is used, not at import); ``reload_settings()`` re-reads the environment.
``HUB_ENV_FILE`` names the ``.env`` file (default ``.env`` in the working directory). Secrets
(tokens, API keys) come from the environment or that uncommitted file, typed ``SecretStr`` so
they never show up in reprs or logs.

Without ``HUB_HOME``, the home is the nearest ``.hub`` folder in the working directory or one of
its parents (as git finds ``.git``), else ``./.hub``: a notebook kernel started in
``notebooks/`` uses the project's ``.hub`` like the ``hub`` command run at the top. The search
stops at the user's home folder (a ``.hub`` above it is never adopted), and a ``.hub`` that
belongs to another account or is writable by group or others is passed over with a warning
(``/tmp/.hub`` planted by someone else is not picked up when working under ``/tmp/x``).

The home, however it was chosen, must belong to the current user and not be writable by group
or others (``check_home``): hub's state includes models, policies and jobs it will load and run.
``.env`` may not set the path of a program hub runs (``PROGRAM_SETTINGS``, e.g.
``HUB_BROWSER_PATH``, which ``hub doctor`` and PDF export start): such a line is ignored with a
warning; the same variable in the real environment is obeyed.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub_kernel.exceptions import ConfigError

AutonomyMode = Literal["assisted", "supervised", "autonomous"]
logger = logging.getLogger("hub_kernel")

#: settings naming a program hub runs: never taken from ``.env`` (only from the environment)
PROGRAM_SETTINGS = ("browser_path",)


def _current_uid() -> int:
    return os.getuid()


def home_problem(path: Path) -> str | None:
    """Why ``path`` may not be hub's home (another owner, writable by group or others), or
    ``None`` when it may (or does not exist yet)."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # not there yet: checked once created
        return None
    except OSError as exc:
        return f"it cannot be inspected ({exc})"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != _current_uid():
        return (f"it belongs to user id {info.st_uid}, not to you (user id {_current_uid()}), "
                f"mode {mode:o}")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"it is writable by group or others (mode {mode:o}); run `chmod go-w {path}` "
                "if it is yours")
    return None


def check_home(path: Path) -> Path:
    """``path`` if it may be hub's home, else ``ConfigError`` naming it, its owner or mode, and
    the fix."""
    problem = home_problem(path)
    if problem:
        raise ConfigError(
            f"HUB_HOME {path} is not safe to use: {problem}. hub loads models, policies and jobs "
            f"from it, so it must belong to you and not be writable by others (`chmod go-w "
            f"{path}`), or set HUB_HOME to a folder of your own")
    return path


def find_home(here: Path) -> Path | None:
    """The nearest ``.hub`` of ``here`` or a parent, up to the user's home folder; one that
    belongs to someone else or is writable by others is passed over (with a warning)."""
    chain = [here, *here.parents]
    try:
        user_home = Path.home().resolve()
    except (RuntimeError, KeyError):
        user_home = None
    if user_home is not None and user_home in chain:
        chain = chain[: chain.index(user_home) + 1]
    for folder in chain:
        candidate = folder / ".hub"
        if not candidate.is_dir():
            continue
        problem = home_problem(candidate)
        if problem is None:
            return candidate
        logger.warning("not using %s as hub's home: %s", candidate, problem)
    return None


class _DotEnvWithoutPrograms:
    """The ``.env`` source less ``PROGRAM_SETTINGS`` (a warning names each line ignored)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __call__(self) -> dict[str, Any]:
        values = dict(self.source())
        for name in PROGRAM_SETTINGS:
            if name in values:
                values.pop(name)
                logger.warning(
                    "HUB_%s in %s is ignored: .env may not name a program for hub to run; set "
                    "it in the environment instead", name.upper(),
                    getattr(self.source, "env_file", ".env"))
        return values


class RewardWeights(BaseModel):
    """Weights of the dashboard reward terms (the product's design: .30/.25/.20/.15/.10).

    They need not sum to one; ``normalized()`` rescales them.
    """

    engagement: float = Field(0.30, ge=0)
    accuracy: float = Field(0.25, ge=0)
    task_completion: float = Field(0.20, ge=0)
    satisfaction: float = Field(0.15, ge=0)
    efficiency: float = Field(0.10, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> RewardWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one reward weight must be positive")
        return self

    def normalized(self) -> dict[str, float]:
        values = self.model_dump()
        total = sum(values.values())
        return {k: v / total for k, v in values.items()}


class Settings(BaseSettings):
    """All of hub's configuration, from ``HUB_``-prefixed variables (e.g. ``HUB_HOME``)."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    home: Path = Field(Path(".hub"), description="Folder holding all of hub's state.")
    dataset: Path | None = Field(None, description="Dataset the dashboard opens (default: sample).")
    stream: str | None = Field(None, description="A stream of JSON rows the dashboard follows "
                               "as a live tile: a WebSocket URL, a Redis stream "
                               "(redis://[:password@]host[:port][/db]/stream?group=G) or "
                               "'demo' (the sample replayed).")
    mlflow_tracking_uri: str | None = Field(
        None, validation_alias=AliasChoices("HUB_MLFLOW_URI", "HUB_MLFLOW_TRACKING_URI"),
        description="MLflow tracking URI, e.g. a team's `mlflow server` (http://host:5000); "
                    "default sqlite:///$HUB_HOME/mlflow.db. HUB_MLFLOW_URI or "
                    "HUB_MLFLOW_TRACKING_URI.",
    )
    # beyond one machine (`pip install hub[dask]`, `hub[redis]`, `hub[postgres]`)
    dask_address: str | None = Field(
        None, description="Dask scheduler the strategy search evaluates on: tcp://host:8786, "
                          "or local[:N] for a LocalCluster of N workers (None: in-process)."
    )
    memory_budget_bytes: int | None = Field(
        None, ge=1, description="Datasets larger than this (on disk, Parquet files or folders, "
                                "CSV globs) are profiled and analysed out of core with "
                                "dask.dataframe (default: a quarter of this machine's memory)."
    )
    autonomy_mode: AutonomyMode = "assisted"
    reward_weights: RewardWeights = Field(default_factory=RewardWeights)
    serve_ip: str = "127.0.0.1"
    serve_port: int = Field(8866, ge=1, le=65535)
    serve_token: SecretStr | None = Field(None, description="Token for a non-loopback server.")
    serve_preheat: bool = Field(
        True, description="Keep a pool of kernels that already ran the notebook (Voila preheat)."
    )
    serve_pool_size: int = Field(1, ge=1, le=16)
    # idle kernels of pages that were left; kernels with an open page are never culled
    kernel_cull_idle_seconds: int = Field(300, ge=0)
    browser_path: Path = Path("/usr/bin/chromium")
    # ingestion limits: hostile input is refused before it is expanded in memory
    max_file_bytes: int = Field(20 * 2**30, ge=1, description="Largest file ingested.")
    max_uncompressed_bytes: int = Field(
        2 * 2**30, ge=1, description="Largest uncompressed size of an xlsx (zip) archive."
    )
    max_json_depth: int = Field(64, ge=1, description="Deepest JSON nesting accepted.")
    max_columns: int = Field(50_000, ge=1)
    csv_block_bytes: int = Field(64 * 2**20, ge=2**16, description="CSV read block size.")
    ingest_memory_bytes: int | None = Field(
        None, ge=1, description="Memory one ingest may take, estimated before a file is loaded "
                                "(default: a quarter of this machine's memory)."
    )
    # URL ingest
    url_allow_private: bool = Field(
        False, description="Let URL ingest reach private, loopback and link-local addresses "
                           "(refused by default, on every redirect hop)."
    )
    download_max_bytes: int = Field(
        2 * 2**30, ge=1, description="Largest download (also bounded by HUB_MAX_FILE_BYTES)."
    )
    download_deadline_seconds: float = Field(
        1800.0, gt=0, description="Longest a whole download may take, however it trickles in."
    )
    # models
    cv_folds: int = Field(5, ge=2, le=20, description="Cross-validation folds when training.")
    random_state: int = 0
    ab_alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the A/B gate.")
    drift_psi_threshold: float = Field(0.2, gt=0, description="PSI above which a feature drifted.")
    drift_ks_alpha: float = Field(0.01, gt=0, lt=1, description="KS p-value below which it did.")
    drift_share_threshold: float = Field(
        0.3, gt=0, le=1, description="Share of drifted features that triggers a retrain."
    )
    decay_threshold: float = Field(
        0.05, ge=0, description="Drop of the primary metric (absolute) that triggers a retrain."
    )
    fairness_threshold: float = Field(
        0.2, gt=0, le=1,
        description="Largest demographic parity / equalized odds difference (or, for regression,"
                    " standardized group gap) a model may show across the groups of a declared "
                    "sensitive attribute and still be promoted.",
    )
    fairness_min_group_size: int = Field(
        10, ge=1, description="Rows a group needs to count in the fairness gate (smaller groups "
                              "are reported but not judged)."
    )
    reward_parity_threshold: float = Field(
        0.1, gt=0, description="Gap in mean reward (absolute) below the best user group at which"
                               " a group counts as starved by the agents."
    )
    reward_parity_min_count: int = Field(
        30, ge=2, description="Rewards a user group needs before it can be flagged as starved."
    )
    importance_repeats: int = Field(
        3, ge=0, description="Shuffles per feature for the permutation importance logged with "
                             "each trained version (0 turns it off)."
    )
    importance_max_rows: int = Field(
        5000, ge=10, description="Rows (sampled) the logged permutation importance is computed on."
    )
    # live streams
    stream_window_rows: int = Field(5_000, ge=1, description="Rows kept for live display.")
    stream_backoff_max_seconds: float = Field(30.0, gt=0)
    stream_window_bytes: int = Field(
        64 * 2**20, ge=2**16, description="Bytes of JSON text the rolling window holds at most."
    )
    stream_buffer_bytes: int = Field(
        64 * 2**20, ge=2**16, description="Bytes of frames read but not yet stored, at most "
                                          "(then the server is slowed by TCP back-pressure)."
    )
    # retention (`hub prune`): unset keeps everything
    retain_events_days: float | None = Field(
        None, gt=0, description="Interaction events older than this many days are pruned.")
    retain_stream_rows: int | None = Field(
        None, ge=1, description="Rows each stream store keeps (the newest).")
    retain_runs_days: float | None = Field(
        None, gt=0, description="Finished scheduled runs older than this are pruned.")
    # scheduled notebooks (`hub schedule`, `hub scheduler start`)
    scheduler_retry_limit: int = Field(2, ge=0, le=20, description="Retries of a failed run.")
    scheduler_retry_backoff_seconds: float = Field(
        60.0, ge=0, description="Wait before the first retry of a failed run; doubles each time."
    )
    scheduler_misfire_grace_seconds: int = Field(
        3600, ge=1, description="A run missed (scheduler down) by less than this still runs, once."
    )
    scheduler_heartbeat_seconds: float = Field(
        5.0, gt=0, le=300, description="How often the scheduler records that it is alive."
    )
    scheduler_shutdown_grace_seconds: float = Field(
        30.0, ge=0, description="On SIGTERM, how long running notebooks may finish before stopped."
    )
    scheduler_timezone: str | None = Field(
        None, description="Time zone of cron schedules (default: this machine's)."
    )
    run_timeout_seconds: float | None = Field(
        None, gt=0, description="Longest a cell of a scheduled notebook may run (None: no limit)."
    )
    rollout_fraction: float = Field(
        0.1, gt=0, lt=1, description="Share of sessions a new policy version serves while it is "
                                     "rolled out (`hub rollout start`)."
    )
    rollout_threshold: float = Field(
        0.05, ge=0, description="Drop of the mean session reward (absolute) below the baseline "
                                "beyond which a rolled-out policy version is rolled back."
    )
    rollout_min_sessions: int = Field(
        30, ge=2, description="Sessions each arm of a rollout needs before it is judged."
    )
    rollout_alpha: float = Field(
        0.05, gt=0, lt=1, description="Significance level of the one-sided Welch t-test that "
                                      "decides a rollout is worse (or, to complete, not worse)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # agents and safety
    user: str = Field("default", pattern=r"^[A-Za-z0-9_.@-]{1,64}$",
                      description="Who is using hub when a dashboard URL names nobody (?user=).")
    autonomous_domains: list[str] = Field(
        default_factory=lambda: ["layout"],
        description="What agents may change without asking in autonomous mode "
                    "(layout, analysis, report, model); elsewhere they propose.",
    )
    relayout_every: int = Field(
        5, ge=1, description="Interactions after which the design agent re-arranges the grid."
    )
    exploration: dict[str, float] = Field(
        default_factory=lambda: {"assisted": 0.05, "supervised": 0.15, "autonomous": 0.25},
        description="Starting exploration rate per autonomy mode; decays with experience.",
    )
    use_pretrained_prior: bool = Field(
        False, description="Add the pre-trained policy's prior (hub agents pretrain) to the "
                           "population's: off, as it did worse than the same-skill population "
                           "alone in benchmarks/layout_agent.py.",
    )
    exploration_halflife: int = Field(
        20, ge=1, description="Interactions of a user after which exploration has halved."
    )
    # reports (`hub report`)
    glossary: dict[str, str] = Field(
        default_factory=dict,
        description="Domain terminology for report narratives: a word or column name -> the "
                    "term readers use (e.g. {\"temp_max\": \"daily high\"}).",
    )
    report_llm_backend: str | None = Field(
        None, description="Registered backend that rephrases report sentences (None: off)."
    )
    report_exploration: float = Field(
        0.1, ge=0, le=1, description="Share of reports whose sections the report agent picks "
                                     "by a Thompson sample rather than its best guess."
    )

    @field_validator("exploration", mode="after")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"exploration rates must be between 0 and 1, got {bad}")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls: Any, init_settings: Any,
                                   env_settings: Any, dotenv_settings: Any,
                                   file_secret_settings: Any) -> tuple[Any, ...]:
        return (init_settings, env_settings, _DotEnvWithoutPrograms(dotenv_settings),
                file_secret_settings)

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        if value == Path(".hub") and "HUB_HOME" not in os.environ:
            found = find_home(Path.cwd().resolve())
            if found is not None:
                return found
        home = value.expanduser().resolve()
        problem = home_problem(home)
        if problem:
            raise ValueError(f"{home} is not safe to use: {problem}. hub loads models, "
                             "policies and jobs from it, so it must belong to you and not be "
                             f"writable by others (`chmod go-w {home}`), or set HUB_HOME to a "
                             "folder of your own")
        return home

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI in force (embedded SQLite store under ``home`` by default)."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def catalog_dir(self) -> Path:
        """Ingested datasets, one folder each (Parquet data, metadata, schema)."""
        return self.home / "catalog"

    @property
    def streams_dir(self) -> Path:
        """Durable storage of rows received from live streams."""
        return self.home / "streams"

    @property
    def static_dir(self) -> Path:
        """Static files served next to dashboards (BokehJS link)."""
        return self.home / "static"

    @property
    def runs_dir(self) -> Path:
        """Executed notebooks of scheduled jobs (``runs/<job>/<time>.ipynb`` and ``.html``)."""
        return self.home / "runs"

    @property
    def scheduler_db(self) -> Path:
        """The APScheduler job store (SQLite)."""
        return self.home / "scheduler.db"

    def ensure_home(self) -> Path:
        """Create ``home`` if needed (private to the user) and return it; ``ConfigError`` if
        it is not safe to use (``check_home``)."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return check_home(self.home)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and ``.env``; a bad value raises ``ConfigError``."""
    env_file = os.environ.get("HUB_ENV_FILE", ".env")
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type]
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"HUB_{'__'.join(str(p) for p in err['loc']).upper()}: "
            f"{str(err['msg']).removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid setting(s): {problems}") from None


_settings: Settings | None = None


def reload_settings() -> Settings:
    """Re-read the environment and ``.env``."""
    global _settings
    _settings = load_settings()
    return _settings


def get_settings() -> Settings:
    """The settings in force (use this rather than a copy taken at import time)."""
    return _settings if _settings is not None else reload_settings()


def __getattr__(name: str) -> object:
    if name == "settings":  # `from hub_kernel.core.config import settings` still works, lazily
        return get_settings()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
