"""Who may open a served dashboard: per-user tokens in ``$HUB_HOME/users.db``.

``hub users add NAME`` issues a random token (``secrets.token_urlsafe(32)``: 32 random bytes),
printed once and stored only as its SHA-256, so the file never holds a usable credential.
``hub serve --auth users`` accepts only these tokens, and only of users not revoked; a revoked
user is refused on their next request (the server asks this store on every request). A user
added with ``--operator`` may, from the page, decide anyone's proposals and set modes above a
viewer's own; everyone else is a viewer. The CLI run by the owner of ``HUB_HOME`` is an operator
too (``cli_is_operator``).

Names are matched whole (``re.fullmatch``: ``alice\\n`` is refused).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub_kernel.core.sqlite import connect as open_sqlite
from hub_kernel.core.sqlite import transaction
from hub_kernel.exceptions import UserError

NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")  # the viewer names of widgets.viewer, matched whole
TOKEN_BYTES = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,
    operator INTEGER NOT NULL, created TEXT NOT NULL, revoked TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS users_active_name ON users (name) WHERE revoked IS NULL;
"""


@dataclass(frozen=True)
class StoredUser:
    """One issued token's owner (never the token)."""

    id: int
    name: str
    operator: bool
    created: str
    revoked: str | None

    @property
    def role(self) -> str:
        return "operator" if self.operator else "viewer"


def check_name(name: str) -> str:
    """``name`` if it is a plain user name (letters, digits, ``_.@-``, 1 to 64), else a
    ``UserError``."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"{name!r} is not a user name: use 1 to 64 letters, digits, '_', '.', "
                        "'@' or '-'")
    return name


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def default_path() -> Path:
    from hub_kernel.core.config import get_settings

    return get_settings().home / "users.db"


def cli_is_operator(home: str | os.PathLike[str] | None = None) -> bool:
    """Whether this process runs as the owner of ``HUB_HOME`` (``home``): the CLI of that
    account decides as an operator."""
    if home is None:
        from hub_kernel.core.config import get_settings

        home = get_settings().home
    try:
        return os.stat(home).st_uid == os.getuid()
    except OSError:
        return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _row(row: sqlite3.Row) -> StoredUser:
    return StoredUser(int(row["id"]), str(row["name"]), bool(row["operator"]),
                      str(row["created"]), row["revoked"])


class UserStore:
    """The users of ``path`` (default ``$HUB_HOME/users.db``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = open_sqlite(self.path, what="user store", error=UserError, schema=_SCHEMA)
        try:
            self.path.chmod(0o600)  # hashes only, but nobody else's business
            with transaction(db, what=f"user store {self.path}", error=UserError):
                yield db
        finally:
            db.close()

    def add(self, name: str, *, operator: bool = False) -> tuple[StoredUser, str]:
        """Issue a token for ``name``; returns the user and the token (shown once, kept
        nowhere). A name already in use must be revoked first."""
        check_name(name)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        stamp = _now()
        with self._db() as db:
            if db.execute("SELECT 1 FROM users WHERE name=? AND revoked IS NULL",
                          (name,)).fetchone():
                raise UserError(f"user {name!r} already has a token; `hub users revoke "
                                f"{name}` first to issue a new one")
            cursor = db.execute("INSERT INTO users (name, token_sha256, operator, created) "
                                "VALUES (?, ?, ?, ?)",
                                (name, token_hash(token), int(operator), stamp))
            user_id = int(cursor.lastrowid or 0)
        return StoredUser(user_id, name, operator, stamp, None), token

    def revoke(self, name: str) -> StoredUser:
        """Revoke ``name``'s token: refused from the next request on."""
        check_name(name)
        stamp = _now()
        with self._db() as db:
            row = db.execute("SELECT * FROM users WHERE name=? AND revoked IS NULL",
                             (name,)).fetchone()
            if row is None:
                raise UserError(f"no active user {name!r}; `hub users list` shows them")
            db.execute("UPDATE users SET revoked=? WHERE id=?", (stamp, row["id"]))
        return StoredUser(int(row["id"]), name, bool(row["operator"]), str(row["created"]),
                          stamp)

    def users(self) -> list[StoredUser]:
        """Every user ever added, revoked ones included, oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM users ORDER BY id").fetchall()
        return [_row(r) for r in rows]

    def authenticate(self, token: str) -> StoredUser | None:
        """The active user whose token is ``token``, else ``None``."""
        if not token or len(token) > 256:
            return None
        digest = token_hash(token)
        with self._db() as db:
            row = db.execute("SELECT * FROM users WHERE token_sha256=? AND revoked IS NULL",
                             (digest,)).fetchone()
        # the lookup is by hash; compare again in constant time all the same
        if row is None or not hmac.compare_digest(str(row["token_sha256"]), digest):
            return None
        return _row(row)

    def active(self, user_id: int) -> StoredUser | None:
        """User ``user_id`` if not revoked (what a login cookie names), else ``None``."""
        with self._db() as db:
            row = db.execute("SELECT * FROM users WHERE id=? AND revoked IS NULL",
                             (user_id,)).fetchone()
        return _row(row) if row is not None else None

    def find(self, name: str) -> StoredUser | None:
        """The active user called ``name``, if any (the role of a proxy's user)."""
        if not NAME.fullmatch(name):
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM users WHERE name=? AND revoked IS NULL",
                             (name,)).fetchone()
        return _row(row) if row is not None else None
