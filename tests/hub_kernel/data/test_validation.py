import numpy as np
import pandas as pd
import pytest

from hub_kernel.data import load_dataset
from hub_kernel.data.validation import (
    infer_schema,
    load_schema,
    report_html,
    save_schema,
    validate,
)
from hub_kernel.exceptions import ValidationError


def checks(report, column=None):
    return {i.check for i in report.issues if column is None or i.column == column}


def test_clean_sample_has_no_problems():
    report = validate(load_dataset(), name="seattle")
    assert report.ok and report.issues == []
    kinds = {c.name: c.inferred_type for c in report.columns}
    assert kinds == {"date": "datetime", "precipitation": "numeric", "temp_max": "numeric",
                     "temp_min": "numeric", "wind": "numeric", "weather": "categorical"}


@pytest.fixture
def messy():
    n = 100
    frame = pd.DataFrame({
        "order_id": [*list(range(95)), 1, 2, 3, 4, 5],
        "amount": ["1,000"] * 95 + ["n/a"] * 5,
        "when": ["2024-01-01"] * 93 + ["soon"] * 7,
        "k": [1] * n,
        "m": [None] * 60 + [1.0] * 40,
        "v": [*list(np.arange(99.0)), 1000000.0],
    })
    return pd.concat([frame, frame.head(3)], ignore_index=True)


def test_messy_table_problems_are_found(messy):
    report = validate(messy, name="orders")
    assert checks(report, "order_id") == {"duplicate_ids"}
    numbers = next(i for i in report.issues if i.check == "numbers_as_text")
    assert numbers.column == "amount" and numbers.count == 5 and numbers.examples == ("n/a",)
    dates = next(i for i in report.issues if i.check == "dates_as_text")
    assert dates.count == 7 and dates.examples == ("soon",)
    assert "constant" in checks(report, "k")
    missing = next(i for i in report.issues if i.check == "missing")
    assert missing.column == "m" and missing.count == 63 and missing.severity == "warning"
    outliers = next(i for i in report.issues if i.check == "outliers")
    assert outliers.examples == ("1000000.0",)
    duplicates = next(i for i in report.issues if i.check == "duplicate_rows")
    assert duplicates.count == 3
    assert report.ok  # warnings, not errors
    assert next(iter(report.to_frame()["severity"])) == "warning"


def test_declared_schema_is_checked(tmp_path):
    sample = load_dataset()
    schema = infer_schema(sample)
    path = save_schema(schema, tmp_path / "schema.json")
    again = load_schema(path)
    assert validate(sample, again).ok
    batch = sample.drop(columns=["wind"]).assign(temp_max="warm", extra=1)
    report = validate(batch, again, name="batch 2")
    assert not report.ok
    assert "schema_missing_columns" in checks(report)
    assert "schema_new_columns" in checks(report)
    bad = [i for i in report.errors if i.column == "temp_max"]
    assert bad and bad[0].examples == ("warm",)


def test_unreadable_schema_file_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError, match="not found"):
        load_schema(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValidationError, match="not a pandera schema"):
        load_schema(tmp_path / "bad.json")


def test_report_html_escapes_data():
    frame = pd.DataFrame({"<script>alert(1)</script>": ["<b>x</b>"] * 30})
    html = report_html(validate(frame, name="<i>name</i>"))
    assert "<script>" not in html and "<b>x" not in html and "<i>name" not in html
    assert "&lt;script&gt;" in html
