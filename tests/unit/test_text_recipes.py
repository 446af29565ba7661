"""`fraudstream evaluate-text`: recipe parsing, the held-out memos, the figures, repeatability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from fraudstream.model.text_recipes import Recipe, compare, heldout_memos, text_figures
from fraudstream.synth import SynthConfig, generate
from fraudstream.synth.memos import families


def test_recipe_parse_and_errors_that_say_the_fix() -> None:
    assert Recipe.parse("6:4:1e-4") == Recipe(6, 4, 1e-4)
    assert Recipe.parse(" 0:8:0.001 ").label() == "0:8:0.001"
    for bad in ("6:4", "six:4:1e-4", "7:4:1e-4", "3:0:1e-4", "3:4:0", "3:4:1e-4:9"):
        with pytest.raises(ValueError, match="TOP"):
            Recipe.parse(bad)


def test_heldout_memos_are_balanced_repeatable_and_of_heldout_wording() -> None:
    texts, labels, langs = heldout_memos(200, seed=3)
    assert len(texts) == labels.size == langs.size == 400
    assert labels.sum() == 200
    assert heldout_memos(200, seed=3)[0] == texts
    assert heldout_memos(200, seed=4)[0] != texts
    assert {"en"} < set(langs.tolist())  # other languages too
    heldout_langs = {f.lang for f in families() if f.split == "heldout"}
    assert set(langs.tolist()) <= heldout_langs


def test_text_figures_separate_a_perfect_and_a_reversed_scorer() -> None:
    labels = np.array([0] * 100 + [1] * 100)
    langs = np.array(["en"] * 200)
    perfect = text_figures(labels.astype(float), labels, langs)
    assert perfect["roc_auc"] == 1.0 and perfect["scam_kept_at_3pct"] == 1.0
    constant = text_figures(np.zeros(200), labels, langs)  # ties are not "above"
    assert constant["roc_auc"] == 0.5 and constant["scam_kept_at_3pct"] == 0.0
    ranked = text_figures(np.arange(200, dtype=float), labels, langs)
    assert ranked["roc_auc"] == 1.0 and ranked["scam_kept_at_3pct"] == 1.0
    reversed_ = text_figures(-np.arange(200, dtype=float), labels, langs)
    assert reversed_["roc_auc"] == 0.0 and reversed_["scam_kept_at_1pct"] == 0.0
    assert ranked["auc_by_language"] == {"en": 1.0}


def test_compare_trains_from_the_pretrained_tower_and_repeats_exactly(tmp_path: Path) -> None:
    data = tmp_path / "records.jsonl"
    with open(data, "wb") as f:
        for record in generate(3000, SynthConfig(seed=5)):
            f.write(orjson.dumps(record) + b"\n")
    recipes = [Recipe(1, 1, 1e-4), Recipe(0, 1, 1e-4)]
    first = compare(data, "native", recipes, [0], memos=60)
    again = compare(data, "native", recipes, [0], memos=60)
    assert [r["recipe"] for r in first["runs"]] == ["1:1:0.0001", "0:1:0.0001"]
    assert first["training_rows"] > 0 and first["distinct_training_narratives"] > 0
    for a, b in zip(first["runs"], again["runs"], strict=True):
        assert 0.0 <= a["roc_auc"] <= 1.0
        assert {k: v for k, v in a.items() if k != "tower_seconds"} == {
            k: v for k, v in b.items() if k != "tower_seconds"
        }
    # tuning a layer and not tuning one are different models: their figures differ
    assert first["runs"][0]["roc_auc"] != first["runs"][1]["roc_auc"]
