"""The online latency model: learns a linear cost, shrugs off outliers, stays monotone."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.batching import LatencyModel, LatencyPrior

TRUE = (0.003, 0.0002, 3e-6)  # seconds per call, per sequence, per padded token
SHAPES_N = (1, 4, 16, 32, 64, 128)
SHAPES_L = (8, 16, 32, 64, 128)


def true_time(size: int, padded_len: int, scale: float = 1.0) -> float:
    a, b, c = TRUE
    return scale * (a + b * size + c * size * padded_len)


def feed(
    model: LatencyModel, rng: random.Random, count: int, *, noise: float = 0.05, scale: float = 1.0
) -> None:
    for _ in range(count):
        n, length = rng.choice(SHAPES_N), rng.choice(SHAPES_L)
        model.observe(n, length, true_time(n, length, scale) * max(0.0, 1.0 + rng.gauss(0, noise)))


def test_prior_before_any_observation() -> None:
    prior = LatencyPrior(base=0.001, per_item=0.0001, per_token=1e-6, spread=0.1)
    model = LatencyModel(prior, k=3.0)
    assert model.coefficients == (0.001, 0.0001, 1e-6)
    assert model.fit(10, 20) == pytest.approx(0.001 + 10 * 0.0001 + 200 * 1e-6)
    assert model.estimate(10, 20) == pytest.approx(model.fit(10, 20) * 1.3)
    assert model.observations == 0


def test_converges_to_a_known_linear_cost_from_noisy_samples() -> None:
    model = LatencyModel(LatencyPrior(base=0.01, per_item=0.0, per_token=1e-5))  # 3x off
    feed(model, random.Random(1), 600)
    a, b, c = model.coefficients
    assert a == pytest.approx(TRUE[0], rel=0.25)
    assert b == pytest.approx(TRUE[1], rel=0.15)
    assert c == pytest.approx(TRUE[2], rel=0.1)
    for n in SHAPES_N:
        for length in SHAPES_L:
            assert model.fit(n, length) == pytest.approx(true_time(n, length), rel=0.08)
    assert 0.02 < model.spread < 0.08  # 5 % Gaussian noise: mean absolute deviation ~ 4 %


def test_estimate_covers_a_high_quantile() -> None:
    rng = random.Random(2)
    model = LatencyModel(LatencyPrior())
    feed(model, rng, 400)
    within = 0
    trials = 4000
    for _ in range(trials):
        n, length = rng.choice(SHAPES_N), rng.choice(SHAPES_L)
        within += true_time(n, length) * (1.0 + rng.gauss(0, 0.05)) <= model.estimate(n, length)
    assert within / trials >= 0.98
    # ...without being absurdly pessimistic.
    assert model.estimate(32, 64) < 1.4 * true_time(32, 64)


def test_one_gc_pause_does_not_wreck_it() -> None:
    rng = random.Random(3)
    model = LatencyModel(LatencyPrior())
    feed(model, rng, 300)
    before = {(n, ln): model.estimate(n, ln) for n in SHAPES_N for ln in SHAPES_L}
    model.observe(32, 64, 2.0)  # a 2-second pause on a ~15 ms batch
    for (n, ln), est in before.items():
        assert model.estimate(n, ln) == pytest.approx(est, rel=0.1)
    feed(model, rng, 20)
    assert model.fit(32, 64) == pytest.approx(true_time(32, 64), rel=0.08)


def test_a_slow_first_batch_does_not_wreck_it() -> None:
    # The first call often pays for warm-up (CUDA context, kernel compilation).
    model = LatencyModel(LatencyPrior(base=0.003, per_item=0.0002, per_token=3e-6))
    model.observe(32, 64, 5.0)
    assert model.fit(32, 64) < 3 * true_time(32, 64)
    feed(model, random.Random(4), 50)
    assert model.fit(32, 64) == pytest.approx(true_time(32, 64), rel=0.1)


def test_follows_a_machine_that_got_slower() -> None:
    rng = random.Random(5)
    model = LatencyModel(LatencyPrior())
    feed(model, rng, 300)
    feed(model, rng, 15, scale=2.0)
    # Within a few batches the conservative estimate covers the new speed again...
    assert model.estimate(32, 64) >= true_time(32, 64, 2.0)
    feed(model, rng, 200, scale=2.0)
    # ...and the fit settles on it.
    assert model.fit(32, 64) == pytest.approx(true_time(32, 64, 2.0), rel=0.05)


def test_learns_from_a_prior_far_too_optimistic() -> None:
    model = LatencyModel(LatencyPrior(base=0.0003, per_item=0.0, per_token=3e-7))  # 10x low
    feed(model, random.Random(6), 20)
    assert model.estimate(32, 64) >= true_time(32, 64)
    feed(model, random.Random(7), 100)
    assert model.fit(32, 64) == pytest.approx(true_time(32, 64), rel=0.05)


def test_one_shape_only_keeps_other_shapes_near_the_prior() -> None:
    prior = LatencyPrior(*TRUE)
    model = LatencyModel(prior)
    rng = random.Random(8)
    for _ in range(2000):
        model.observe(32, 64, true_time(32, 64) * (1.0 + rng.gauss(0, 0.05)))
    # No wind-up: shapes never seen are still about right.
    assert model.fit(1, 8) == pytest.approx(true_time(1, 8), rel=0.3)
    assert model.fit(128, 128) == pytest.approx(true_time(128, 128), rel=0.3)


def test_deterministic() -> None:
    one, two = LatencyModel(), LatencyModel()
    feed(one, random.Random(9), 200)
    feed(two, random.Random(9), 200)
    assert one.coefficients == two.coefficients and one.spread == two.spread


@settings(max_examples=40, deadline=None)
@given(
    samples=st.lists(
        st.tuples(st.integers(1, 256), st.integers(1, 512), st.floats(0.0, 5.0)), max_size=60
    ),
    probes=st.lists(st.tuples(st.integers(1, 256), st.integers(1, 512)), min_size=1, max_size=10),
)
def test_estimate_is_positive_and_monotone_in_size_and_length_whatever_it_saw(
    samples: list[tuple[int, int, float]], probes: list[tuple[int, int]]
) -> None:
    model = LatencyModel()
    for n, length, seconds in samples:
        model.observe(n, length, seconds)
    assert all(c >= 0.0 for c in model.coefficients)
    for n, length in probes:
        est = model.estimate(n, length)
        assert est > 0.0
        assert model.estimate(n + 1, length) >= est
        assert model.estimate(n, length + 1) >= est
        assert est >= model.fit(n, length)


@pytest.mark.parametrize("bad", [(0, 8, 0.01), (1, 0, 0.01), (1, 8, -1.0), (1, 8, float("nan"))])
def test_rejects_bad_observations(bad: tuple[int, int, float]) -> None:
    with pytest.raises(ValueError):
        LatencyModel().observe(*bad)


@pytest.mark.parametrize(
    "kwargs",
    [{"base": -1.0}, {"base": 0.0, "per_item": 0.0, "per_token": 0.0}, {"spread": float("inf")}],
)
def test_rejects_bad_priors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LatencyPrior(**kwargs)
