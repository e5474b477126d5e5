"""``hub users add|list|revoke``: the token is printed once and never listed."""

from __future__ import annotations

from typer.testing import CliRunner

from hub_kernel.cli import app
from hub_kernel.safety.users import UserStore

runner = CliRunner()


def test_add_prints_the_token_once_list_never_and_revoke_refuses_it(hub_home):
    added = runner.invoke(app, ["users", "add", "bob"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert UserStore().authenticate(token).name == "bob"
    assert runner.invoke(app, ["users", "add", "ann", "--operator"]).exit_code == 0
    listed = runner.invoke(app, ["users", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    assert "bob" in listed.output and "viewer" in listed.output and "operator" in listed.output
    assert token not in listed.output
    revoked = runner.invoke(app, ["users", "revoke", "bob"])
    assert revoked.exit_code == 0 and "revoked bob" in revoked.output
    assert UserStore().authenticate(token) is None
    listed = runner.invoke(app, ["users", "list"], env={"COLUMNS": "200"})
    bob_row = next(line for line in listed.output.splitlines() if "bob" in line)
    assert "20" in bob_row.split("bob", 1)[1].split("│")[3]  # the revocation's date


def test_bad_names_and_unknown_users_are_one_line_errors(hub_home):
    bad = runner.invoke(app, ["users", "add", "alice\n"])
    assert bad.exit_code == 1 and "is not a user name" in bad.output
    assert "Traceback" not in bad.output
    missing = runner.invoke(app, ["users", "revoke", "nobody"])
    assert missing.exit_code == 1 and "no active user 'nobody'" in missing.output
