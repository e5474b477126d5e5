"""The user store: tokens issued once and kept only hashed, names matched whole, revocation."""

from __future__ import annotations

import hashlib
import sqlite3
import stat

import pytest

from hub_kernel.exceptions import UserError
from hub_kernel.safety.users import UserStore, check_name, cli_is_operator


def test_a_token_logs_its_user_in_and_only_its_hash_is_stored(hub_home):
    store = UserStore()
    bob, token = store.add("bob")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert store.authenticate(token) == bob and not bob.operator
    assert store.authenticate(token + "x") is None and store.authenticate("") is None
    raw = (hub_home / "users.db").read_bytes()
    assert token.encode() not in raw
    with sqlite3.connect(hub_home / "users.db") as db:
        (stored,) = db.execute("SELECT token_sha256 FROM users").fetchone()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert stat.S_IMODE((hub_home / "users.db").stat().st_mode) == 0o600


def test_each_user_gets_their_own_token_and_a_role(hub_home):
    store = UserStore()
    _ann, ann_token = store.add("ann", operator=True)
    _bob, bob_token = store.add("bob")
    assert ann_token != bob_token
    assert store.authenticate(ann_token).operator and store.authenticate(ann_token).name == "ann"
    assert [(u.name, u.role) for u in store.users()] == [("ann", "operator"), ("bob", "viewer")]


def test_a_revoked_token_is_refused_and_the_name_can_be_issued_again(hub_home):
    store = UserStore()
    old, token = store.add("bob")
    store.revoke("bob")
    assert store.authenticate(token) is None and store.active(old.id) is None
    with pytest.raises(UserError, match="no active user 'bob'"):
        store.revoke("bob")
    new, new_token = store.add("bob")
    assert new.id != old.id and store.authenticate(new_token) == new
    listed = store.users()
    assert [u.revoked is not None for u in listed] == [True, False]


def test_a_name_in_use_is_refused(hub_home):
    UserStore().add("bob")
    with pytest.raises(UserError, match="already has a token"):
        UserStore().add("bob")


@pytest.mark.parametrize("name", ["alice\n", "al ice", "", "a" * 65, "bob/../x", "é"])
def test_names_are_matched_whole(hub_home, name):
    with pytest.raises(UserError, match="is not a user name"):
        check_name(name)
    with pytest.raises(UserError):
        UserStore().add(name)
    assert UserStore().find(name) is None


def test_the_owner_of_hub_home_is_an_operator(hub_home):
    hub_home.mkdir(parents=True, exist_ok=True)
    assert cli_is_operator(hub_home)
    assert not cli_is_operator(hub_home / "missing")
