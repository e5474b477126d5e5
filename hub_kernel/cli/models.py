"""``hub models ...``, ``hub train`` and ``hub mlflow-ui`` (mounted by ``hub_kernel.cli``).

mlflow and scikit-learn are imported inside the commands: importing this module stays light.
Every hub error is printed as one line and exits 1, without a traceback.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import command_group, console, fail
from hub_kernel.exceptions import HubError, ModelError

if TYPE_CHECKING:
    from hub_kernel.models.registry import ModelRegistry

app = command_group("Registered models: list, show, promote, roll back, archive.")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _default_name(dataset_name: str, target: str) -> str:
    stem = Path(dataset_name).stem or "model"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{stem}-{target}").strip("-._")[:100]
    return name or "model"


# -- hub train -----------------------------------------------------------------------------
def train_command(
    dataset: Annotated[str, typer.Argument(
        help="A catalog dataset (id or name) or a file to ingest first.")],
    target: Annotated[str, typer.Option("--target", "-t", help="The column to predict.")],
    name: Annotated[str | None, typer.Option(
        help="Registered model name (default: DATASET-TARGET).")] = None,
    model_type: Annotated[str, typer.Option(
        "--type", help="auto, classification or regression.")] = "auto",
    cv: Annotated[int | None, typer.Option(
        min=2, max=20, help="Cross-validation folds (default HUB_CV_FOLDS).")] = None,
    allow_invalid: Annotated[bool, typer.Option(
        help="Train on a batch that breaks its dataset's declared schema.")] = False,
    sensitive: Annotated[list[str] | None, typer.Option(
        "--sensitive", help="A sensitive column (repeatable): fairness across its groups is "
                            "measured and gates promotion.")] = None,
    budget: Annotated[float | None, typer.Option(
        min=0.5, help="Seconds for the strategy search (preprocessing, estimator, "
                      "hyperparameters, ensembles); its winner is registered. Without it: "
                      "the fast default (histogram gradient boosting).")] = None,
    metric: Annotated[str | None, typer.Option(
        "--metric", help="The scikit-learn scorer the model is judged by (default: balanced "
                         "accuracy for rare classes, else macro F1; R² for numbers).")] = None,
    keep_column: Annotated[list[str] | None, typer.Option(
        "--keep-column", help="Keep a column the leakage guard would leave out (repeatable).")
    ] = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", help="Evaluate the --budget search on Dask: tcp://host:port, local[:N] or "
                          "none (default: HUB_DASK_ADDRESS).")] = None,
) -> None:
    """Train a model on DATASET to predict --target; registers a new version in MLflow.
    Columns that give the target away (copies, monotone transforms, identifiers) are named
    and left out first."""
    from hub_kernel.data.catalog import Catalog
    from hub_kernel.models.searching import default_searcher
    from hub_kernel.models.trainer import ModelTrainer

    try:
        on = None
        if budget:
            from hub_kernel.automl.cluster import probe_cluster

            on = probe_cluster(cluster)  # an unusable cluster fails before any work
        if model_type not in ("auto", "classification", "regression"):
            raise ModelError(f"unknown --type {model_type!r}: use auto, classification or "
                             "regression")
        catalog = Catalog()
        record, created = catalog.find_or_ingest(dataset)
        if created is not None:
            console.print(f"{escape(record.name)}: "
                          f"{'stored as' if created else 'already in the catalog as'} "
                          f"[bold]{record.id}[/]")
        if not record.valid and not allow_invalid:
            raise ModelError(
                f"batch {record.id} of {record.name!r} breaks its declared schema "
                f"({record.n_errors} error(s)); fix the data or pass --allow-invalid"
            )
        frame = catalog.load(record.id)
        model_name = name or _default_name(record.name, target)
        trainer = ModelTrainer(cv=cv, searcher=default_searcher(cluster=cluster)
                               if cluster is not None else None)
        doing = (f"searching pipelines for {model_name} for {budget:g} s" if budget
                 else f"training {model_name}")
        with console.status(escape(f"{doing} on {record.n_rows:,} rows"
                                   + (f", evaluated on {on}" if on else "") + "…")):
            result = trainer.train_model_sync(model_name, frame, target,
                                              model_type=model_type,  # type: ignore[arg-type]
                                              dataset_id=record.id, sensitive=sensitive or None,
                                              budget=budget, metric=metric,
                                              keep_columns=tuple(keep_column or ()))
    except HubError as exc:
        fail(exc)
    console.print(
        f"trained [bold]{escape(result.name)}[/] version [bold]{result.version}[/] "
        f"({result.alias}, {result.task}) on {escape(record.name)} [{record.id}], "
        f"{result.n_rows:,} rows, {result.cv_folds}-fold cross-validation; run {result.run_id}"
    )
    table = Table(title="cross-validated metrics", box=box.SIMPLE_HEAD)
    for column in ("metric", "mean", "std"):
        table.add_column(column)
    for metric, value in result.metrics.items():
        if metric.endswith("_std") or metric == "fit_seconds":
            continue
        std = result.metrics.get(f"{metric}_std")
        if metric == "baseline":
            continue
        label = f"{metric} (primary)" if metric == result.primary_metric else metric
        table.add_row(label, f"{value:.4f}", "-" if std is None else f"{std:.4f}")
    baseline = result.metrics.get("baseline")
    if baseline is not None and baseline == baseline:
        from hub_kernel.models.metrics import baseline_words

        table.add_row(f"baseline ({escape(baseline_words(result.task))})", f"{baseline:.4f}",
                      "-")
    console.print(table)
    if result.search is not None:
        _print_search(result.search)
    if result.fairness is not None:
        _print_fairness_decision(result.fairness.passed, result.fairness.explanation,
                                 "cross-validated predictions")
    if result.importance is not None:
        console.print(f"explanation: {escape(result.importance.explain())}", soft_wrap=True)
    for note in result.notes:
        if note.startswith(("left out: ", "kept on request: ")):
            console.print(escape(note), soft_wrap=True)
            continue
        if result.search is not None and note.startswith("searched "):
            continue  # the search was shown above
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)


def _print_search(search: Any, top: int = 5) -> None:
    """The search's winner and the head of its leaderboard."""
    console.print(f"search winner: [bold]{escape(search.winner)}[/]", soft_wrap=True)
    console.print(escape(search.explain()), soft_wrap=True)
    table = Table(title=f"leaderboard (cross-validated {escape(search.metric)})",
                  box=box.SIMPLE_HEAD)
    for column in ("rank", "configuration", "score", "std", "seconds", "ensemble weight"):
        table.add_column(column, overflow="fold", no_wrap=column != "configuration")
    for row in search.leaderboard[:top]:
        weight = float(row.get("ensemble_weight", 0.0))
        table.add_row(str(row["rank"]), escape(str(row["configuration"])),
                      f"{float(row['score']):.4f}", f"{float(row['std']):.4f}",
                      f"{float(row['seconds']):.1f}", f"{weight:.2f}" if weight else "-")
    console.print(table)


def _print_fairness_decision(passed: bool, explanation: str, where: str) -> None:
    verdict = "[bold green]fairness PASS[/]" if passed else "[bold red]fairness FAIL[/]"
    console.print(f"{verdict} ({escape(where)}): {escape(explanation)}", soft_wrap=True)


# -- hub mlflow-ui ---------------------------------------------------------------------------
def mlflow_ui_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 5000,
    dry_run: Annotated[bool, typer.Option(help="Print the command, do not start it.")] = False,
) -> None:
    """Open hub's MLflow store in the MLflow UI on 127.0.0.1 (loopback only)."""
    from hub_kernel.models.tracking import TrackingStore

    try:
        store = TrackingStore.from_settings()
        if not store.tracking_uri.startswith("sqlite:"):
            raise ModelError(
                f"the tracking store {store.shown_uri} is not a local SQLite file; a tracking "
                "server has its own UI: open its address in a browser")
        store.open()  # hub's experiment exists, with its artifact location, before the UI
        store.artifacts_dir.mkdir(parents=True, exist_ok=True)
    except (HubError, OSError) as exc:
        fail(exc if isinstance(exc, HubError) else ModelError(str(exc)))
    argv = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", store.tracking_uri,
        "--default-artifact-root", store.artifacts_dir.resolve().as_uri(),
        "--host", "127.0.0.1",
        "--port", str(port),
    ]
    if dry_run:
        console.print(" ".join(argv), soft_wrap=True, markup=False)
        return
    console.print(f"MLflow UI: http://127.0.0.1:{port}", markup=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process, fixed argv


# -- hub models ... --------------------------------------------------------------------------
def _registry() -> ModelRegistry:
    from hub_kernel.models.registry import ModelRegistry

    return ModelRegistry()


@app.command("list")
def list_command(
    include_archived: Annotated[bool, typer.Option(
        "--all", help="Include archived models.")] = False,
) -> None:
    """List registered models with their champion, challenger and score."""
    try:
        models = _registry().list_models(include_archived=include_archived)
    except HubError as exc:
        fail(exc)
    if not models:
        console.print("no models yet: `hub train DATASET --target COLUMN` trains one")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("name", "versions", "champion", "challenger", "champion score"):
        table.add_column(column, min_width=len(column), no_wrap=column != "name",
                         overflow="fold")
    for m in models:
        name = escape(m.name) + (" [yellow](archived)[/]" if m.archived else "")
        score = f"{m.primary_metric}={_score(m.champion_score)}" if m.primary_metric else "-"
        table.add_row(name, str(m.n_versions), str(m.champion or "-"), str(m.challenger or "-"),
                      score)
    console.print(table)


@app.command("show")
def show_command(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Show every version of NAME: aliases, run, metrics, data fingerprint."""
    try:
        info = _registry().get_model_info(name)
    except HubError as exc:
        fail(exc)
    state = " [yellow](archived)[/]" if info.archived else ""
    console.print(f"[bold]{escape(info.name)}[/]{state}: champion {info.champion or '-'}, "
                  f"challenger {info.challenger or '-'}")
    from hub_kernel.models.tags import fairness_status

    statuses = {v.version: fairness_status(info.tags, v.tags)[0] for v in info.versions}
    gated = any(status != "not declared" for status in statuses.values())
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("version", "aliases", "created", "run", "score",
                   *(("fairness",) if gated else ())):
        table.add_column(column, overflow="fold", no_wrap=column != "fairness")
    for v in info.versions:
        created = v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else "-"
        status = v.run_status or "?"
        if v.status != "READY":
            status = f"{v.status}, run {status}"
        score = f"{v.primary_metric}={_score(v.score)}" if v.primary_metric else "-"
        fairness = statuses[v.version]
        decision = ("-" if fairness == "not declared" else fairness.split(" (")[0],)
        table.add_row(str(v.version), ", ".join(v.aliases), created, status, score,
                      *(decision if gated else ()))
    console.print(table)
    for v in info.versions:
        shown = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items())
                          if not k.endswith("_std") and k != "fit_seconds"
                          and not k.startswith(("importance.", "fairness.")))
        data = v.dataset_name or v.dataset_id or "an in-memory table"
        console.print(f"v{v.version}: run {v.run_id or '-'}; {escape(shown) or 'no metrics'}; "
                      f"target {escape(v.target or '?')} in {escape(data)} (fingerprint "
                      f"{(v.dataset_fingerprint or '?')[:12]})", soft_wrap=True)
        winner = v.tags.get("hub.search_winner")
        if winner:
            console.print(f"v{v.version} searched {escape(v.tags.get('hub.search_budget', '?'))}"
                          f" s: winner {escape(winner)}", soft_wrap=True)
        fairness = statuses[v.version]
        if fairness != "not declared":
            why = v.tags.get("hub.fairness_explanation")
            console.print(f"v{v.version} fairness {escape(fairness)}"
                          + (f": {escape(why)}" if why else ""), soft_wrap=True)


@app.command("promote")
def promote_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(min=1, help="Version to make champion.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept on the version).")] = None,
    override: Annotated[bool, typer.Option(
        help="Promote without a passed A/B gate (a person's decision; needs --reason).")] = False,
) -> None:
    """Make VERSION the champion of NAME: only after the A/B gate said promote, or with
    --override --reason. The previous champion can be restored by rollback."""
    try:
        summary = _registry().promote(name, version, reason=reason, override=override,
                                      approved_by=getpass.getuser())
    except HubError as exc:
        fail(exc)
    console.print(f"{escape(name)}: champion is now version {summary.champion}")


@app.command("migrate")
def migrate_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int | None, typer.Option(min=1, help="Only this version.")] = None,
) -> None:
    """Record the SHA-256 of versions of NAME registered by an older hub, once each is checked
    to be a skops file of allowed types (a pickled one is refused: retrain it)."""
    try:
        done = _registry().migrate(name, version)
    except HubError as exc:
        fail(exc)
    for number, what in done.items():
        console.print(f"{escape(name)} v{number}: {escape(what)}", soft_wrap=True)
    if any(what.startswith("refused") for what in done.values()):
        raise typer.Exit(1)


def _dataset_frame(dataset: str) -> tuple[Any, Any]:
    """A catalog record and its rows, from a catalog id/name or a file/URL to ingest first."""
    from hub_kernel.data.catalog import Catalog

    catalog = Catalog()
    if Path(dataset).is_file() or re.match(r"^https?://", dataset, re.I):
        record = catalog.ingest(dataset).record
    else:
        record = catalog.get(dataset)
    return record, catalog.load(record.id)


@app.command("ab")
def ab_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    dataset: Annotated[str, typer.Argument(
        help="Labelled rows neither version trained on: catalog id/name or a file.")],
    version: Annotated[int | None, typer.Option(
        help="Challenger version (default: the challenger alias).")] = None,
    mode: Annotated[str | None, typer.Option(
        help="assisted (propose), supervised or autonomous (promote); default "
             "HUB_AUTONOMY_MODE.")] = None,
) -> None:
    """Run the A/B gate: champion vs challenger on DATASET, logged to MLflow; promote or
    propose the challenger by autonomy mode."""
    from hub_kernel.models.lifecycle.gate import run_gate

    try:
        if mode not in (None, "assisted", "supervised", "autonomous"):
            raise ModelError(f"unknown --mode {mode!r}: assisted, supervised or autonomous")
        registry = _registry()
        info = registry.get_model_info(name)
        target = info.version(info.champion).target if info.champion else None
        record, frame = _dataset_frame(dataset)
        if not target or target not in frame.columns:
            raise ModelError(f"{record.name!r} has no column {target!r} (the model's target)")
        outcome = run_gate(registry, name, frame.drop(columns=[target]), frame[target],
                           challenger=version, mode=mode)
    except HubError as exc:
        fail(exc)
    ab = outcome.ab
    console.print(f"{escape(name)}: champion v{outcome.champion} vs challenger "
                  f"v{outcome.challenger} on {ab.n:,} rows ({escape(ab.test)})")
    console.print(f"{ab.metric}: champion {ab.champion_metric:.4f}, challenger "
                  f"{ab.challenger_metric:.4f}; p = {ab.p_value:.4g}")
    console.print(f"rule: {escape(ab.rule)}")
    console.print(f"[bold]{outcome.action}[/]: {escape(outcome.explanation)} "
                  f"(MLflow run {outcome.ab_run_id})")


def _labelled(name: str, dataset: str, version: int | None, target: str | None,
              registry: ModelRegistry) -> tuple[Any, Any, Any, Any, Any]:
    """``(record, version info, X, y, fitted model)`` for a check of a model on DATASET."""
    info = registry.get_model_info(name)
    number = version or info.challenger or info.champion
    if number is None:
        raise ModelError(f"model {name!r} has no champion or challenger; pass --version")
    found = info.version(number)
    target = target or found.target
    record, frame = _dataset_frame(dataset)
    if not target or target not in frame.columns:
        raise ModelError(f"{record.name!r} has no column {target!r} (the model's target); "
                         "pass --target")
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise ModelError(f"{record.name!r} has no rows with a value of {target!r}")
    model = registry.load_model(name, version=number)
    return record, found, frame.drop(columns=[target]), frame[target], model


@app.command("fairness")
def fairness_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    dataset: Annotated[str, typer.Argument(
        help="Labelled rows (ideally not trained on): catalog id/name or a file.")],
    sensitive: Annotated[list[str] | None, typer.Option(
        "--sensitive", help="A sensitive column (repeatable; default: those declared on the "
                            "model).")] = None,
    version: Annotated[int | None, typer.Option(
        min=1, help="Version to check (default: the challenger, else the champion).")] = None,
    target: Annotated[str | None, typer.Option(
        help="The target column (default: the version's).")] = None,
    threshold: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Largest allowed difference (default HUB_FAIRNESS_THRESHOLD).")
    ] = None,
) -> None:
    """Check VERSION of NAME for fairness across the groups of each --sensitive column of
    DATASET; logs to MLflow and tags the version (pass/fail gates its promotion). Exits 2 on
    fail."""
    from hub_kernel.exceptions import FairnessError
    from hub_kernel.models.fairness import fairness_report, sensitive_candidates
    from hub_kernel.models.fairness_log import log_fairness

    try:
        registry = _registry()
        record, found, X, y, model = _labelled(name, dataset, version, target, registry)
        columns = list(sensitive or []) or registry.declared_sensitive(name, found.version)
        if not columns:
            candidates = sensitive_candidates(X)
            hint = (f"; possible sensitive columns: {', '.join(candidates)}" if candidates
                    else "")
            raise FairnessError(f"no sensitive columns declared for {name!r}: name them with "
                                f"--sensitive COLUMN{hint}")
        task = found.task if found.task in ("classification", "regression") else "auto"
        report = fairness_report(model, X, y, columns, task=task,  # type: ignore[arg-type]
                                 threshold=threshold)
        run_id = log_fairness(report, name=name, version=found.version, registry=registry,
                              dataset_id=record.id)
    except HubError as exc:
        fail(exc)
    console.print(f"{escape(name)} v{found.version} on {escape(record.name)} [{record.id}], "
                  f"{report.n_rows:,} rows ({report.task}); MLflow run {run_id}")
    if found.dataset_id == record.id:
        console.print("[yellow]note:[/] these are the rows this version trained on; fairness on "
                      "new rows can be worse")
    metrics = Table(box=box.SIMPLE_HEAD)
    for column in ("attribute", *report.metrics):
        metrics.add_column(column.replace("_", " "))
    for attribute, values in report.by_attribute.items():
        metrics.add_row(escape(attribute), *(f"{values[m]:.3f}" for m in report.metrics))
    console.print(metrics)
    groups = Table(box=box.SIMPLE_HEAD)
    shown = [c for c in report.groups.columns if c != "class"]
    for column in shown:
        groups.add_column(_HEADERS.get(column, column.replace("_", " ")), overflow="fold",
                          no_wrap=column != "group")
    for row in report.groups.itertuples(index=False):
        values = row._asdict()
        groups.add_row(*(escape(_cell(values[c])) for c in shown))
    console.print(groups)
    if "class" in report.groups.columns:
        shown_class = ", ".join(repr(c) for c in dict.fromkeys(report.groups["class"]))
        console.print(f"selected: share of rows predicted {escape(shown_class)}; TPR / FPR: "
                      "true / false positive rate for it", soft_wrap=True)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    _print_fairness_decision(report.passed, report.explanation,
                             f"threshold {report.threshold:g}")
    if not report.passed:
        raise typer.Exit(2)


_HEADERS = {"selection_rate": "selected", "true_positive_rate": "TPR",
            "false_positive_rate": "FPR", "mean_absolute_error": "MAE",
            "mean_prediction": "mean pred.", "mean_target": "mean target"}


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "-" if value != value else f"{value:.3f}"
    return str(value)


@app.command("explain")
def explain_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    dataset: Annotated[str, typer.Argument(
        help="Labelled rows (ideally not trained on): catalog id/name or a file.")],
    version: Annotated[int | None, typer.Option(
        min=1, help="Version to explain (default: the challenger, else the champion).")] = None,
    target: Annotated[str | None, typer.Option(
        help="The target column (default: the version's).")] = None,
    repeats: Annotated[int, typer.Option(min=1, max=100, help="Shuffles per column.")] = 5,
) -> None:
    """Permutation importance of each column for VERSION of NAME on DATASET: how much the
    score drops when the column is shuffled."""
    from hub_kernel.core.config import get_settings
    from hub_kernel.models.explain import permutation_importance_report

    try:
        registry = _registry()
        record, found, X, y, model = _labelled(name, dataset, version, target, registry)
        names = getattr(model, "feature_names_in_", None)
        if names is not None:
            missing = [str(c) for c in names if c not in X.columns]
            if missing:
                raise ModelError(f"{record.name!r} lacks the model's columns {missing}")
            X = X[[str(c) for c in names]]
        report = permutation_importance_report(
            model, X, y, n_repeats=repeats, random_state=get_settings().random_state)
    except HubError as exc:
        fail(exc)
    console.print(f"{escape(name)} v{found.version} on {escape(record.name)} [{record.id}], "
                  f"{report.n_rows:,} rows, {report.n_repeats} shuffles per column")
    console.print(f"permutation importance (drop in {escape(report.scoring)} when the column "
                  "is shuffled):")
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("column", "mean drop", "std"):
        table.add_column(column, overflow="fold")
    for item in report.importances:
        table.add_row(escape(item.feature), f"{item.mean:.4f}", f"{item.std:.4f}")
    console.print(table)
    console.print(escape(report.explain()), soft_wrap=True)


@app.command("retrain")
def retrain_command(
    mode: Annotated[str | None, typer.Option(
        help="assisted, supervised or autonomous (default HUB_AUTONOMY_MODE).")] = None,
    names: Annotated[list[str] | None, typer.Option(
        "--name", help="Only these models (repeatable).")] = None,
) -> None:
    """Check every model's newest data for drift and decay; retrain a challenger where a
    threshold is crossed and send it through the A/B gate."""
    from hub_kernel.models.lifecycle.policy import DriftGatedPolicy
    from hub_kernel.models.trainer import ModelTrainer

    try:
        policy = DriftGatedPolicy(mode=mode)
        outcomes = ModelTrainer().retrain_models_sync(policy, names=names)
    except HubError as exc:
        fail(exc)
    if not outcomes:
        console.print("no models to check")
    for outcome in outcomes:
        colour = {"trained": "green", "skipped": "blue", "failed": "red"}[outcome.status]
        console.print(f"{escape(outcome.name)}: [{colour}]{outcome.status}[/] "
                      f"{escape(outcome.reason)}")
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


@app.command("rollback")
def rollback_command(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Restore the champion NAME had before its last promotion."""
    try:
        summary = _registry().rollback(name, approved_by=getpass.getuser())
    except HubError as exc:
        fail(exc)
    console.print(f"{escape(name)}: rolled back, champion is version {summary.champion}")


@app.command("delete")
def delete_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    permanent: Annotated[bool, typer.Option(
        help="Delete the model and all its versions for good (needs --yes).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm a permanent deletion.")] = False,
) -> None:
    """Archive NAME (kept, hidden from lists, not retrained); --permanent --yes deletes it."""
    try:
        if permanent and not yes:
            raise ModelError(f"deleting {name!r} permanently removes all its versions: "
                             "re-run with --permanent --yes")
        _registry().delete_model(name, permanent=permanent)
    except HubError as exc:
        fail(exc)
    if permanent:
        console.print(f"{escape(name)}: deleted permanently")
    else:
        console.print(f"{escape(name)}: archived (`hub models restore {escape(name)}` undoes it)")


@app.command("restore")
def restore_command(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Bring an archived model back."""
    try:
        summary = _registry().restore_model(name)
    except HubError as exc:
        fail(exc)
    console.print(f"{escape(name)}: restored (champion {summary.champion or '-'})")


@app.command("repair")
def repair_command() -> None:
    """Mark runs left RUNNING by a killed process as KILLED."""
    try:
        repaired = _registry().repair()
    except HubError as exc:
        fail(exc)
    console.print(f"marked {len(repaired)} stale run(s) KILLED" if repaired
                  else "no stale runs")
    for run_id in repaired:
        console.print(f"- {run_id}")
