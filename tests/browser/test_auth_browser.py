"""Logging in to a served dashboard as a person does, and what a viewer may do once in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.browser.conftest import REPO

pytestmark = pytest.mark.browser

TIMEOUT = 90_000


def wait_dashboard(page):
    page.locator(".hub-tile").first.wait_for(timeout=TIMEOUT)
    page.locator(".hub-mode select").wait_for(timeout=TIMEOUT)


def test_the_printed_link_logs_in_once_and_leaves_no_token_behind(page, browser, start_server,
                                                                  screenshot):
    server = start_server(preheat=False)
    assert server.login_url and "/hub/login?token=" in server.login_url
    page.goto(server.login_url, timeout=TIMEOUT)  # the link `hub demo` printed
    assert page.url == server.url  # redirected to the plain dashboard URL
    wait_dashboard(page)
    assert "token" not in page.evaluate("location.href")
    screenshot(page, "logged-in")
    other = browser.new_page()  # someone else with the same link, later: refused
    try:
        response = other.goto(server.login_url, timeout=TIMEOUT)
        assert response.status == 403
        assert "used already" in other.locator(".hub-login-message").inner_text()
        response = other.goto(server.url, timeout=TIMEOUT)  # and no cookie, no dashboard
        assert response.status == 401
        assert other.locator("h1").inner_text() == "Log in to see this dashboard"
        assert other.locator(".hub-tile").count() == 0
    finally:
        other.close()
    page.reload(timeout=TIMEOUT)  # the first browser keeps its login
    wait_dashboard(page)


def alices_proposal(home) -> int:
    """A pending proposal of alice's on the sample dashboard, made as an agent would."""
    code = textwrap.dedent("""
        from hub_kernel.agents.plan import dashboard_id
        from hub_kernel.data import load_dataset, sample_path
        from hub_kernel.layout import Layout, Tile
        from hub_kernel.safety.governor import LayoutGovernor, Proposal

        board = dashboard_id(load_dataset(sample_path()), None)
        tiles = [Tile(id=f"t{i}", kind="chart", title=f"t{i}", columns=("a",),
                      chart_type="histogram") for i in range(3)]
        governor = LayoutGovernor(Layout(tiles), user="alice", dashboard=board)
        target = Layout(list(reversed(tiles)))
        decision = governor.submit(Proposal(agent="design", layout=target.to_dict(),
                                            explanation="alice's own proposal"))
        print(decision.status, decision.proposal_id)
    """)
    env = {**os.environ, "HUB_HOME": str(home), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    status, number = done.stdout.split()[-2:]
    assert status == "pending", done.stdout
    return int(number)


def test_a_viewer_is_who_logged_in_and_cannot_rise_above_the_operator(page, demo_server, hub,
                                                                     screenshot):
    from hub_kernel.safety.audit import AuditLog
    from hub_kernel.safety.governor import list_proposals
    from hub_kernel.safety.modes import Controls

    home = demo_server.home
    proposal = alices_proposal(home)
    assert hub(home, "mode", "set", "autonomous", "--user", "alice").returncode == 0
    assert hub(home, "mode", "set", "supervised", "--user", "bob").returncode == 0  # a cap
    screenshot.watch(page)
    demo_server.open_as(page, "bob", "?user=alice", timeout=TIMEOUT)  # bob asks to be alice
    wait_dashboard(page)
    mode = page.locator(".hub-mode select")
    assert mode.input_value() == "supervised"  # bob's mode, not alice's autonomous
    assert "alice's own proposal" not in page.locator(".hub-dashboard").inner_text()

    mode.select_option("autonomous")  # above what the operator set: refused in the page
    page.locator(".hub-status .hub-error").wait_for(timeout=30_000)
    assert "bob may not raise the agents' mode to autonomous" in \
        page.locator(".hub-status").inner_text()
    page.wait_for_function("document.querySelector('.hub-mode select').value === "
                           "'supervised'", timeout=30_000)
    screenshot(page, "refused")
    mode.select_option("assisted")  # lowering is the viewer's own choice
    page.wait_for_timeout(1_500)
    assert mode.input_value() == "assisted"
    choices = {(c.user, c.mode) for c in Controls(home / "safety.db").choices()}
    assert ("bob", "assisted") in choices and not any(u == "alice" for u, _ in choices)
    refused = AuditLog(home / "audit.db").entries(action="refused set mode autonomous")
    assert refused and refused[-1].approved_by == "bob"
    # alice's proposal is still hers and pending: bob's page never offered it
    (alices,) = [p for p in list_proposals(home / "safety.db") if p.id == proposal]
    assert alices.status == "pending" and alices.key.startswith("alice/")
    assert page.errors == []
