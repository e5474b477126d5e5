"""Who is viewing: the name hub's server authenticated, never the page's ``?user=``."""

from __future__ import annotations

import pytest

from hub_kernel.exceptions import ConfigError
from widgets.viewer import Viewer, current_viewer, viewer_user


@pytest.fixture
def served(hub_home, monkeypatch):
    """A kernel of hub's server, with the request Voila hands it (query string, headers)."""
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.delenv("HUB_USER", raising=False)
    monkeypatch.setenv("HUB_SERVED", "users")

    def open_page(query: str = "", viewer: str | None = None, role: str | None = None):
        monkeypatch.setenv("QUERY_STRING", query)
        for name, value in (("HTTP_X_HUB_VIEWER", viewer), ("HTTP_X_HUB_ROLE", role)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return current_viewer()

    return open_page


def test_the_viewer_is_who_the_server_authenticated(served):
    assert served(viewer="bob", role="viewer") == Viewer("bob", operator=False)
    assert served(viewer="ann", role="operator") == Viewer("ann", operator=True)


def test_a_user_in_the_page_address_is_never_trusted(served):
    assert served("user=alice", viewer="bob").name == "bob"
    assert served("user=alice") == Viewer("default")  # served, nobody named: not an operator


@pytest.mark.parametrize("name", ["alice\n", "alice\r\n", "al ice", "a" * 65])
def test_a_name_with_a_trailing_newline_or_more_is_ignored(served, name, caplog):
    # "alice\n" matched the old ``^...$`` check (``$`` also matches before a final newline)
    assert served(viewer=name) == Viewer("default")
    assert "ignoring an invalid viewer name" in caplog.text


def test_off_a_server_the_viewer_is_hub_user_an_operator_when_owning_hub_home(hub_home,
                                                                                monkeypatch):
    from hub_kernel.core import config

    monkeypatch.delenv("HUB_SERVED", raising=False)
    monkeypatch.setenv("QUERY_STRING", "user=alice")
    monkeypatch.setenv("HUB_USER", "carol")
    config.reload_settings()
    hub_home.mkdir(parents=True, exist_ok=True)
    assert current_viewer() == Viewer("carol", operator=True)
    assert viewer_user() == "carol"


def test_hub_user_with_a_trailing_newline_is_refused(hub_home, monkeypatch):
    from hub_kernel.core.config import load_settings

    monkeypatch.setenv("HUB_USER", "alice\n")
    with pytest.raises(ConfigError, match="HUB_USER"):
        load_settings()
