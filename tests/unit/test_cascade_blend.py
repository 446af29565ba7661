"""The served blend of stage 1 and the language model (`fraudstream/cascade.py::blend`)."""

from __future__ import annotations

import numpy as np

from fraudstream.cascade import CascadePolicy, blend


def test_blend_weight_zero_serves_the_language_model():
    lm = np.array([0.1, 0.9])
    assert blend(np.array([0.5, 0.5]), lm, 0.0).tolist() == lm.tolist()


def test_blend_is_the_weighted_mean_of_the_logits():
    s1, lm = np.array([0.8, 0.2]), np.array([0.2, 0.2])
    out = blend(s1, lm, 0.5)
    assert np.allclose(out, [0.5, 0.2])
    # more weight on stage 1 moves the score towards it
    assert blend(s1, lm, 0.75)[0] > out[0]


def test_policy_keeps_its_blend_only_without_a_text_head():
    doc = CascadePolicy(band=(0.1, 0.9), blend=0.5).to_json()
    assert CascadePolicy.from_json(doc, text_head=False).blend == 0.5
    assert CascadePolicy.from_json(doc, text_head=True).blend == 0.0
    # folders written before the blend existed serve the language model alone
    assert CascadePolicy.from_json({"band": [0.1, 0.9]}, text_head=False).blend == 0.0


class _LM:
    """The parts of a language model (`runtime/lm.py`) that `ModelScoring` reads."""

    process = None
    restarts = 0

    class info:
        version = "stub"
        threshold = 0.5
        has_text = False

        class bands:
            block = 0.9

    def prepare(self, rows, ids):
        return rows

    def predict(self, prepared):
        return np.array([r["lm"] for r in prepared])

    def explain(self, prepared, indices):
        return [[f"reason {i}"] for i in indices]

    def cache_stats(self):
        return None


class _Stage1:
    class model:
        reads_narrative_risk = False

    def score(self, rows, narrative_risk=None):
        return np.array([r["s1"] for r in rows])


def test_model_scoring_serves_and_explains_the_blend():
    from fraudstream.runtime.loader import ModelScoring

    rows = [{"lm": 0.2, "s1": 0.8}, {"lm": 0.9, "s1": 0.9}, {"lm": 0.6, "s1": 0.1}]
    policy = CascadePolicy(band=(0.0, 1.0), blend=0.5)
    scoring = ModelScoring(_LM(), _Stage1(), policy)
    served, reasons, logits = scoring.predict_explain(scoring.prepare(rows, []), 0.5)
    assert np.allclose(served, blend(np.array([0.8, 0.9, 0.1]), np.array([0.2, 0.9, 0.6]), 0.5))
    # the alerting rows are those of the blended score (row 2's network score alone would alert)
    assert sorted(reasons) == [0, 1] and logits is None
    plain = ModelScoring(_LM(), _Stage1(), CascadePolicy(band=(0.0, 1.0)))
    assert plain.predict(plain.prepare(rows, [])).tolist() == [0.2, 0.9, 0.6]
