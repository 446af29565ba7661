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
