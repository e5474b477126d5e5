"""What a report leads with: the findings of all the analyses, ranked by effect size times
support corrected for the comparisons each made (``hub_kernel.analyses.findings``), as
sentences whose numbers trace to the facts; and the facts of comparisons the ranking passed
over, which no key-finding sentence may state.
"""

from __future__ import annotations

from hub_kernel.analyses.findings import Finding, findings, rank_findings
from hub_kernel.reports.narrative import Part, Sentence, SentenceBuilder
from hub_kernel.reports.story import Results, from_fact


def finding_sentence(b: SentenceBuilder, finding: Finding, names: tuple[str, ...]
                     ) -> Sentence | None:
    """One finding as one sentence: its facts' own sentences, headline first, weighted
    above every other sentence (1 + its score) so it leads the key findings."""
    parts: list[Part] = []
    for fact in finding.facts:
        sentence = from_fact(b, fact, "finding", 0.0, names)
        if sentence is None:
            continue
        if parts:
            parts.append(Part("text", " "))
        parts += [p for p in sentence.parts if p.text]
    if not parts:
        return None
    return Sentence("finding", tuple(parts), 1.0 + finding.score)


def finding_sentences(b: SentenceBuilder, results: Results, names: tuple[str, ...],
                      limit: int = 5) -> list[Sentence]:
    """The key findings of all the analyses, ranked by effect size times support corrected
    for the comparisons each made (``hub_kernel.analyses.findings``)."""
    # words analyses put in their sentences besides column names (a metric such as r2)
    names = (*names, *(str(r.data[k]) for r in results.values() for k in ("scoring", "metric")
                       if isinstance(r.data.get(k), str)))
    out = []
    for finding in rank_findings(results, None):
        sentence = finding_sentence(b, finding, names)
        if sentence is not None:
            out.append(sentence)
        if len(out) >= limit:
            break
    return out


def passed_over(results: Results) -> set[str]:
    """Keys of the facts that state a comparison the ranking judged not worth a reader's time
    (an effect too small, no support after the correction, a column against its own
    transform), unless a key finding states them too."""
    judged = [f for r in results.values() if r is not None for f in findings(r)]
    kept = {fact.key for f in judged if f.worth for fact in f.facts}
    return {fact.key for f in judged if not f.worth for fact in f.facts} - kept
