"""Narrative from computed facts: sentences whose every number is a recorded ``Fact`` value.

A ``Sentence`` is built from a template whose fields are facts (written with
``Fact.display``, i.e. ``format_number`` plus the unit), names (column names, written as given
and escaped where rendered) or digit-free words. Its parts are kept, so each number in the text
can be traced back to the key of the fact it came from (``Sentence.numbers``) and a test can
check the text against the analysis that computed it. Template words and names pass through
the glossary (``Settings.glossary``: a word or column name -> the term readers use).

An optional rephrasing backend (``Settings.report_llm_backend``, off by default) may reword a
sentence; its wording is kept only when every number of the original appears in it unchanged and
it adds no other number, else the original stays.
"""

from __future__ import annotations

import html
import logging
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hub_kernel.analyses.base import Fact, FactStyle
from hub_kernel.core.formatting import format_number
from hub_kernel.core.registry import Registry
from hub_kernel.exceptions import ReportError

logger = logging.getLogger("hub_kernel")

PartKind = Literal["text", "name", "number"]
DIGIT = re.compile(r"\d")
#: topics that are never key findings: counts and shares describing the data (rows, outliers,
#: missing values), and an analysis's raw facts (every pair's r) that the findings rank
NOT_FINDINGS = ("summary", "quality", "correlation", "distribution")
NUMBER_PATTERN = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?%?")


@dataclass(frozen=True)
class Name:
    """A name from the data (a column, a category): written as given, never reworded."""

    text: str


@dataclass(frozen=True)
class Part:
    """One piece of a sentence: template words, a name from the data, or a fact's number."""

    kind: PartKind
    text: str
    key: str | None = None  # the fact behind a number
    value: Any = None


@dataclass(frozen=True)
class NumberRef:
    """A number as written in a sentence, and the fact it was formatted from."""

    key: str
    value: Any
    text: str


@dataclass
class Sentence:
    """A sentence of the narrative with the facts it states.

    ``topic``: trend, difference, predictor, model, drift, quality, summary, fairness...;
    ``weight``: how much it matters (key findings take the heaviest).
    """

    topic: str
    parts: tuple[Part, ...]
    weight: float = 0.5
    rephrased: str | None = None

    @property
    def text(self) -> str:
        return self.rephrased or "".join(p.text for p in self.parts)

    @property
    def numbers(self) -> list[NumberRef]:
        return [NumberRef(p.key or "", p.value, p.text) for p in self.parts if p.kind == "number"]

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.parts if p.key]

    def to_html(self) -> str:
        """The sentence with data escaped; each number tagged with its fact key."""
        if self.rephrased:
            return html.escape(self.rephrased)
        out = []
        for part in self.parts:
            text = html.escape(part.text)
            if part.kind == "number":
                out.append(f"<span class='hub-num' data-fact='{html.escape(part.key or '')}'>"
                           f"{text}</span>")
            elif part.kind == "name":
                out.append(f"<span class='hub-name'>{text}</span>")
            else:
                out.append(text)
        return "".join(out)

    def to_markdown(self) -> str:
        """The sentence with Markdown and HTML special characters in data escaped."""
        if self.rephrased:
            return md_escape(self.rephrased)
        return "".join(f"**{md_escape(p.text)}**" if p.kind == "number" else md_escape(p.text)
                       for p in self.parts)

    def __str__(self) -> str:
        return self.text


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: str) -> str:
    """``text`` safe in Markdown: HTML escaped, Markdown punctuation backslashed, one line."""
    text = html.escape(str(text), quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.splitlines())


class Glossary:
    """Domain terms: whole words (or exact column names) replaced by the readers' term."""

    def __init__(self, terms: Mapping[str, str] | None = None) -> None:
        self.terms = {str(k): str(v) for k, v in (terms or {}).items() if k}
        self._pattern = (re.compile(r"(?<!\w)(" + "|".join(
            re.escape(k) for k in sorted(self.terms, key=len, reverse=True)) + r")(?!\w)")
            if self.terms else None)

    @classmethod
    def from_settings(cls) -> Glossary:
        from hub_kernel.core.config import get_settings

        return cls(get_settings().glossary)

    def name(self, text: str) -> str:
        """A data name in the readers' terms (exact match only: names are not split)."""
        return self.terms.get(text, text)

    def words(self, text: str) -> str:
        """Template words with glossary terms substituted (whole words)."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.terms[m.group(1)], text)


def number_text(fact: Fact) -> str:
    """How ``fact`` is written in a sentence (``Fact.display``: ``format_number`` and unit)."""
    return fact.display


class SentenceBuilder:
    """Builds sentences from templates, recording every fact it writes.

    ``facts`` collects each fact used (by key): the report keeps it, so any number can be traced.
    """

    def __init__(self, glossary: Glossary | None = None) -> None:
        self.glossary = glossary or Glossary()
        self.facts: dict[str, Fact] = {}

    def say(self, topic: str, template: str, weight: float = 0.5, **fields: Any) -> Sentence:
        """A sentence from ``template`` (``str.format`` fields) with ``fields`` filled in.

        A field is a ``Fact`` (its number), a ``Name`` (data, as given, glossary applied) or a
        digit-free string (words). Template words must hold no digit: numbers come from facts.
        """
        parts: list[Part] = []
        for literal, field_name, spec, _conv in string.Formatter().parse(template):
            if literal:
                if DIGIT.search(literal):
                    raise ReportError(f"a number in template words ({literal!r}): numbers in "
                                      "a narrative must come from facts")
                parts.append(Part("text", self.glossary.words(literal)))
            if field_name is None:
                continue
            if field_name not in fields:
                raise ReportError(f"template field {field_name!r} not given")
            parts.append(self._part(fields[field_name], spec or ""))
        return Sentence(topic, tuple(_merge(parts)), weight)

    def _part(self, value: Any, spec: str) -> Part:
        if isinstance(value, Fact):
            self.facts[value.key] = value
            if value.value is None:
                return Part("text", "n/a")
            if isinstance(value.value, str):
                return Part("name", self.glossary.name(value.value), value.key, value.value)
            return Part("number", number_text(value), value.key, value.value)
        if isinstance(value, Name):
            return Part("name", self.glossary.name(value.text))
        if isinstance(value, str):
            if DIGIT.search(value):
                raise ReportError(f"a number in words ({value!r}): pass it as a Fact")
            return Part("text", self.glossary.words(value))
        raise ReportError(f"cannot write {type(value).__name__} in a sentence: pass a Fact, "
                          "a Name or words")


def _merge(parts: Iterable[Part]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if out and part.kind == "text" and out[-1].kind == "text":
            out[-1] = Part("text", out[-1].text + part.text)
        else:
            out.append(part)
    return out


def plain_fact(key: str, value: Any, unit: str | None = None, text: str | None = None,
               style: FactStyle = "number") -> Fact:
    """A fact computed outside the analyses (registry metrics, drift): same formatting rules
    (``style="p_value"`` for a p-value, ``"plain"`` for a year or an id)."""
    shown = format_number(value, plain=style == "plain", p_value=style == "p_value")
    return Fact(key=key, text=text or f"{key}: {shown}{'' if not unit else ' ' + unit}",
                value=value, unit=unit, style=style)


def written_numbers(text: str) -> list[str]:
    """The numbers in ``text`` as a reader sees them (``< 1e-16`` counts as ``1e-16``)."""
    return NUMBER_PATTERN.findall(text)


# -- the optional rephrasing backend ---------------------------------------------------------
class RephraseBackend(Protocol):
    """Rewords a sentence (an LLM, a style guide...). Must keep every number as written."""

    def rephrase(self, text: str, numbers: list[str], audience: str) -> str: ...


#: rephrasing backends by name: factories, called on each ``get_backend``
backends: Registry[Callable[[], RephraseBackend]] = Registry(
    "report rephrasing backend", error=ReportError)


def register_backend(name: str, factory: Callable[[], RephraseBackend]) -> None:
    """Make a rephrasing backend available as ``HUB_REPORT_LLM_BACKEND=name``."""
    backends.register(factory, name)


def get_backend(name: str | None = None) -> RephraseBackend | None:
    """The configured backend (``Settings.report_llm_backend``); None when off."""
    if name is None:
        from hub_kernel.core.config import get_settings

        name = get_settings().report_llm_backend
    if not name:
        return None
    if name not in backends:
        known = ", ".join(sorted(backends.names())) or "none registered"
        raise ReportError(f"no report rephrasing backend {name!r} ({known}); register one "
                          "with hub_kernel.reports.narrative.register_backend or unset "
                          "HUB_REPORT_LLM_BACKEND")
    return backends.get(name)()


def rephrase(sentences: list[Sentence], audience: str,
             backend: RephraseBackend | None = None) -> list[Sentence]:
    """Let ``backend`` reword ``sentences`` where it keeps the numbers exactly; others stay."""
    if backend is None:
        return sentences
    for sentence in sentences:
        wanted = [n.text for n in sentence.numbers]
        try:
            text = backend.rephrase(sentence.text, wanted, audience)
        except Exception as exc:  # the backend is optional: its failure never fails a report
            logger.warning("report rephrasing failed, keeping the original: %s", exc)
            continue
        if numbers_kept(sentence, text):
            sentence.rephrased = text
        else:
            logger.info("rephrasing dropped or changed a number; kept: %s", sentence.text)
    return sentences


def numbers_kept(sentence: Sentence, text: str) -> bool:
    """Whether ``text`` writes exactly the numbers of ``sentence`` (names aside)."""
    stripped = text
    for part in sentence.parts:
        if part.kind == "name":
            stripped = stripped.replace(part.text, " ")
    original = stripped
    found = sorted(written_numbers(original))
    expected = [m for n in sentence.numbers for m in written_numbers(n.text)]
    return found == sorted(expected)


@dataclass
class Narrative:
    """Sentences grouped by topic, and every fact they state."""

    sentences: list[Sentence] = field(default_factory=list)
    facts: dict[str, Fact] = field(default_factory=dict)

    def topic(self, *topics: str) -> list[Sentence]:
        return [s for s in self.sentences if s.topic in topics]

    def key_findings(self, n: int = 5, passed_over: Iterable[str] = ()) -> list[Sentence]:
        """The heaviest sentences (at most two per topic), heaviest first; the ranked
        findings (topic ``finding``) lead; ``NOT_FINDINGS`` topics are never among them, nor
        a sentence stating a fact in ``passed_over`` (a comparison the ranking judged not
        worth a reader's time)."""
        ranked = sorted(self.sentences, key=lambda s: -s.weight)
        chosen: list[Sentence] = []
        per_topic: dict[str, int] = {}
        stated: set[str] = set(passed_over)
        for sentence in ranked:
            if sentence.topic in NOT_FINDINGS or stated & set(sentence.keys):
                continue
            if sentence.topic != "finding" and per_topic.get(sentence.topic, 0) >= 2:
                continue
            stated |= set(sentence.keys)
            chosen.append(sentence)
            per_topic[sentence.topic] = per_topic.get(sentence.topic, 0) + 1
            if len(chosen) == n:
                break
        return chosen
