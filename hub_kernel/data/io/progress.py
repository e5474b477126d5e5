"""Progress of a long read or download: a tqdm bar, else log lines, else nothing.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any

logger = logging.getLogger("hub_kernel")


class Progress:
    """A tqdm bar when enabled and tqdm is installed, else a log line every tenth; or nothing."""

    def __init__(self, total: int | None, label: str, enabled: bool) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self.position = 0
        self._logged = 0
        self._bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                logger.info("reading %s", label)
            else:
                desc = PurePosixPath(label).name or label
                self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False)

    def set(self, position: int) -> None:
        if not self.enabled:
            return
        position = min(position, self.total) if self.total else position
        if self._bar is not None:
            self._bar.update(position - self.position)
        elif self.total:
            tenth = position * 10 // self.total
            if tenth > self._logged:
                self._logged = tenth
                logger.info("reading %s: %d%%", self.label, tenth * 10)
        self.position = position

    def restart(self) -> None:
        if self._bar is not None:
            self._bar.reset(total=self.total)
        self.position = 0
        self._logged = 0

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


