"""Models registered by an earlier hub keep loading after its modules moved."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd


def _renamed(data: bytes, old: str, new: str) -> bytes:
    """``data`` (a skops file) with every module path ``old`` written as ``new``."""
    source, target = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(target, "w") as out:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "schema.json":
                content = json.dumps(json.loads(content)).replace(old, new).encode()
            out.writestr(item, content)
    return target.getvalue()


def test_a_pipeline_saved_under_the_old_module_path_loads_and_predicts():
    import skops.io
    from sklearn.linear_model import LogisticRegression

    from hub_kernel.models.features import build_pipeline, plan_features

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60).astype(str),
                          "colour": rng.choice(["a", "b"], 60),
                          "when": pd.date_range("2024-01-01", periods=60).astype(str)})
    y = (rng.normal(size=60) > 0).astype(int)
    pipeline = build_pipeline(plan_features(frame), LogisticRegression()).fit(frame, y)
    old = _renamed(skops.io.dumps(pipeline), "hub_kernel.models.features",
                   "hub_kernel.models.pipeline")
    assert b"hub_kernel.models.pipeline" in zipfile.ZipFile(io.BytesIO(old)).read("schema.json")

    trusted = skops.io.get_untrusted_types(data=old)
    assert any(t.startswith("hub_kernel.models.pipeline.") for t in trusted)
    loaded = skops.io.loads(old, trusted=trusted)
    assert (loaded.predict(frame) == pipeline.predict(frame)).all()
