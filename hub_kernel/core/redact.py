"""Credentials taken out of what hub stores and shows: run parameters, errors, executed notebooks.

A scheduled job's parameters may carry secrets (``source=https://user:pw@host/x?token=abc``).
The job store keeps them (the notebook needs them to run); everything else (the run history,
MLflow params and tags, the executed notebook and its HTML copy, the tiles and the CLI) gets
them through these functions:

- in any URL in a text, the userinfo (``user:pw@``) becomes ``***@`` and the value of every query
  parameter whose name looks secret (token, key, password, secret, signature, auth, ...)
  becomes ``***``;
- in a mapping of parameters, the value of every key whose name looks secret becomes ``***``;
- the secrets themselves (``secrets_of(parameters)``: passwords, tokens, secret-named values)
  are masked wherever they appear, since a library's error may quote them in any form (urllib:
  ``nonnumeric port: 'pw@host'``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"
#: a name (a parameter, a query parameter, a key) whose value is a credential
_SECRET_NAME = re.compile(
    r"pass|pwd|secret|token|key|auth|credential|signature|sig$|session|cookie|bearer|private",
    re.IGNORECASE)
# scheme://anything-up-to-a-space-or-quote (a URL inside a sentence, a repr, code or a traceback)
_URL = re.compile(r"""\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'"<>`]+""")
#: shorter values are not masked wherever they appear (they would hide ordinary words)
_MIN_SECRET = 3
_ASSIGNMENT = re.compile(r"^(\s*)([A-Za-z_]\w*)(\s*=\s*)(.+)$")


def secret_name(name: str) -> bool:
    """Whether ``name`` (a parameter or query key) names a credential."""
    return bool(_SECRET_NAME.search(str(name)))


def _misplaced_userinfo(url: str, parts: SplitResult) -> tuple[str, str] | None:
    """``(userinfo, the rest after its '@')`` when a password holding an unencoded ``/``, ``?``
    or ``#`` (a base64 one: ``redis://:ab/cd@host``) ended the host part early: no ``@`` in
    the parsed host part, one later on, and the host part is not ``host[:port]``."""
    _scheme, sep, rest = url.partition("://")
    if not sep or not parts.netloc or "@" in parts.netloc or "@" not in rest:
        return None  # (no host part at all: a file:///path that holds an @)
    try:
        parts.port  # noqa: B018 - a port that is not a number: a password's start
    except ValueError:
        pass
    else:
        if parts.hostname and not parts.netloc.endswith(":"):
            return None
    userinfo, _, after = rest.rpartition("@")
    return userinfo, after


def redact_url(url: str) -> str:
    """``url`` without its userinfo and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 netloc: mask everything after the scheme
        return url.split("://", 1)[0] + "://" + MASK
    misplaced = _misplaced_userinfo(url, parts)
    if misplaced is not None:
        return redact_url(f"{parts.scheme}://{MASK}@{misplaced[1]}")
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = _mask_pairs(parts.query)
    fragment = parts.fragment
    if fragment and _mask_pairs(fragment) != fragment:
        fragment = MASK  # e.g. an OAuth implicit-flow fragment (#access_token=...)
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _mask_pairs(query: str) -> str:
    """``a=1&token=abc`` as ``a=1&token=***``: only secret-looking values change."""
    if not query:
        return query
    pieces = []
    for piece in query.split("&"):
        name, sep, _value = piece.partition("=")
        pieces.append(f"{name}={MASK}" if sep and secret_name(unquote_plus(name)) else piece)
    return "&".join(pieces)


def _url_secrets(url: str) -> Iterable[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    misplaced = _misplaced_userinfo(url, parts)
    if misplaced is not None:
        userinfo = misplaced[0]
        for raw in (userinfo, userinfo.partition(":")[2]):
            yield raw
            yield unquote(raw)
        parts = urlsplit(f"{parts.scheme}://{MASK}@{misplaced[1]}")  # its query, below
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        user, colon, password = userinfo.partition(":")
        for raw in (password, userinfo) if colon else (user,):  # no password: user is a token
            yield raw
            yield unquote(raw)
    for piece in (parts.query, parts.fragment):
        for name, value in parse_qsl(piece, keep_blank_values=True):
            if secret_name(name):
                yield value


def secrets_of(parameters: Any, *, key: str | None = None) -> frozenset[str]:
    """The credentials in ``parameters``: the passwords (or token user names) and secret query
    values of the URLs in it, and the values under secret-looking keys (at least 3
    characters: shorter ones are masked only where the URL and key rules find them)."""
    found: set[str] = set()

    def visit(value: Any, name: str | None) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                visit(v, str(k))
        elif isinstance(value, list | tuple | set | frozenset):
            for v in value:
                visit(v, name)
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if name is not None and secret_name(name):
                found.add(text)
            for match in _URL.finditer(text):
                found.update(_url_secrets(match.group(0)))

    visit(parameters, key)
    return frozenset(s for s in found if len(s) >= _MIN_SECRET and s != MASK)


def redact_text(text: str, secrets: Collection[str] = ()) -> str:
    """``text`` with every URL in it redacted (``redact_url``) and every one of ``secrets``
    masked."""
    if "://" in text:
        def one(match: re.Match[str]) -> str:
            url = match.group(0)
            core = url.rstrip(".,;:!?)]}")  # the end of a sentence, not of the URL
            return redact_url(core) + url[len(core):]

        text = _URL.sub(one, text)
    for secret in sorted(secrets, key=len, reverse=True):  # "user:pw" before "pw"
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(value: Any, *, key: str | None = None, by_key: bool = True,
           secrets: Collection[str] = ()) -> Any:
    """``value`` with credentials removed: masked under a secret-looking ``key`` (when
    ``by_key``: parameters; off for hub's own records, whose keys are not user-chosen), text
    through ``redact_text``, mappings and lists item by item; anything else as is."""
    if by_key and key is not None and secret_name(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, Mapping):
        return {k: redact(v, key=str(k), by_key=by_key, secrets=secrets)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v, by_key=by_key, secrets=secrets) for v in value)
    return value


def redact_code(source: str, secrets: Collection[str] = ()) -> str:
    """Python source (papermill's injected parameters) with secret-looking assignments
    (``password = "..."``) masked and the rest through ``redact_text``."""
    lines = []
    for line in source.splitlines(keepends=True):
        body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        match = _ASSIGNMENT.match(body)
        if match and secret_name(match.group(2)):  # a comment after it goes too: it may be
            body = f"{match.group(1)}{match.group(2)}{match.group(3)}{MASK!r}"  # in the value
        lines.append(redact_text(body, secrets) + end)
    return "".join(lines)
