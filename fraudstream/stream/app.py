"""Wiring: settings -> mapping, model bricks, feature spec -> a running `Worker`."""

from __future__ import annotations

import functools
import logging
from typing import Any

from fraudstream.config import ConfigError, Settings
from fraudstream.features import FeatureSpec
from fraudstream.mapping import Mapping, MappingConfigError
from fraudstream.runtime.scoring import Scoring
from fraudstream.stream.worker import Listener, Worker

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
    shadow: Scoring | None = None,
) -> Worker:
    """A processor for `settings`; `scoring`/`spec` default to the configured model's, `shadow`
    to the challenger of `shadow_model_path` (if set)."""
    mapping = load_mapping(settings)
    reloader = None
    if scoring is None:
        from fraudstream.runtime.loader import load_scoring

        scoring, spec = load_scoring(settings)
        reloader = functools.partial(load_compatible, settings, spec, "model_path")
    if shadow is None and settings.shadow_model_path is not None:
        if spec is None:
            raise ValueError("a custom scoring needs its feature spec")
        shadow = load_compatible(
            settings.replace(model_path=settings.shadow_model_path), spec, "shadow_model_path"
        )
    if spec is None:
        raise ValueError("a custom scoring needs its feature spec")
    try:
        mapping.check_spec(spec)
    except (MappingConfigError, ValueError) as exc:
        raise ConfigError(
            f"mapping {mapping.name!r} does not provide what the model's features need: {exc}; "
            "fix: use the mapping the model was trained with (see its model_card.json)"
        ) from None
    return Worker(
        settings,
        scoring,
        mapping=mapping,
        spec=spec,
        listener=listener,
        worker_id=worker_id,
        shadow=shadow,
        reloader=reloader,
    )


def load_compatible(settings: Settings, spec: FeatureSpec, setting: str) -> Scoring:
    """The model of `settings.model_path`, refused unless it reads the same features as `spec`:
    a hot-swapped model or a challenger is fed by the running stream's per-entity state."""
    from fraudstream.runtime.loader import load_scoring

    scoring, other = load_scoring(settings)
    if other != spec:
        raise ConfigError(
            f"{setting}: the model in {settings.model_path} computes different features than the "
            "running model (its feature_spec.json differs); fix: train it with the same feature "
            "spec, or restart the processor with it as model_path"
        )
    return scoring


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
    meaning = getattr(processor.scoring, "threshold_meaning", None)
    log.info(
        "processor %s: %s -> %s, %s (model %s%s)",
        processor.worker_id,
        settings.topics.input,
        settings.topics.scores,
        settings.topics.alerts,
        processor.scoring.version,
        f", {meaning()}" if callable(meaning) and settings.alert_threshold is None else "",
    )
    web = None
    if settings.web_port is not None:
        from fraudstream.web.feed import serve_processor

        web = await serve_processor(processor)
    try:
        counters = await processor.run(exit_when_idle=exit_when_idle, owns_process=True)
    finally:
        if web is not None:
            await web.stop()
    return counters.as_dict()
