"""The in-process event bus the agents and the controller talk over.

Topics are fixed (``TOPICS``): publishing an unknown one is a bug and raises. A subscriber that
fails unexpectedly is logged and skipped; the others still get the event, and the publisher
never sees that exception (one broken agent must not take the dashboard down). A ``HubError``
(a refusal, a store that cannot be written) is the publisher's to show, so it is raised.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub_kernel.exceptions import AgentError, HubError

logger = logging.getLogger("hub_kernel")

TOPICS = (
    "data_loaded", "profile_ready", "analysis_done", "layout_proposed", "layout_applied",
    "interaction", "report_exported", "model_promoted", "agent_failed",
)


@dataclass(frozen=True)
class Event:
    topic: str
    payload: dict[str, Any] = field(default_factory=dict)
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))


Handler = Callable[[Event], None]
MAX_ERRORS = 100  # failures kept for inspection (the newest)


class EventBus:
    """Publish/subscribe by topic, synchronous, in the order of subscription."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self.errors: list[tuple[Event, BaseException]] = []

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(event)`` for every event of ``topic``; returns an unsubscribe."""
        self._check(topic)
        self._handlers[topic].append(handler)
        return lambda: self._handlers[topic].remove(handler) if handler in self._handlers[
            topic] else None

    def publish(self, topic: str, /, **payload: Any) -> Event:
        self._check(topic)
        event = Event(topic, payload)
        for handler in list(self._handlers[topic]):
            try:
                handler(event)
            except HubError:  # a refusal or a store that cannot be written: the caller's
                raise
            except Exception as exc:
                logger.exception("a handler of %s failed", topic)
                self.errors.append((event, exc))
                del self.errors[:-MAX_ERRORS]
                if topic != "agent_failed":
                    self.publish("agent_failed", source=topic, error=f"{type(exc).__name__}: "
                                                                    f"{exc}")
        return event

    @staticmethod
    def _check(topic: str) -> None:
        if topic not in TOPICS:
            raise AgentError(f"unknown event topic {topic!r}; topics: {', '.join(TOPICS)}")


_default: EventBus | None = None


def default_bus() -> EventBus:
    """The process-wide bus (one kernel, one bus): what the controller listens to unless
    given another."""
    global _default
    if _default is None:
        _default = EventBus()
    return _default
