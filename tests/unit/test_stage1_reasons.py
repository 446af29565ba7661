"""Stage 1's reasons name the narrative only where its remembered risk moved the score, measured
against the same payment with no narrative risk (an unread or empty memo)."""

from __future__ import annotations

import numpy as np

from fraudstream.cascade import CascadePolicy
from fraudstream.features import FeatureRow
from fraudstream.model.calibration import Calibration
from fraudstream.model.gbdt import GBDTModel, GBDTParams
from fraudstream.model.reasons import NARRATIVE_MIN_WEIGHT
from fraudstream.model.stage1 import NARRATIVE_RISK, Stage1Model
from fraudstream.runtime.loader import Stage1

NAMES = ["amount", "account_count_1d"]


def stage1() -> Stage1:
    """Fraud when the amount is large, or when the narrative's risk is high (half the rows have
    no reading at all)."""
    rng = np.random.default_rng(0)
    n = 4000
    amount = rng.lognormal(4.0, 1.0, n)
    count = rng.integers(1, 6, n).astype(np.float64)
    risk = np.where(rng.random(n) < 0.5, np.nan, rng.normal(-3.0, 3.0, n))
    y = ((amount > 300) | (np.nan_to_num(risk, nan=-9.0) > 2.0)).astype(np.int64)
    gbdt = GBDTModel.fit(
        np.column_stack([amount, count, risk]),
        None,
        y,
        numeric_names=[*NAMES, NARRATIVE_RISK],
        params=GBDTParams(max_rounds=60, refit=False),
    )
    model = Stage1Model(gbdt, Calibration(), CascadePolicy(band=(0.2, 0.8)))
    return Stage1(model, usual={"amount": 50.0, "account_count_1d": 2.0})


def row(amount: float, narrative: str) -> FeatureRow:
    return FeatureRow([amount, 2.0], [], narrative, NAMES, [])


def test_the_memo_is_a_reason_only_where_it_moved_the_score() -> None:
    s1 = stage1()
    rows = [row(40.0, "safe account transfer"), row(900.0, "gift cards"), row(900.0, "rent")]
    # the second memo reads as risky too, but the amount alone already makes the payment certain
    risks: list[float | None] = [6.0, 6.0, None]
    with_risk = s1.score(rows, risks)
    without = s1.score(rows, [None, None, None])

    def logit(p: float) -> float:
        return float(np.log(p / (1 - p)))

    moved = [logit(a) - logit(b) for a, b in zip(with_risk, without, strict=True)]
    assert moved[0] >= NARRATIVE_MIN_WEIGHT  # the memo made this small payment risky
    assert moved[1] < NARRATIVE_MIN_WEIGHT  # the amount did; the memo did not move it
    reasons = s1.reasons(rows, risks)
    codes = [[r.code for r in rs] for rs in reasons]
    assert "narrative" in codes[0]
    assert next(r for r in reasons[0] if r.code == "narrative").text == (
        "narrative 'safe account transfer' read as risky"
    )
    assert "narrative" not in codes[1] and "amount" in codes[1]
    assert "narrative" not in codes[2]  # no reading, no narrative reason
