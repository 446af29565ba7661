"""Errors of the local broker that a user can act on.

The CLI turns each into a one-line message without a traceback, so every message names the
problem and the way out.
"""

from __future__ import annotations


class LocalKafkaError(RuntimeError):
    """The local broker could not be set up, started or stopped."""


class ToolMissingError(LocalKafkaError):
    """A program the broker needs (java, mvn) is missing or too old."""
