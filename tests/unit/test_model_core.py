"""Model parts that need no training: scaling, tokenizer, architecture, calibration, thresholds,
reason wording."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from fraudstream.model.calibration import Calibration, fit_isotonic, fit_platt
from fraudstream.model.classifier import FraudClassifier, count_parameters
from fraudstream.model.metrics import expected_calibration_error
from fraudstream.model.preprocess import Preprocessor
from fraudstream.model.presets import PRESETS, ModelConfig, embedding_dim, get_preset
from fraudstream.model.reasons import (
    describe_categorical,
    describe_numeric,
    describe_phrases,
    feature_groups,
    salient_phrases,
)
from fraudstream.model.thresholds import Thresholds, choose_thresholds
from fraudstream.model.tokenizer import encode, learn_wordpiece_vocab, train_wordpiece

# ---- preprocessing ------------------------------------------------------------------------------


def test_robust_scaling_logs_heavy_tails_and_clips() -> None:
    rng = np.random.default_rng(0)
    amount = rng.lognormal(3.0, 1.5, 5000)
    flag = (rng.random(5000) < 0.02).astype(float)
    hour = rng.integers(0, 24, 5000).astype(float)
    x = np.stack([amount, flag, hour], axis=1)
    pre = Preprocessor.fit(
        x, np.zeros((5000, 0), str), numeric_names=["amount", "flag", "hour"], categorical_names=[]
    )
    assert pre.log.tolist() == [True, False, False]
    z = pre.transform_numeric(x)
    assert np.abs(np.median(z, axis=0)).max() < 0.05  # centred on the median
    assert np.abs(z).max() <= pre.clip
    # A rare flag must not explode: IQR is 0, so a wider spread is used.
    assert 0 < z[flag == 1, 1].max() <= 1.0
    odd = pre.transform_numeric(np.array([[np.nan, np.inf, -np.inf], [1e12, 0, 0]], np.float32))
    assert odd[0].tolist() == [0.0, pre.clip, -pre.clip]
    assert odd[1, 0] == pre.clip


def test_category_vocab_min_count_and_unknown_bucket() -> None:
    cats = np.array([["a"]] * 10 + [["b"]] * 6 + [["c"]] * 2, dtype=str)
    pre = Preprocessor.fit(
        np.zeros((18, 0)), cats, numeric_names=[], categorical_names=["k"], min_count=5
    )
    assert pre.vocabs == [{"a": 1, "b": 2}]
    assert pre.cardinalities == [3]
    ids = pre.transform_categorical([["a"], ["b"], ["c"], ["never seen"]])
    assert ids[:, 0].tolist() == [1, 2, 0, 0]


def test_preprocessor_json_round_trip() -> None:
    rng = np.random.default_rng(1)
    x = rng.lognormal(2, 1, (300, 2))
    cats = rng.choice(["x", "y", "z"], (300, 1))
    pre = Preprocessor.fit(x, cats, numeric_names=["a", "b"], categorical_names=["c"])
    back = Preprocessor.from_json(pre.to_json())
    assert np.array_equal(back.transform_numeric(x), pre.transform_numeric(x))
    assert back.vocabs == pre.vocabs


# ---- tokenizer ----------------------------------------------------------------------------------


def test_wordpiece_is_learned_deterministically_and_pads_to_batch_longest() -> None:
    texts = [f"urgent gift card {i} for mum" for i in range(50)] + ["coffee at cafe nero"] * 50
    a = train_wordpiece(texts, vocab_size=200, max_length=12)
    b = train_wordpiece(list(reversed(texts)), vocab_size=200, max_length=12)
    assert a.to_str() == b.to_str()
    assert a.get_vocab_size() <= 200
    ids, mask, _ = encode(a, ["urgent gift card", "coffee"])
    assert ids.shape == mask.shape and ids.shape[0] == 2
    assert mask[1].sum() < mask[0].sum() == ids.shape[1]  # padded to the longest only
    long_ids, _, _ = encode(a, ["word " * 40])
    assert long_ids.shape[1] == 12  # truncated


def test_learned_vocab_merges_frequent_pairs_with_lexicographic_ties() -> None:
    vocab = learn_wordpiece_vocab({"ab": 5, "cd": 5}, vocab_size=100, special_tokens=["[UNK]"])
    merged = [t for t in vocab if t != "[UNK]" and len(t.replace("##", "")) > 1]
    assert merged == ["ab", "cd"]  # equal counts: the smaller pair first


# ---- architecture -------------------------------------------------------------------------------


def _config(text: bool, preset: str = "tiny") -> ModelConfig:
    p = get_preset(preset)
    return ModelConfig(
        preset=preset,
        text=replace(p.text, vocab_size=300, max_length=16) if text else None,
        numeric_names=("amount", "account_count_1h"),
        categorical_names=("mcc",),
        categorical_cardinalities=(4,),
        categorical_dims=(embedding_dim(4),),
        meta_hidden=p.meta_hidden,
        fusion_hidden=p.fusion_hidden,
        dropout=p.dropout,
        tokenizer=p.tokenizer if text else None,
    )


@pytest.mark.parametrize("with_text", [True, False])
def test_forward_shapes_with_and_without_narrative(with_text: bool) -> None:
    torch.manual_seed(0)
    model = FraudClassifier(_config(with_text)).eval()
    assert model.has_text is with_text
    ids = torch.randint(5, 300, (7, 9)) if with_text else None
    mask = torch.ones(7, 9, dtype=torch.long) if with_text else None
    out = model(ids, mask, torch.randn(7, 2), torch.randint(0, 4, (7, 1)))
    assert out.shape == (7,)
    assert torch.isfinite(out).all()


def test_padding_does_not_change_the_score() -> None:
    torch.manual_seed(0)
    model = FraudClassifier(_config(True)).eval()
    ids = torch.tensor([[2, 10, 11, 3]])
    padded = torch.tensor([[2, 10, 11, 3, 0, 0]])
    num, cat = torch.zeros(1, 2), torch.zeros(1, 1, dtype=torch.long)
    with torch.inference_mode():
        a = model(ids, torch.ones_like(ids), num, cat)
        b = model(padded, (padded != 0).long(), num, cat)
    assert torch.allclose(a, b, atol=1e-5)


def test_tiny_preset_has_a_few_hundred_thousand_parameters() -> None:
    p = PRESETS["tiny"]
    config = replace(_config(True), text=replace(p.text, vocab_size=p.tokenizer_vocab_size))
    model = FraudClassifier(config)
    counts = count_parameters(model)
    assert 200_000 < counts["total"] < 900_000
    assert model.text is not None
    embeddings = model.text.bert.embeddings.word_embeddings.weight.numel()
    assert embeddings < 0.5 * counts["total"]  # a small vocabulary: embeddings do not dominate


def test_config_json_round_trip() -> None:
    config = _config(True)
    assert ModelConfig.from_json(config.to_json()) == config
    assert ModelConfig.from_json(_config(False).to_json()) == _config(False)


def test_unknown_preset_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="tiny"):
        get_preset("huge")


# ---- calibration --------------------------------------------------------------------------------


def _miscalibrated(n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits that are 3x too confident and shifted, as pos_weight training leaves them."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-2.5, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    return 3.0 * true_logit + 2.0, y


@pytest.mark.parametrize("fit", [fit_platt, fit_isotonic])
def test_calibration_is_monotone_and_reduces_ece(fit) -> None:  # type: ignore[no-untyped-def]
    logits, y = _miscalibrated()
    cal = fit(logits, y)
    grid = np.linspace(-20, 20, 401)
    assert np.all(np.diff(cal.apply(grid)) >= 0)
    raw = 1 / (1 + np.exp(-logits))
    test_logits, test_y = _miscalibrated(seed=1)
    before = expected_calibration_error(test_y, 1 / (1 + np.exp(-test_logits)))
    after = expected_calibration_error(test_y, cal.apply(test_logits))
    assert after < before / 3
    assert Calibration.from_json(cal.to_json()) == cal
    assert raw.shape == cal.apply(logits).shape


def test_platt_recovers_the_true_scaling() -> None:
    logits, y = _miscalibrated(50000)
    cal = fit_platt(logits, y)
    assert cal.a == pytest.approx(1 / 3, rel=0.05)
    assert cal.b == pytest.approx(-2 / 3, abs=0.1)


# ---- thresholds ---------------------------------------------------------------------------------


def test_threshold_meets_target_precision_with_most_recall() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.05).astype(int)
    p = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
    for target in (0.5, 0.8, 0.95):
        t = choose_thresholds(p, y, target_precision=target)
        alerts = p >= t.alert
        assert y[alerts].mean() >= target
        assert t.met and t.precision == pytest.approx(y[alerts].mean())
        # One step lower (the next score down) would break the target: recall is maximal.
        lower = p[p < t.alert].max()
        assert y[p >= lower].mean() < target
        assert t.block >= t.alert


def test_alert_budget_caps_alerts_per_thousand() -> None:
    rng = np.random.default_rng(4)
    p = rng.random(10000)
    y = (rng.random(10000) < p * 0.1).astype(int)
    t = choose_thresholds(p, y, alert_budget=7.5)
    assert (p >= t.alert).sum() <= 75
    assert t.alerts_per_1000 <= 7.5 and t.policy == "alert_budget"


def test_unreachable_block_precision_means_never_block_and_survives_json() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6])
    y = np.array([0, 1, 0, 1])
    t = choose_thresholds(p, y, target_precision=0.5, block_precision=0.99)
    assert math.isinf(t.block)
    back = Thresholds.from_json(t.to_json())
    assert back == t and math.isinf(back.bands.block)


def test_target_and_budget_are_exclusive() -> None:
    with pytest.raises(ValueError):
        choose_thresholds(np.array([0.5]), np.array([1]), target_precision=0.5, alert_budget=1)


# ---- reason wording -----------------------------------------------------------------------------


def test_groups_join_windows_of_one_statistic() -> None:
    groups = feature_groups(
        ["amount", "account_count_1h", "account_count_1d", "account_new_device"], ["mcc"]
    )
    assert [(g.code, g.numeric, g.categorical) for g in groups] == [
        ("amount", (0,), ()),
        ("account_count", (1, 2), ()),
        ("account_new_device", (3,), ()),
        ("mcc", (), (0,)),
    ]


@pytest.mark.parametrize(
    ("name", "value", "usual", "text"),
    [
        ("account_count_1h", 24, 1, "24 payments on this account in the last hour (usual: 1)"),
        ("account_new_device", 1, 0, "new device"),
        ("account_new_beneficiary", 1, 0, "first payment to this beneficiary"),
        (
            "card_mean_30d",
            12.5,
            40,
            "average payment 12.50 on this card in the last 30 days (usual: 40)",
        ),
        (
            "terminal_delayed_risk_7d",
            0.5,
            0.0,
            "50% of this terminal's labelled payments over 7 days were fraud (usual: 0%)",
        ),
        (
            "account_secs_since_last",
            30,
            86400,
            "30 seconds since the previous payment on this account (usual: 1 day)",
        ),
        ("is_night", 1, 0, "at night"),
        (
            "card_amount_ratio_30d",
            5.04,
            1,
            "amount 5.0x this card's average payment over the last 30 days (usual: 1.0x)",
        ),
        (
            "card_max_amount_ratio_14d",
            2,
            0.9,
            "amount 2.0x this card's largest payment over the last 14 days (usual: 0.9x)",
        ),
        ("terminal_fraud_streak", 4, 0, "this terminal's last 4 labels were all fraud"),
        (
            "terminal_streak_age_s",
            3 * 86400,
            0,
            "this terminal's run of fraud labels began 3 days ago",
        ),
    ],
)
def test_numeric_reasons_read_as_words(name: str, value: float, usual: float, text: str) -> None:
    assert describe_numeric(name, value, usual) == text


def test_categorical_reasons_read_as_words() -> None:
    assert (
        describe_categorical("declared_new_beneficiary", "true", True)
        == "declared a new beneficiary"
    )
    assert describe_categorical("mcc", "6051", False) == (
        "merchant category: quasi-cash (crypto, money orders) (6051) (rarely seen)"
    )


def test_salient_phrases_join_adjacent_words_and_skip_stop_words() -> None:
    text = "please buy the gift card now"
    spans = [(0, 6), (7, 10), (11, 14), (15, 19), (20, 24), (25, 28)]
    scores = np.array([0.1, 0.2, 5.0, 1.0, 0.9, 0.05])
    assert salient_phrases(text, spans, scores) == ["gift card"]


def test_filler_words_are_never_quoted_alone() -> None:
    # "as discussed": the attention lands on "as", which names nothing; the phrase is "discussed"
    text = "as discussed"
    assert salient_phrases(text, [(0, 2), (3, 12)], np.array([3.0, 1.0])) == ["discussed"]
    assert salient_phrases("as per", [(0, 2), (3, 6)], np.array([3.0, 1.0])) == []


def test_an_empty_memo_is_named_as_such() -> None:
    assert describe_phrases([], "") == "no narrative (empty memo)"
    assert describe_phrases([], "  ") == "no narrative (empty memo)"
    assert describe_phrases([], "goods") == "narrative 'goods'"
    assert describe_phrases(["gift card"], "gift card x2") == "narrative mentions 'gift card'"
