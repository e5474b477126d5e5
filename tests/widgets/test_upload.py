from datetime import UTC, datetime

import pytest

from hub_kernel.data import sample_path
from hub_kernel.data.catalog import Catalog
from widgets import Dashboard, UploadPanel


@pytest.fixture
def panel(tmp_path):
    return UploadPanel(Catalog(tmp_path / "catalog"))


def test_upload_ingests_validates_and_updates_the_dashboard(panel):
    dashboard = Dashboard.from_path(None)
    dashboard.tile_layout.pin("overview")
    dashboard.follow(panel)
    content = b"city,sales,day\nOslo,10,2024-01-01\nRome,,2024-01-02\nOslo,12,2024-01-03\n"
    result = panel.ingest_bytes(content, "shops.csv")
    assert result is not None and result.created
    assert "Stored shops.csv (3 rows" in panel.status.value
    assert "1 values of &#x27;sales&#x27; are missing" in panel.report_view.value
    assert dashboard.title == "shops.csv"
    assert dashboard.frame.shape == (3, 3)
    assert "3</b> rows" in dashboard._views["overview"]._body.children[0].value
    assert panel.ingest_bytes(content, "shops.csv") is not None
    assert "Already in the catalog" in panel.status.value


def test_bad_upload_shows_the_error_and_stores_nothing(panel):
    assert panel.ingest_bytes(b"", "empty.csv") is None
    assert "empty.csv" in panel.status.value and "hub-error" in panel.status.value
    assert panel.report_view.value == ""
    assert panel.catalog.datasets() == []


def test_upload_widget_value_triggers_ingest(panel):
    seen = []
    panel.on_dataset(lambda record, frame: seen.append(record.name))
    content = sample_path().read_bytes()
    panel.upload.value = ({"name": "weather.csv", "type": "text/csv", "size": len(content),
                           "content": memoryview(content),
                           "last_modified": datetime.now(UTC)},)
    assert seen == ["weather.csv"]
    assert panel.upload.value == ()
