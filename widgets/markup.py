"""The one way widgets put text into HTML: every piece of user text goes through ``escape``.

Column names, dataset and model names, job names, explanations and error messages are user
text: a ``<script>`` in a column name must show as text, never run. ``tag`` builds one element
with its text and attribute values escaped (attributes in single quotes, as every widget
writes them).
"""

from __future__ import annotations

import html


def escape(text: object) -> str:
    """``text`` (any value, as ``str``) with ``& < > " '`` escaped, safe in an element or a
    quoted attribute."""
    return html.escape(str(text), quote=True)


def attrs(**values: object) -> str:
    """`` name='value'`` pairs (escaped; ``cls`` is ``class``, ``None`` values are left out)."""
    return "".join(f" {'class' if name == 'cls' else name}='{escape(value)}'"
                   for name, value in values.items() if value is not None)


def tag(name: str, text: object = "", **attributes: object) -> str:
    """``<name ...>text</name>`` with ``text`` and the attribute values escaped."""
    return f"<{name}{attrs(**attributes)}>{escape(text)}</{name}>"


def error_html(exc: object, *, name: str = "span", cls: str = "hub-error",
               style: str | None = None) -> str:
    """An error message as one element (``<span class='hub-error'>...</span>``)."""
    return tag(name, exc, cls=cls, style=style)
