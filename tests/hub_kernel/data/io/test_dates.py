"""Date coercion of text columns."""


import pandas as pd

from hub_kernel.data import (
    coerce_dates,
)


def test_coerce_dates_leaves_its_input_alone():
    frame = pd.DataFrame({"when": ["2024-01-01", "2024-02-01"], "n": ["1", "x"]})
    frame.attrs["keep"] = True
    out = coerce_dates(frame)
    assert pd.api.types.is_datetime64_any_dtype(out["when"])
    assert out["n"].tolist() == ["1", "x"] and out.attrs == {"keep": True}
    assert frame["when"].tolist() == ["2024-01-01", "2024-02-01"]
