"""The benchmark's progress display on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A progress bar on stderr (one line, redrawn) when it is a terminal; plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, enabled: bool = True):
        self.total, self.done, self.stream, self.enabled = total, 0, stream, enabled
        self.tty = enabled and stream.isatty()
        self.start = time.perf_counter()
        self.label = ""
        self.drawn = 0.0

    def update(self, label: str, step: bool = False) -> None:
        self.done += 1 if step else 0
        self.label = label
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if self.tty:
            if not step and elapsed - self.drawn < 0.1:  # at most 10 redraws a second
                return
            self.drawn = elapsed
            width = 24
            filled = int(width * min(self.done, self.total) / max(self.total, 1))
            line = f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {elapsed:5.0f} s  {label}"
            self.stream.write(line[:120].ljust(120))
            self.stream.flush()
        elif step or "warm-up" in label or label.startswith("floor"):
            self.stream.write(f"[{self.done}/{self.total} {elapsed:4.0f} s] {label}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()
