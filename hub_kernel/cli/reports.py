"""``hub report DATASET --audience ... --format ...`` (mounted by ``hub_kernel.cli``).

papermill, nbconvert and playwright are imported inside the command: importing this module
stays light. A hub error is printed as one line and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hub_kernel.cli.common import console, fail
from hub_kernel.exceptions import HubError

SAMPLE_ALIASES = ("sample", "-")


def report_command(
    dataset: Annotated[str, typer.Argument(
        help="A catalog dataset (name or id), a file, a bundled sample (seattle-weather), or "
             "'sample'.")],
    audience: Annotated[str, typer.Option(
        "--audience", "-a", help="executive (key findings first, few charts), analyst (full "
                                 "statistics) or technical (models, validation, drift, "
                                 "fairness).")] = "executive",
    fmt: Annotated[str, typer.Option("--format", "-f", help="html, pdf or md.")] = "html",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to write it (default $HUB_HOME/reports/...).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="A registered model to report on.")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", "-t", help="The column predictors are about (default: the model's).")
    ] = None,
    section: Annotated[list[str] | None, typer.Option(
        "--section", "-s", help="Fix the sections (repeatable, in order); default: the report "
                                "agent chooses them for the audience.")] = None,
    title: Annotated[str | None, typer.Option(help="The report's title.")] = None,
) -> None:
    """Write a report on DATASET for an audience as HTML, PDF or Markdown."""
    from hub_kernel.reports.export import export_report

    try:
        result = export_report(None if dataset in SAMPLE_ALIASES else dataset,
                               audience=audience, fmt=fmt, out=out, model=model, target=target,
                               sections=section or None, title=title)
    except HubError as exc:
        fail(exc)
    console.print(f"{escape(result.audience)} report on {escape(result.dataset)} "
                  f"({', '.join(result.sections)}) written to [bold]{escape(str(result.path))}"
                  f"[/] in {result.seconds:.1f} s")
