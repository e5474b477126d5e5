"""Who is viewing: a ``?user=`` that is not exactly a plain name is ignored, never trusted."""

from __future__ import annotations

import pytest

from hub_kernel.exceptions import ConfigError
from widgets.viewer import viewer_user


@pytest.fixture
def page(hub_home, monkeypatch):
    """Set the page's query string as Voila passes it to the kernel."""
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.delenv("HUB_USER", raising=False)

    def open_page(query: str) -> str:
        monkeypatch.setenv("QUERY_STRING", query)
        return viewer_user()

    return open_page


def test_a_plain_name_is_the_viewer(page):
    assert page("user=alice") == "alice"


@pytest.mark.parametrize("query", ["user=alice%0A", "user=alice%0D%0A", "user=al%20ice",
                                   "user=" + "a" * 65])
def test_a_name_with_a_trailing_newline_or_more_is_ignored(page, query, caplog):
    # "alice\n" matched the old ``^...$`` check (``$`` also matches before a final newline)
    assert page(query) == "default"
    assert "ignoring an invalid ?user=" in caplog.text


def test_hub_user_with_a_trailing_newline_is_refused(hub_home, monkeypatch):
    from hub_kernel.core.config import load_settings

    monkeypatch.setenv("HUB_USER", "alice\n")
    with pytest.raises(ConfigError, match="HUB_USER"):
        load_settings()
