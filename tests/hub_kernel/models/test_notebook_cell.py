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
        frame = load_dataset().drop(columns=["date"]).sample(frac=1, random_state=0)
        trainer = ModelTrainer(cv=3)
        first = trainer.train_model_sync("rain", frame.iloc[:600], "weather")
        print(first.version, first.alias, first.task)
        """,
        """
        # the async API, awaited at the top level of a cell
        second = await trainer.train_model(model_name="rain", X=frame.iloc[600:1200],
                                           y="weather", model_type="classification")
        print(second.version, second.alias)
        """,
        """
        from hub_kernel.models.lifecycle.gate import run_gate
        # rows neither version trained on (their tables are in the catalog: the gate checks)
        holdout = frame.iloc[1200:].sample(200, random_state=3)
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


def test_the_designs_await_example_runs_in_a_kernel_cell(tmp_path):
    env = {**os.environ, "HUB_HOME": str(tmp_path / "home"),
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    out = run_cells([
        """
        from hub_kernel.data import load_dataset
        from hub_kernel.models import ModelTrainer
        frame = load_dataset().drop(columns=["date"]).iloc[:400]
        trainer = ModelTrainer(cv=3, n_jobs=1)
        """,
        """
        # the design's example: every call awaited at the top level of a cell
        result = await trainer.train_model("rain", frame, "weather", budget=3)
        models = await trainer.list_models()
        info = await trainer.get_model_info("rain")
        print(result.version, result.search is not None, [m.name for m in models], info.champion)
        outcomes = await trainer.retrain_models()
        print([(o.name, o.status) for o in outcomes])
        await trainer.delete_model("rain")
        print(await trainer.list_models())
        """,
    ], env)
    assert out[1].splitlines() == ["1 True ['rain'] 1", "[('rain', 'trained')]", "[]"]


def test_the_sync_twins_run_in_a_plain_script(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        from hub_kernel.data import load_dataset
        from hub_kernel.models import ModelTrainer

        frame = load_dataset().drop(columns=["date"]).iloc[:300]
        trainer = ModelTrainer(cv=3, n_jobs=1)
        result = trainer.train_model_sync("rain", frame, "weather", params={"max_iter": 20})
        print(result.version, [m.name for m in trainer.list_models_sync()],
              trainer.get_model_info_sync("rain").champion)
        print([o.status for o in trainer.retrain_models_sync()])
        trainer.delete_model_sync("rain")
        print(trainer.list_models_sync())
    """))
    env = {**os.environ, "HUB_HOME": str(tmp_path / "home"),
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1 ['rain'] 1", "['trained']", "[]"]
