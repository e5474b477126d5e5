"""The contract every hub agent follows: decide, learn from feedback, save and load its settings.

An agent ``decide``s from a context (what it observes now) and returns a decision that carries
its propensity, expected reward and explanation (for the audit log and off-policy evaluation);
``update`` takes the feedback on what it decided; ``save`` returns its settings as JSON-ready
data (what the version store keeps, so a rollout can serve another version) and ``load`` builds
the agent back from them. The evidence an agent learns from lives in its SQLite store (events,
report feedback), not in the agent: Voila gives every viewer a fresh kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

ContextT = TypeVar("ContextT", contravariant=True)
DecisionT = TypeVar("DecisionT", covariant=True)
FeedbackT = TypeVar("FeedbackT", contravariant=True)


@runtime_checkable
class Agent(Protocol[ContextT, DecisionT, FeedbackT]):
    """decide / update / save / load (module docstring)."""

    name: str

    def decide(self, context: ContextT) -> DecisionT:
        """The agent's decision in ``context``."""
        ...

    def update(self, feedback: FeedbackT) -> None:
        """Learn from feedback on a decision (stored where the next decision reads it)."""
        ...

    def save(self) -> dict[str, Any]:
        """The agent's settings, JSON-ready (``load`` takes them back)."""
        ...

    @classmethod
    def load(cls, state: Mapping[str, Any], **kwargs: Any) -> Self:
        """An agent with the settings ``save`` returned (``kwargs``: what is not settings)."""
        ...
