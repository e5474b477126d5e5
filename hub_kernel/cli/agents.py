"""``hub agents``: offline work on the agents (pre-training the layout policy)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import command_group, console, err_console, fail
from hub_kernel.exceptions import HubError

app = command_group()


@app.command("pretrain")
def pretrain_command(
    timesteps: Annotated[int, typer.Option(min=1, help="Environment steps to train for.")]
    = 50_000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated users and the policy.")] = 0,
    algo: Annotated[str, typer.Option(help="ppo or dqn.")] = "ppo",
    users: Annotated[int, typer.Option(min=1, help="Simulated users in the population.")] = 50,
    reward_samples: Annotated[int, typer.Option(
        min=1, help="Simulated sessions averaged into each episode's reward.")] = 16,
    eval_episodes: Annotated[int, typer.Option(
        min=1, help="Episodes of the evaluation on users the policy never met.")] = 300,
) -> None:
    """Pre-train the layout policy on simulated users; save it under $HUB_HOME/agents."""
    from hub_kernel.agents.layout.pretrain import pretrain

    if algo not in ("ppo", "dqn"):
        fail(HubError(f"unknown algorithm {algo!r}; use ppo or dqn"), soft_wrap=False)
    chosen: Literal["ppo", "dqn"] = "ppo" if algo == "ppo" else "dqn"
    from rich.progress import Progress

    try:
        with Progress(console=err_console, transient=True) as progress:
            task = progress.add_task(f"training {chosen}", total=timesteps)
            directory = pretrain(
                timesteps, seed, algo=chosen,
                env_kwargs={"n_users": users, "reward_samples": reward_samples},
                eval_episodes=eval_episodes,
                callback=lambda done: progress.update(task, completed=done))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    import json

    from hub_kernel.agents.layout.pretrain import METADATA_FILE

    meta = json.loads((directory / METADATA_FILE).read_text())
    console.print(f"saved {escape(str(directory))} ({meta['algo']}, {meta['timesteps']} steps "
                  f"in {meta['train_seconds']:.0f} s)")
    table = Table(title="on simulated users it never met")
    for column in ("policy", "mean reward", "% of oracle engagement"):
        table.add_column(column)
    ev = meta["evaluation"]
    for name in ("policy", "default", "random"):
        table.add_row(name, f"{ev[f'{name}_reward']:.4f}",
                      f"{100 * ev[f'{name}_oracle_share']:.1f}%")
    console.print(table)
