"""Every number in a report's narrative is a computed fact, written as the analyses write it."""

from __future__ import annotations

import html
import re

import pytest

from hub_kernel.agents.report.sections import SECTIONS
from hub_kernel.analyses.base import Fact, format_number
from hub_kernel.exceptions import ReportError
from hub_kernel.reports import narrative
from hub_kernel.reports.compose import compose_report
from hub_kernel.reports.narrative import (
    NUMBER_PATTERN,
    Glossary,
    Name,
    SentenceBuilder,
    register_backend,
)

ALL = list(SECTIONS)


def _recomputed(frame, report):
    """Each fact value, computed again from scratch (analyses, drift) without the report."""
    from hub_kernel.analyses import run_analyses
    from hub_kernel.data.profile import profile_dataset
    from hub_kernel.reports.compose import ANALYSIS_PARAMS, _drift

    profile = profile_dataset(frame)
    results = run_analyses(frame, profile, names=list(report.results), target=report.target,
                           params=ANALYSIS_PARAMS)
    values = {}
    for result in results.values():
        for fact in result.facts:
            values[fact.key] = fact.value
    values["model.best_std"] = results["supervised_model"].data["best"]["std"]
    drift, _how = _drift(frame, profile)
    values["drift.features"] = len(drift.features)
    values["drift.drifted"] = len(drift.drifted_features)
    values["drift.share"] = 100 * drift.drift_share
    for feature in drift.features:
        values[f"drift.{feature.feature}.psi"] = feature.psi
        values[f"drift.{feature.feature}.p_value"] = feature.p_value
    return values


def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


def test_every_number_in_the_narrative_is_a_computed_fact(sample, learner):
    report = compose_report("seattle-weather", audience="analyst", frame=sample, sections=ALL,
                            learner=learner)
    values = _recomputed(sample, report)
    sentences = report.sentences
    assert len(sentences) > 20
    n_numbers = 0
    for sentence in sentences:
        # the text with the data's names taken out holds exactly the numbers traced to facts
        text = "".join(p.text for p in sentence.parts if p.kind != "name")
        written = NUMBER_PATTERN.findall(text)
        traced = [m for n in sentence.numbers for m in NUMBER_PATTERN.findall(n.text)]
        assert written == traced, sentence.text
        assert "p-value is 0." not in sentence.text and "p-value 0)" not in sentence.text
        for number in sentence.numbers:
            n_numbers += 1
            fact = report.facts[number.key]
            assert number.text == fact.display
            assert number.text.startswith(fact.formatted)
            assert fact.formatted == format_number(fact.value, plain=fact.style == "plain",
                                                   p_value=fact.style == "p_value")
            assert _same(fact.value, values[number.key]), number.key
    assert n_numbers > 30
    # the rendered HTML tags each number with its fact
    for section in report.sections:
        for key, shown in re.findall(r"<span class='hub-num' data-fact='([^']*)'>([^<]*)</span>",
                                     section.to_html(charts=False)):
            assert html.unescape(shown) == report.facts[html.unescape(key)].display


def test_key_findings_come_first_for_executives_and_repeat_traced_sentences(reports):
    report = reports["executive"]
    assert report.sections[0].id == "key_findings"
    findings = report.sections[0].sentences
    assert 1 <= len(findings) <= 5
    assert all(n.key in report.facts for s in findings for n in s.numbers)
    assert findings == sorted(findings, key=lambda s: -s.weight)


def test_glossary_terms_replace_names_and_words(sample, learner):
    glossary = {"temp_max": "daily high", "rows": "days"}
    report = compose_report("seattle-weather", audience="analyst", frame=sample,
                            sections=["overview", "trends"], glossary=glossary,
                            learner=learner)
    text = " ".join(s.text for s in report.sentences)
    assert "daily high" in text and "temp_max" not in text
    assert "1,461 days" in text


def test_numbers_in_template_words_are_refused():
    builder = SentenceBuilder()
    with pytest.raises(ReportError, match="numbers in a narrative must come from facts"):
        builder.say("x", "Sales rose 12% to {v}.", v=Fact("v", "v", 3.0))
    with pytest.raises(ReportError, match="pass it as a Fact"):
        builder.say("x", "{a} rose.", a="by 12")
    sentence = builder.say("x", "{name} is {v}.", name=Name("col 2"), v=Fact("k", "t", 0.12345,
                                                                               "%"))
    assert sentence.text == "col 2 is 0.1235%."
    assert [(n.key, n.text) for n in sentence.numbers] == [("k", "0.1235%")]


def test_glossary_matches_whole_words_only():
    g = Glossary({"wind": "wind speed"})
    assert g.words("wind and windy") == "wind speed and windy"
    assert g.name("wind") == "wind speed" and g.name("winds") == "winds"


class _Echo:
    def __init__(self, change_numbers: bool) -> None:
        self.change_numbers = change_numbers

    def rephrase(self, text, numbers, audience):
        if self.change_numbers:
            return "Roughly " + re.sub(r"\d", "9", text)
        return f"In short: {text}"


def test_llm_rephrasing_is_off_by_default_and_never_changes_numbers(sample, learner,
                                                                    monkeypatch):
    assert narrative.get_backend() is None
    register_backend("echo", lambda: _Echo(False))
    register_backend("liar", lambda: _Echo(True))
    monkeypatch.setattr(narrative, "get_backend", narrative.get_backend)
    builder = SentenceBuilder()
    kept = builder.say("x", "{a} rose by {v}.", a=Name("sales"), v=Fact("v", "t", 12.5))
    narrative.rephrase([kept], "executive", narrative.get_backend("echo"))
    assert kept.text == "In short: sales rose by 12.5."
    lied = builder.say("x", "{a} rose by {v}.", a=Name("sales"), v=Fact("v", "t", 12.5))
    narrative.rephrase([lied], "executive", narrative.get_backend("liar"))
    assert lied.text == "sales rose by 12.5."
    with pytest.raises(ReportError, match="no report rephrasing backend"):
        narrative.get_backend("nope")


def test_model_quality_sentences_trace_registry_metrics():
    from types import SimpleNamespace

    from hub_kernel.reports.story import registry_sentences

    version = SimpleNamespace(version=3, primary_metric="r2", metrics={"r2": 0.86281, "mae": 2.1})
    info = SimpleNamespace(name="sales-churned", champion=3, versions=(version, version),
                           primary_metric="r2", version=lambda n: version)
    builder = SentenceBuilder()
    first, second = registry_sentences(builder, info)
    assert first.text == ("The champion model sales-churned (version 3) scores r2 = 0.8628 in "
                          "cross-validation.")
    assert [(n.key, n.value) for n in first.numbers] == [("model.champion", 3),
                                                         ("model.r2", 0.86281)]
    assert builder.facts["model.r2"].display == "0.8628"
    assert second.text == "Registered versions of the model: 2."
