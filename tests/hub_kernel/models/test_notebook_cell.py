"""The model lifecycle from notebook cells: code run in a real Jupyter kernel, whose asyncio
loop is already running (where naive `asyncio.run` fails)."""

from __future__ import annotations

import os
import textwrap

import pytest

pytestmark = pytest.mark.slow


def run_cells(cells: list[str], env: dict[str, str]) -> list[str]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60, env=env)
    outputs = []
    try:
        for code in cells:
            printed: list[str] = []

            def hook(msg: dict, printed: list[str] = printed) -> None:
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    printed.append(msg["content"]["text"])
                elif kind == "error":
                    printed.append("\n".join(msg["content"]["traceback"]))

            reply = client.execute_interactive(textwrap.dedent(code), timeout=180,
                                               output_hook=hook)
            text = "".join(printed)
            assert reply["content"]["status"] == "ok", text
            outputs.append(text)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return outputs


def test_train_promote_and_show_a_model_card_from_cells(tmp_path):
    env = {**os.environ, "HUB_HOME": str(tmp_path / "home"),
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    out = run_cells([
        """
        import asyncio
        from hub_kernel.data import load_dataset
        from hub_kernel.models import ModelTrainer
        frame = load_dataset().drop(columns=["date"])
        trainer = ModelTrainer(cv=3)
        first = trainer.train_model_sync("rain", frame.iloc[:700], "weather")
        print(first.version, first.alias, first.task)
        """,
        """
        # the async API, awaited at the top level of a cell
        second = await trainer.train_model(model_name="rain", X=frame.iloc[700:], y="weather",
                                           model_type="classification")
        print(second.version, second.alias)
        """,
        """
        from hub_kernel.models.lifecycle.gate import run_gate
        holdout = frame.sample(200, random_state=3)
        outcome = run_gate(trainer.registry, "rain", holdout.drop(columns=["weather"]),
                           holdout["weather"], mode="supervised")
        print(outcome.action, outcome.ab.test)
        print([m.name for m in trainer.list_models_sync()],
              trainer.get_model_info_sync("rain").champion)
        """,
        """
        from widgets.models import ModelCard
        card = ModelCard(trainer.get_model_info_sync("rain").to_dict())
        print("hub-model-card" in card._dom_classes, "rain" in card.value)
        """,
    ], env)
    assert out[0].split() == ["1", "champion", "classification"]
    assert out[1].split() == ["2", "challenger"]
    action, *_ = out[2].split()
    assert action in ("promoted", "held")
    assert "['rain']" in out[2]
    assert out[3].split() == ["True", "True"]
