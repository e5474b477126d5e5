"""The hub exception tree. Every error a user can cause is a ``HubError`` with a message saying
what went wrong and what to do next."""

from __future__ import annotations

from pathlib import Path


class HubError(Exception):
    """Base class of every error hub raises on purpose."""


class ConfigError(HubError):
    """A setting is missing or invalid."""


class DataError(HubError):
    """Input data cannot be read. Carries the offending source and the reason."""

    def __init__(self, source: str | Path, reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class StreamError(DataError):
    """A live stream cannot be reached, or sends what cannot be used."""


class StreamBusyError(StreamError):
    """A stream's store is already being consumed by another source (``name`` names it);
    ``data.stream.follower.shared_stream`` follows it instead."""

    def __init__(self, source: str | Path, reason: str, name: str = "") -> None:
        super().__init__(source, reason)
        self.name = name


class StreamFrameError(StreamError):
    """One frame or row of a live stream cannot be used: it is counted as garbage and the
    stream goes on (never raised out of a running stream)."""


class CatalogError(HubError):
    """The dataset catalog cannot store or find a dataset."""


class ValidationError(HubError):
    """Data was read but breaks a declared schema."""


class LayoutError(HubError):
    """A dashboard layout operation is impossible (unknown tile, bad size, pinned tile...)."""


class ModelError(HubError):
    """Model training, registry or serving failed."""


class RegistryStateError(ModelError):
    """The model registry refuses an operation in its current state (e.g. no champion)."""


class AgentError(HubError):
    """An agent could not decide or act."""


class ClusterError(HubError):
    """A Dask cluster cannot be started, reached or used (names the address)."""


class ServeError(HubError):
    """The dashboard server cannot be started as asked."""


class RegistryError(HubError):
    """A name is unknown to a registry of pluggable parts."""


class ScheduleError(HubError):
    """A scheduled job cannot be added, found or run as asked (bad name, interval, notebook...)."""


class JobRunningError(ScheduleError):
    """A job is already running (in this or another process); one job never runs twice at once."""


class ReportError(HubError):
    """A report cannot be composed or exported (unknown audience, section or format...)."""


class AnalysisError(HubError):
    """An analysis cannot run on this data. Names the analysis and, when known, the column."""

    def __init__(self, analysis: str, reason: str, column: str | None = None) -> None:
        self.analysis = analysis
        self.column = column
        self.reason = reason
        where = f" on column {column!r}" if column is not None else ""
        super().__init__(f"analysis {analysis!r} failed{where}: {reason}")


class AnalysisRequestError(HubError):
    """What was asked of the analyses cannot be done (no such target column, a bad budget)."""


class UnknownAnalysisError(RegistryError):
    """No analysis is registered under a name."""


class FairnessError(HubError):
    """A fairness check cannot be run as asked (unknown column, no rows, bad reward...)."""


class ProposalError(HubError):
    """A proposal that is unknown, already decided, or no longer fits the layout."""


class SafetyStoreError(HubError):
    """The safety database cannot be opened or written."""


class BackupError(HubError):
    """A backup or restore of HUB_HOME could not be made."""


class AuditError(HubError):
    """The audit log cannot be opened or written."""


class VersionError(HubError):
    """A version that does not exist was asked for."""


class ModeError(HubError):
    """An unknown autonomy mode or action kind."""


class UserError(HubError):
    """A dashboard user cannot be added, found or revoked as asked (bad name, taken, unknown)."""


class AuthorityError(HubError):
    """A person may not do this: a proposal decided by someone who is neither its owner nor an
    operator, or a mode raised above what an operator set."""


class RolloutError(HubError):
    """A rollout cannot be started, changed or fed as asked."""


# Mistakes in how read_table is called (not in the data): they stay a ValueError / TypeError, as
# for any Python function, rather than a DataError about the input.
class OptionValueError(ValueError):
    """An option given to ``read_table`` has a bad value (e.g. ``on_bad_lines="maybe"``)."""


class UnknownOptionError(TypeError):
    """An option given to ``read_table`` is unknown to the source reading the input."""


class OutOfTime(Exception):
    """An incremental fit ran past its deadline; ``fraction`` of it was done (never reaches a
    user: the search catches it and plans a cheaper configuration)."""

    def __init__(self, fraction: float) -> None:
        super().__init__(f"out of time after {fraction:.0%} of the fit")
        self.fraction = fraction
