"""Wiring: settings -> mapping, model bricks, feature spec -> a running `Processor`."""

from __future__ import annotations

import logging
from typing import Any

from fraudstream.config import ConfigError, Settings
from fraudstream.features import FeatureSpec
from fraudstream.mapping import Mapping, MappingConfigError
from fraudstream.runtime.scoring import Scoring
from fraudstream.stream.processor import Listener, Processor

log = logging.getLogger(__name__)


def load_mapping(settings: Settings) -> Mapping:
    try:
        return Mapping.load(settings.mapping)
    except MappingConfigError as exc:
        raise ConfigError(f"mapping: {exc}") from None


def build_processor(
    settings: Settings,
    *,
    scoring: Scoring | None = None,
    spec: FeatureSpec | None = None,
    listener: Listener | None = None,
    worker_id: str | None = None,
) -> Processor:
    """A processor for `settings`; `scoring`/`spec` default to the configured model's."""
    mapping = load_mapping(settings)
    if scoring is None:
        from fraudstream.runtime.loader import load_scoring

        scoring, spec = load_scoring(settings)
    if spec is None:
        raise ValueError("a custom scoring needs its feature spec")
    try:
        mapping.check_spec(spec)
    except (MappingConfigError, ValueError) as exc:
        raise ConfigError(
            f"mapping {mapping.name!r} does not provide what the model's features need: {exc}; "
            "fix: use the mapping the model was trained with (see its model_card.json)"
        ) from None
    return Processor(
        settings, scoring, mapping=mapping, spec=spec, listener=listener, worker_id=worker_id
    )


async def run_processor(
    settings: Settings,
    *,
    exit_when_idle: float | None = None,
    scoring: Scoring | None = None,
    spec: FeatureSpec | None = None,
) -> dict[str, Any]:
    from fraudstream.stream.clients import check_connection

    # before loading the model, so that a wrong password fails in seconds
    await check_connection(settings.kafka)
    processor = build_processor(settings, scoring=scoring, spec=spec)
    log.info(
        "processor %s: %s -> %s, %s (model %s)",
        processor.worker_id,
        settings.topics.input,
        settings.topics.scores,
        settings.topics.alerts,
        processor.scoring.version,
    )
    counters = await processor.run(exit_when_idle=exit_when_idle, install_signals=True)
    return counters.as_dict()
