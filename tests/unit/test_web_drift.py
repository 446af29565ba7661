"""The drift watch's pure part: histogram, PSI, the reference from a model card, the bounds."""

from __future__ import annotations

import math
import random

import pytest

from fraudstream.web.drift import (
    BINS,
    SCORE_EDGES,
    DriftWatch,
    Reference,
    bin_of,
    psi,
    score_distribution,
)


def validation_scores(n: int, seed: int = 0) -> list[float]:
    """Mostly low scores with a fraud tail, like a fraud model's validation output."""
    rng = random.Random(seed)
    return [
        rng.betavariate(0.6, 12) if rng.random() > 0.02 else rng.uniform(0.6, 1) for _ in range(n)
    ]


def test_bins_cover_zero_to_one_and_clamp() -> None:
    assert bin_of(0.0) == 0 and bin_of(-1.0) == 0
    assert bin_of(1.0) == BINS - 1 and bin_of(7.0) == BINS - 1
    assert bin_of(0.01) == 1  # a bound opens its bin
    assert bin_of(0.0099) == 0


def test_score_distribution_shares_and_alert_rate() -> None:
    dist = score_distribution([0.0, 0.005, 0.5, 0.95], alert_threshold=0.5)
    assert dist["edges"] == list(SCORE_EDGES)
    assert dist["rows"] == 4 and dist["alert_rate"] == 0.5
    assert math.isclose(sum(dist["shares"]), 1.0)
    assert dist["shares"][0] == 0.5


def test_psi_zero_for_same_and_large_for_different() -> None:
    same = [0.5, 0.3, 0.2]
    assert psi(same, same) == 0.0
    assert psi(same, [0.2, 0.3, 0.5]) > 0.25


def test_reference_prefers_the_cascade_and_falls_back_to_thresholds() -> None:
    lm = score_distribution([0.1, 0.2], 0.5)
    cascade = score_distribution([0.9, 0.95], 0.5)
    card = {
        "metrics": {
            "validation": {"score_distribution": lm},
            "cascade": {"score_distribution": cascade},
        }
    }
    ref = Reference.from_card(card)
    assert ref is not None and ref.source == "metrics.cascade" and ref.alert_rate == 1.0
    only_thresholds = Reference.from_card({"thresholds": {"alerts_per_1000": 12.0}})
    assert only_thresholds == Reference(None, 0.012, "thresholds.alerts_per_1000")
    assert Reference.from_card({}) is None and Reference.from_card(None) is None
    # a card written with other bins is not compared bin by bin
    other = {**lm, "edges": [0.0, 0.5, 1.0], "shares": [1.0, 0.0]}
    assert Reference.from_card({"metrics": {"validation": {"score_distribution": other}}}) is None


def make_watch(**kw: object) -> DriftWatch:
    ref_dist = score_distribution(validation_scores(20_000), alert_threshold=0.5)
    ref = Reference(tuple(ref_dist["shares"]), ref_dist["alert_rate"], "test")
    return DriftWatch(ref, window=2000, psi_bound=0.25, alert_rate_factor=2.0, **kw)  # type: ignore[arg-type]


def test_same_population_stays_within_bounds() -> None:
    watch = make_watch()
    for s in validation_scores(5000, seed=1):
        watch.observe(s, s >= 0.5)
    status = watch.status()
    assert status.ready and status.samples == 2000  # the window slides
    assert not status.drifting, status.message
    assert status.psi is not None and status.psi < 0.1
    assert status.message.startswith("within bounds")


def test_shifted_scores_warn_on_distribution_and_alert_rate() -> None:
    watch = make_watch()
    rng = random.Random(2)
    for _ in range(2000):
        s = min(1.0, rng.betavariate(0.6, 12) + 0.45)  # every score pushed up
        watch.observe(s, s >= 0.5)
    status = watch.status()
    assert status.score_drift and status.alert_rate_drift and status.drifting
    assert status.message.startswith("DRIFT:") and "PSI" in status.message
    assert status.as_dict()["drifting"] is True


def test_alert_rate_too_low_also_warns() -> None:
    watch = make_watch()
    for s in validation_scores(2000, seed=3):
        watch.observe(min(s, 0.49), False)  # the same scores, but nothing alerts any more
    status = watch.status()
    assert status.alert_rate == 0.0 and status.alert_rate_drift


def test_nothing_judged_before_enough_scores() -> None:
    watch = make_watch()
    for _ in range(999):
        watch.observe(0.99, True)  # wildly off, but too few to say so
    status = watch.status()
    assert not status.ready and not status.drifting
    assert "collecting scores" in status.message
    watch.observe(0.99, True)
    assert watch.status().drifting


def test_no_reference_never_warns_and_says_why() -> None:
    watch = DriftWatch(None, window=10, min_samples=1)
    for _ in range(20):
        watch.observe(0.99, True)
    status = watch.status()
    assert not status.drifting and "model card" in status.message


@pytest.mark.parametrize("kw", [{"window": 0}, {"psi_bound": 0.0}, {"alert_rate_factor": 1.0}])
def test_bad_bounds_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DriftWatch(None, **kw)  # type: ignore[arg-type]
