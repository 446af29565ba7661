"""Hot swap on SIGHUP: the rule file and the model folder loaded again and swapped in, without
stopping the stream.

The model loads off the event loop; records routed from then on are scored by the new one,
while records already routed (queued, or in a running batch) finish on the model that routed
them, so every score names the version that made it. A file that fails to load leaves the
current rules or model in place, and the log says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fraudstream.config import ConfigError, Settings
from fraudstream.rules import RuleError, RuleSet, load_rules
from fraudstream.runtime.scoring import Scoring
from fraudstream.stream.context import WorkerContext
from fraudstream.stream.verdicts import Verdicts

log = logging.getLogger(__name__)


def load_rule_file(path: str | None) -> RuleSet | None:
    """The rule file of `rules_path` (None: no rules); a bad file is a `ConfigError`."""
    if not path:
        return None
    try:
        return load_rules(path)
    except RuleError as exc:
        raise ConfigError(f"rules_path: {exc}") from None


class HotSwap:
    def __init__(
        self,
        ctx: WorkerContext,
        verdicts: Verdicts,
        reloader: Callable[[], Scoring] | None,
    ) -> None:
        self.ctx = ctx
        self.verdicts = verdicts
        self.reloader = reloader
        """Loads the model again (None: the worker was given a model object)."""
        self.swaps = 0
        self._running = False

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    def swap(self, scoring: Scoring) -> None:
        """Route records with `scoring` from now on. Call on the event loop."""
        old = self.ctx.scoring.version
        self.ctx.scoring = scoring
        self.swaps += 1
        log.info("model swapped: %s -> %s", old, scoring.version)

    def request(self) -> None:
        """SIGHUP: reload the rules (at once) and the model (in the background)."""
        path = self.settings.rules_path
        if path:
            try:
                self.verdicts.rules = load_rule_file(path)
                log.info("SIGHUP: rules reloaded from %s", path)
            except ConfigError as exc:
                log.error("SIGHUP: rules not reloaded, the current ones stay: %s", exc)
        if self.reloader is None:
            log.warning("SIGHUP: this processor was given a model object; nothing to reload")
            return
        if self._running:
            log.info("SIGHUP: a reload is already running")
            return
        self._running = True
        self.ctx.spawn(self._reload(self.reloader))

    async def _reload(self, reloader: Callable[[], Scoring]) -> None:
        try:
            scoring = await asyncio.to_thread(reloader)
        except Exception as exc:
            log.error(
                "model reload failed; still scoring with %s: %s", self.ctx.scoring.version, exc
            )
            return
        finally:
            self._running = False
        self.swap(scoring)
