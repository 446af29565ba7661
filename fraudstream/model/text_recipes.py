"""Which CPU recipe for the text tower reads unseen wording best: `fraudstream evaluate-text`.

Theory of operation
-------------------
The CPU recipe (`model/text_training.py`) fine-tunes MiniLM's top layers and a text head on the
distinct narratives of the training rows. How many layers, how many epochs and at what rate
decide how well the tower reads wording it has never seen, which is what the language model is
for. This measures that, for the text head alone (no metadata, no fusion, no cascade):

1. **Training**, as `fraudstream train` does it: the records file through the mapping and the
   stream's state (`read_table`), the same time split (`choose_split`), the distinct normalised
   narratives of the training rows weighted by their fraud and legitimate counts.
2. **Held-out memos**: `memos` benign and `memos` scam memos of the *held-out* families
   (`synth/memos.py`), written by the generator's `MemoWriter` for payers two-thirds in GB and
   the rest spread over the other countries (the probe instead takes each payment's own country).
3. **Figures** per recipe and seed: the ROC AUC of the text logit (scam over benign), the share
   of scam memos above the 97th and the 99th percentile of the benign ones (what is caught at a
   3% / 1% false-alert rate on memos alone), the AUC by language, and the tower's training time.

Each run starts from the pretrained weights; seeds make runs repeat exactly (torch's
deterministic algorithms, one thread by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

COUNTRY_MIX = ("GB",) * 6 + ("DE", "FR", "ES", "IT", "NL", "PL", "PT", "IE", "US")


@dataclass(frozen=True)
class Recipe:
    top_layers: int
    """Layers tuned, counted from the top; 0: the head alone on the frozen tower."""
    epochs: int
    learning_rate: float
    """The tower's rate (the head's stays at `TextTrainOptions.head_learning_rate`)."""

    @classmethod
    def parse(cls, text: str) -> Recipe:
        """`TOP:EPOCHS:RATE`, e.g. `6:4:1e-4`."""
        parts = text.strip().split(":")
        try:
            top, epochs, rate = int(parts[0]), int(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise ValueError(
                f"recipe {text!r}: give TOP:EPOCHS:RATE, e.g. 6:4:1e-4 (all six layers, "
                "four epochs, rate 1e-4)"
            ) from None
        if len(parts) != 3 or not 0 <= top <= 6 or epochs < 1 or not rate > 0:
            raise ValueError(f"recipe {text!r}: TOP in 0..6, EPOCHS >= 1, RATE > 0 (e.g. 6:4:1e-4)")
        return cls(top, epochs, rate)

    def label(self) -> str:
        return f"{self.top_layers}:{self.epochs}:{self.learning_rate:g}"


def heldout_memos(count: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """`count` benign and `count` scam memos of the held-out families, normalised as the model
    reads them: (texts, labels, languages)."""
    from fraudstream.synth import MemoWriter
    from fraudstream.text import model_text

    writer = MemoWriter(seed)
    rng = np.random.default_rng([seed, 31])
    texts: list[str] = []
    labels: list[int] = []
    langs: list[str] = []
    for _ in range(count):
        country = COUNTRY_MIX[int(rng.integers(len(COUNTRY_MIX)))]
        for label in (0, 1):
            text, family = writer.memo(label, country, "heldout")
            texts.append(model_text(text))
            labels.append(label)
            langs.append(family.lang)
    return texts, np.array(labels, dtype=np.int64), np.array(langs)


def text_figures(logits: np.ndarray, labels: np.ndarray, langs: np.ndarray) -> dict[str, Any]:
    """ROC AUC, scam memos kept at 3% / 1% benign false alerts, AUC by language."""
    from fraudstream.model.metrics import roc_auc

    benign, scam = logits[labels == 0], logits[labels == 1]

    def kept(false_alerts: float) -> float:
        return round(float(np.mean(scam > np.quantile(benign, 1.0 - false_alerts))), 4)

    by_lang = {}
    for lang in sorted(set(langs.tolist())):
        sel = langs == lang
        if len(set(labels[sel].tolist())) == 2:
            by_lang[lang] = round(float(roc_auc(labels[sel], logits[sel])), 4)
    return {
        "roc_auc": round(float(roc_auc(labels, logits)), 4),
        "scam_kept_at_3pct": kept(0.03),
        "scam_kept_at_1pct": kept(0.01),
        "auc_by_language": by_lang,
    }


def compare(
    data: str | Path,
    mapping: str,
    recipes: Sequence[Recipe],
    seeds: Sequence[int],
    *,
    memos: int = 3000,
    memo_seed: int = 77,
    threads: int = 1,
    max_rows: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The report of `fraudstream evaluate-text` (see the module docstring)."""
    import torch

    from fraudstream.model.classifier import FraudClassifier, load_minilm_weights, set_threads
    from fraudstream.model.preprocess import Preprocessor
    from fraudstream.model.presets import get_preset
    from fraudstream.model.text_training import (
        Narratives,
        TextTrainOptions,
        lower_states,
        top_vectors,
        train_top_layers,
    )
    from fraudstream.model.train import TrainOptions
    from fraudstream.model.train_data import choose_split, read_table
    from fraudstream.model.train_setup import deterministic, make_tokenizer, model_config
    from fraudstream.text import model_text

    say = log or (lambda _msg: None)
    set_threads(threads)
    table, _spec, _info = read_table(data, mapping, max_rows=max_rows, log=say)
    split = choose_split(table)
    texts = [model_text(n) for n in table.narratives]
    preset = get_preset("minilm")
    tokenizer = make_tokenizer(preset, [texts[i] for i in split.train], TrainOptions())
    preprocessor = Preprocessor.fit(
        table.numeric[split.train],
        table.categorical[split.train],
        numeric_names=table.numeric_names,
        categorical_names=table.categorical_names,
    )
    config = model_config(preset, preprocessor, tokenizer)
    narratives = Narratives.of(texts)
    pos, neg = narratives.counts(split.train, table.labels)
    eval_texts, eval_labels, eval_langs = heldout_memos(memos, memo_seed)
    rows = []
    for recipe in recipes:
        for seed in seeds:
            torch.manual_seed(seed)
            module = FraudClassifier(config)
            load_minilm_weights(module)
            options = TextTrainOptions(
                top_layers=recipe.top_layers,
                epochs=recipe.epochs,
                learning_rate=recipe.learning_rate,
                seed=seed,
            )
            t0 = time.perf_counter()
            with deterministic(torch.device("cpu")):
                train_top_layers(module, tokenizer, narratives, pos, neg, options, log=say)
            seconds = time.perf_counter() - t0
            assert module.text is not None
            frozen = len(module.text.bert.encoder.layer) - recipe.top_layers
            states = lower_states(module, tokenizer, eval_texts, frozen)
            _vec, logits = top_vectors(module, states, frozen, np.arange(len(eval_texts)))
            row = {
                "recipe": recipe.label(),
                "seed": seed,
                **text_figures(logits.numpy().astype(np.float64), eval_labels, eval_langs),
                "tower_seconds": round(seconds, 1),
            }
            say(
                f"recipe {row['recipe']} seed {seed}: ROC AUC {row['roc_auc']:.4f}, scam kept "
                f"{row['scam_kept_at_3pct']:.1%} at 3% / {row['scam_kept_at_1pct']:.1%} at 1% "
                f"({seconds:.0f}s)"
            )
            rows.append(row)
    return {
        "data": str(data),
        "training_rows": int(split.train.size),
        "distinct_training_narratives": int(np.count_nonzero(pos + neg)),
        "heldout_memos": {"benign": memos, "scam": memos, "seed": memo_seed},
        "threads": threads,
        "runs": rows,
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"text head alone, trained on {report['distinct_training_narratives']:,} distinct "
        f"narratives of {report['training_rows']:,} training rows; scored on "
        f"{report['heldout_memos']['benign']:,} benign and {report['heldout_memos']['scam']:,} "
        "scam memos of the held-out families",
        f"{'recipe (top:epochs:rate)':26} {'seed':>4} {'ROC AUC':>8} {'kept@3%':>8} "
        f"{'kept@1%':>8} {'tower s':>8}",
    ]
    for r in report["runs"]:
        lines.append(
            f"{r['recipe']:26} {r['seed']:>4} {r['roc_auc']:>8.4f} {r['scam_kept_at_3pct']:>8.1%} "
            f"{r['scam_kept_at_1pct']:>8.1%} {r['tower_seconds']:>8.1f}"
        )
    return "\n".join(lines)
