"""``hub analyze DATASET``: the strategy agent picks analyses (and, with a target, searches
model pipelines) and prints what it chose, why, and the key facts.

Mounted by ``hub_kernel.cli`` as ``app.command("analyze")(analyze_command)``. scikit-learn,
scipy and mlflow are imported inside the command: importing this module stays light. Every hub
error is printed as one line and exits 1, without a traceback.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import console, fail
from hub_kernel.exceptions import HubError

#: facts printed per analysis (the rest are in the result)
FACTS_SHOWN = 4


def _load(dataset: str) -> tuple[Any, Any, Any]:
    """(catalog record, frame, profile) for a catalog id or name, or a file/URL ingested
    first; a dataset registered by reference gives its sample and its out-of-core profile."""
    from hub_kernel.data.catalog import Catalog

    catalog = Catalog()
    record, created = catalog.find_or_ingest(dataset)
    if created is not None:
        console.print(f"{escape(record.name)}: "
                      f"{'stored as' if created else 'already in the catalog as'} "
                      f"[bold]{record.id}[/]")
    frame = catalog.load(record.id)
    return record, frame, catalog.profile(record.id) if record.reference else None


def analyze_command(
    dataset: Annotated[str, typer.Argument(
        help="A catalog dataset (id or name) or a file to ingest first.")],
    target: Annotated[str | None, typer.Option(
        "--target", "-t", help="A column to predict: adds feature importance and a model "
                               "search.")] = None,
    budget: Annotated[float, typer.Option(
        help="Seconds the model search may take (with --target).")] = 10.0,
    analyses: Annotated[str | None, typer.Option(
        "--analyses", "-a", help="Comma-separated analyses to run instead of the agent's "
                                 "choice (e.g. summary,trend).")] = None,
    n_jobs: Annotated[int | None, typer.Option(
        "--n-jobs", help="Cores the model search may use (default: all).")] = None,
    metric: Annotated[str | None, typer.Option(
        "--metric", help="The scikit-learn scorer the model is judged by (e.g. roc_auc, "
                         "f1_macro, neg_mean_absolute_error); default: balanced_accuracy for "
                         "imbalanced classes, else f1_macro, and r2 for numbers.")] = None,
    keep_column: Annotated[list[str] | None, typer.Option(
        "--keep-column", help="Keep a column the leakage guard would leave out (repeat for "
                              "more).")] = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", help="Evaluate the model search on Dask: tcp://host:port of a running "
                          "scheduler, local[:N] for N local worker processes, none for this "
                          "process (default: HUB_DASK_ADDRESS).")] = None,
) -> None:
    """Let the strategy agent pick analyses for DATASET (and with --target, search models).

    With --target, columns that give the target away (copies, monotone transforms, columns
    that alone predict it almost perfectly, identifiers) are named and left out."""
    from hub_kernel.agents.strategy.agent import StrategyAgent
    from hub_kernel.analyses import AnalysisRequestError, get
    from hub_kernel.data.profile import profile_dataset
    from hub_kernel.models.metrics import check_metric

    keep = list(keep_column or ())
    try:
        if metric is not None:
            check_metric(metric)  # an unknown name fails before any work
        if keep and target is None:
            raise AnalysisRequestError("--keep-column keeps a column that leaks the target: "
                                       "give the --target too")
        if not budget > 0:
            raise AnalysisRequestError(f"--budget must be a positive number of seconds, not "
                                       f"{budget:g}")
        if n_jobs is not None and n_jobs < 1:
            raise AnalysisRequestError(f"--n-jobs must be at least 1, not {n_jobs}")
        asked = [n.strip() for n in analyses.split(",") if n.strip()] if analyses else None
        if analyses is not None and not asked:
            raise AnalysisRequestError("--analyses names no analysis; e.g. --analyses "
                                       "summary,trend")
        for name in asked or ():
            get(name)  # unknown names fail before any work
        on = None
        if target is not None:
            from hub_kernel.automl.cluster import probe_cluster

            on = probe_cluster(cluster)  # an unusable cluster fails before any work
        record, frame, profile = _load(dataset)
        if target is not None and target not in frame.columns:
            raise AnalysisRequestError(f"no column {target!r} in {record.name}; columns: "
                                       f"{', '.join(map(str, frame.columns[:20]))}")
        profile = profile or profile_dataset(frame)
        agent = StrategyAgent()
        console.print(f"[bold]{escape(record.name)}[/] {escape(f'[{record.id}]')}: "
                      f"{profile.n_rows:,} rows, "
                      f"{profile.n_columns} columns" + (f"; target {escape(target)}"
                                                        if target else ""))
        if profile.sampled:
            from hub_kernel.data.large import sample_note

            console.print(f"[yellow]{escape(sample_note(len(frame), profile.n_rows))}[/]",
                          soft_wrap=True)
        doing = "choosing and running analyses" + (f" (model search on {on})" if on else "")
        with console.status(f"{escape(doing)}…"):
            report = agent.analyze(frame, target, names=asked, budget=budget, n_jobs=n_jobs,
                                   name=record.name, profile=profile, metric=metric,
                                   keep_columns=keep, cluster=cluster)
    except HubError as exc:
        fail(exc)
    if report.leaks is not None:
        for line in report.leaks.lines("--keep-column"):
            console.print(f"[yellow]{escape(line)}[/]", soft_wrap=True)
    _print_choices(report.choices, asked is not None)
    chosen = asked if asked is not None else report.shown
    results, search_result, run_id = report.results, report.search, report.run_id
    for name in chosen:
        result = results.get(name)
        if result is None:
            console.print(f"[yellow]{escape(get(name).title)}: could not run (see the log)[/]")
            continue
        console.print(f"\n[bold]{escape(result.title)}[/] ({result.seconds:.2f} s)")
        for fact in result.facts[:FACTS_SHOWN]:
            console.print(f"  • {escape(fact.text)}", soft_wrap=True)
        if len(result.facts) > FACTS_SHOWN:
            console.print(f"  … {len(result.facts) - FACTS_SHOWN} more facts")
    if search_result is not None:
        _print_search(search_result)
    if run_id:
        console.print(f"\nchoices and explanations: MLflow run {run_id}; audit log "
                      "(`hub audit --agent strategy`)")


def _print_choices(choices: list[Any], asked: bool) -> None:
    table = Table(title="analyses chosen by the strategy agent" if not asked
                  else "analyses asked for", box=box.SIMPLE_HEAD)
    for column in ("analysis", "shown", "value", "why"):
        table.add_column(column, overflow="fold")
    for choice in choices:
        shown = "yes" if (choice.show or asked) and choice.applies else "no"
        table.add_row(escape(choice.name), shown, f"{choice.value:.2f}",
                      escape("asked for" if asked and choice.applies else choice.explanation))
    console.print(table)


def _print_search(result: Any) -> None:
    from hub_kernel.models.metrics import baseline_words

    on = result.cluster
    where = (f" on {on['workers']} Dask worker{'s' if on['workers'] != 1 else ''}"
             + (f" ({on['lost']} lost with a worker)" if on["lost"] else "") if on else "")
    table = Table(title=f"model search: {result.metric}, {len(result.evaluations)} "
                        f"configurations in {result.seconds:.1f} s{where} ({result.stop_reason})",
                  box=box.SIMPLE_HEAD)
    # "eval" is the evaluation number the final-model line names; "weight" its ensemble weight
    for column in ("rank", "eval", "configuration", "score", "± std", "seconds", "chosen as",
                   "weight"):
        table.add_column(column, overflow="fold")
    for row in result.leaderboard(10, members=True).itertuples(index=False):
        weight = f"{row.ensemble_weight:.2f}" if row.ensemble_weight else ""
        table.add_row(str(row.rank), f"#{row.evaluation}", escape(row.configuration),
                      f"{row.score:.4f}", f"{row.std:.4f}", f"{row.seconds:.2f}",
                      escape(row.source), weight)
    console.print(table)
    best = result.best
    if not result.beats_baseline:
        chance = result.chance_score
        guess = (f" ({chance:.4f} for guessing classes at random in their proportions)"
                 if chance is not None and chance > result.baseline_score else "")
        console.print(f"[bold]no model beats the baseline[/]: {result.metric} "
                      f"{result.baseline_score:.4f} for {baseline_words(result.task)}{guess}; the "
                      f"best configuration, {escape(best.config.label())}, scores "
                      f"{best.score:.4f} ± {best.std:.4f}; the final model is the baseline",
                      soft_wrap=True)
        return
    console.print(f"best model: [bold]{escape(best.config.label())}[/] with {result.metric} "
                  f"{best.score:.4f} (baseline {result.baseline_score:.4f}, "
                  f"{baseline_words(result.task)}); "
                  f"{'refit on all rows' if result.refit else 'its fold models averaged'}",
                  soft_wrap=True)
    console.print(f"why: {escape(best.explanation)}", soft_wrap=True)
    if result.ensemble:
        # the same identifiers as the leaderboard above: evaluation number and rank
        members = ", ".join(f"#{m['evaluation']} (rank {m['rank']}, weight {m['weight']:.2f})"
                            for m in result.ensemble_members())
        console.print(f"final model: an ensemble of evaluations {members}, {result.metric} "
                      f"{result.final_score:.4f} out of fold", soft_wrap=True)
    if result.warm_start:
        console.print("warm start from: " + escape(", ".join(
            f"{name} (similarity {sim:.2f})" for name, sim in result.warm_start)))
