"""The live progress display on stderr: one line rewritten in place on a terminal, a line every
few seconds otherwise (logs, CI), and a permanent line per finished step."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO


class Display:
    def __init__(
        self, stream: TextIO | None = None, *, quiet: bool = False, every_s: float = 5.0
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s
        self._last = -math.inf  # the first status line always shows
        self._width = 0

    def status(self, line: str) -> None:
        """A transient line: the current state of the running step."""
        if self.quiet:
            return
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.stream.write(line + "\n")
            self.stream.flush()

    def done(self, line: str) -> None:
        """A permanent line (a finished step, an error)."""
        if self.quiet:
            return
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(line + "\n")
        self.stream.flush()
