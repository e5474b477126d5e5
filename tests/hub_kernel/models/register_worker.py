"""Run by test_shared_server as a separate process. Once the start file appears, register
through hub's registry, as fast as it can, COUNT times: a version of model NAME and a version
of model NAME-i (which the other worker creates at the same moment). Prints what it got."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(name: str, count: int, start: Path, ready: Path) -> None:
    from hub_kernel.models.registry import ModelRegistry

    registry = ModelRegistry()
    client = registry.client
    run = client.create_run(registry.store.experiment_id, run_name=f"{name}-worker")
    source = f"{run.info.artifact_uri}/model"
    ready.touch()
    while not start.exists():  # both processes begin together
        time.sleep(0.005)
    got: dict[str, list[list[object]]] = {}
    for i in range(count):
        for model in (name, f"{name}-{i}"):
            number, alias = registry.register_version(model, source=source,
                                                      run_id=run.info.run_id, model_id=None,
                                                      tags={"hub.task": "regression"})
            got.setdefault(model, []).append([number, alias])
    client.set_terminated(run.info.run_id)
    print(json.dumps(got))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
