"""Gradient-boosted trees (LightGBM) on the metadata and per-entity state features.

Two roles: the `--baseline gbdt` of `fraudstream evaluate` (trained and scored in the same run as
the model it is compared with), and the stage-1 scorer of the cascade, which scores every
transaction before the language model sees the uncertain ones.

- Input: the `FeatureTable` matrices, `numeric [N, F]` floats and `categorical [N, C]` strings.
  Categoricals become integer codes learned on the training rows: 1..K for the K most frequent
  values seen at least `min_category_count` times, 0 for everything else (unseen, rare, empty).
  No pandas.
- Deterministic for a seed: `deterministic=True`, row-wise histograms, seeds for every random
  choice LightGBM makes, a fixed thread count (`num_threads`, default 1: the same result on any
  machine and no fight over the cores with the stream).
- Early stopping on average precision over a validation split (by time: the caller passes it);
  with `refit=True` the model is then retrained on train + validation for the number of rounds
  that early stopping found, so the latest days (the most relevant ones) are learned from too.
- Saved as text, never pickled: `gbdt.txt` (LightGBM's own model format) and `gbdt.json` (feature
  names, category vocabularies, parameters, training summary).

Cost on the hot path: LightGBM's per-call overhead is small (~30 µs); the cost is per row and per
tree, about 10 µs per row for 300 trees of 31 leaves on one core at batch 256, so keep
`max_rounds` modest for the stage-1 role (`bench_predict` measures it).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import lightgbm as lgb
import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from fraudstream.features.dataset import FeatureTable

FORMAT_VERSION: Final = 1
MODEL_FILE: Final = "gbdt.txt"
META_FILE: Final = "gbdt.json"

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GBDTParams:
    num_leaves: int = 31
    learning_rate: float = 0.05
    max_rounds: int = 1000
    early_stopping_rounds: int = 100
    min_child_samples: int = 50
    feature_fraction: float = 0.9
    bagging_fraction: float = 1.0
    lambda_l2: float = 1.0
    max_bin: int = 255
    scale_pos_weight: float = 1.0
    """>1 weighs frauds up; it helps recall-oriented ranking but spoils calibration."""
    max_categories: int = 255
    min_category_count: int = 10
    refit: bool = True
    seed: int = 0
    num_threads: int = 1

    def lightgbm(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "average_precision",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1.0 else 0,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "scale_pos_weight": self.scale_pos_weight,
            "max_cat_to_onehot": 8,
            "seed": self.seed,
            "bagging_seed": self.seed + 1,
            "feature_fraction_seed": self.seed + 2,
            "data_random_seed": self.seed + 3,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GBDTParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class CategoryCodes:
    """Per-column vocabularies: value -> code 1..K; 0 is the unknown bucket."""

    def __init__(self, vocabularies: Sequence[Sequence[str]]) -> None:
        self.vocabularies = [list(v) for v in vocabularies]
        self._index = [{v: i + 1 for i, v in enumerate(vocab)} for vocab in self.vocabularies]

    @classmethod
    def fit(cls, categorical: ArrayLike, *, max_categories: int, min_count: int) -> CategoryCodes:
        cat = _as_categorical(categorical)
        vocabs: list[list[str]] = []
        for j in range(cat.shape[1]):
            counts = Counter(str(v) for v in cat[:, j])
            counts.pop("", None)
            ranked = sorted(
                (v for v, c in counts.items() if c >= min_count), key=lambda v: (-counts[v], v)
            )
            vocabs.append(ranked[:max_categories])
        return cls(vocabs)

    def transform(self, categorical: ArrayLike) -> FloatArray:
        cat = _as_categorical(categorical)
        if cat.shape[1] != len(self._index):
            raise ValueError(f"expected {len(self._index)} categorical columns, got {cat.shape[1]}")
        out = np.zeros(cat.shape, dtype=np.float64)
        for j, index in enumerate(self._index):
            if index:
                out[:, j] = [index.get(str(v), 0) for v in cat[:, j]]
        return out


def _as_categorical(categorical: ArrayLike) -> NDArray[Any]:
    cat = np.asarray(categorical, dtype=object)
    if cat.ndim != 2:
        raise ValueError(f"categorical must be 2-D [N, C], got shape {cat.shape}")
    return cat


def _safe_name(name: str) -> str:
    # LightGBM refuses JSON special characters in feature names.
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)


@dataclass
class GBDTModel:
    booster: lgb.Booster
    numeric_names: list[str]
    categorical_names: list[str]
    codes: CategoryCodes
    params: GBDTParams
    info: dict[str, Any] = field(default_factory=dict)

    # -- training --

    @classmethod
    def fit(
        cls,
        numeric: ArrayLike,
        categorical: ArrayLike | None,
        labels: ArrayLike,
        *,
        valid: tuple[ArrayLike, ArrayLike | None, ArrayLike] | None = None,
        numeric_names: Sequence[str] | None = None,
        categorical_names: Sequence[str] | None = None,
        params: GBDTParams | None = None,
    ) -> GBDTModel:
        """Train on rows with a known label (0/1); rows labelled -1 (unknown) are dropped.

        With `valid`, boosting stops once validation AP has not improved for
        `early_stopping_rounds`; without it, `max_rounds` rounds are trained.
        """
        p = params or GBDTParams()
        num = np.asarray(numeric, dtype=np.float64)
        n, f = num.shape
        cat = _as_categorical(
            np.empty((n, 0), dtype=object) if categorical is None else categorical
        )
        y = np.asarray(labels).astype(np.int64)
        if y.shape != (n,) or cat.shape[0] != n:
            raise ValueError("numeric, categorical and labels must have the same number of rows")
        num_names = list(numeric_names or [f"num_{i}" for i in range(f)])
        cat_names = list(categorical_names or [f"cat_{j}" for j in range(cat.shape[1])])
        if len(num_names) != f or len(cat_names) != cat.shape[1]:
            raise ValueError("feature names do not match the matrices' widths")

        known = y >= 0
        codes = CategoryCodes.fit(
            cat[known], max_categories=p.max_categories, min_count=p.min_category_count
        )
        x_train = _design_matrix(num[known], cat[known], len(num_names), codes)
        y_train = y[known]
        names = [_safe_name(x) for x in [*num_names, *cat_names]]
        cat_idx = list(range(f, f + cat.shape[1]))
        lgb_params = p.lightgbm()

        def dataset(
            x: FloatArray, target: NDArray[np.int64], ref: lgb.Dataset | None = None
        ) -> lgb.Dataset:
            return lgb.Dataset(
                x,
                label=target,
                feature_name=names,
                categorical_feature=cat_idx,
                reference=ref,
                params={"max_bin": p.max_bin, "verbosity": -1},
                free_raw_data=True,
            )

        started = time.perf_counter()
        info: dict[str, Any] = {
            "train_rows": int(y_train.size),
            "train_frauds": int(y_train.sum()),
        }
        if valid is not None:
            v_num = np.asarray(valid[0], dtype=np.float64)
            v_cat = _as_categorical(
                np.empty((v_num.shape[0], 0), dtype=object) if valid[1] is None else valid[1]
            )
            v_y = np.asarray(valid[2]).astype(np.int64)
            v_known = v_y >= 0
            x_valid = _design_matrix(v_num[v_known], v_cat[v_known], len(num_names), codes)
            y_valid = v_y[v_known]
            train_set = dataset(x_train, y_train)
            valid_set = dataset(x_valid, y_valid, ref=train_set)
            record: dict[str, Any] = {}
            booster = lgb.train(
                lgb_params,
                train_set,
                num_boost_round=p.max_rounds,
                valid_sets=[valid_set],
                valid_names=["validation"],
                callbacks=[
                    lgb.early_stopping(p.early_stopping_rounds, verbose=False),
                    lgb.record_evaluation(record),
                ],
            )
            best = max(int(booster.best_iteration), 1)
            info.update(
                {
                    "validation_rows": int(y_valid.size),
                    "validation_frauds": int(y_valid.sum()),
                    "best_iteration": best,
                    "validation_ap": float(record["validation"]["average_precision"][best - 1]),
                }
            )
            if p.refit:
                # Retrain on everything for the chosen number of rounds (scaled for the extra
                # rows is not worth its variance here: the round count is kept as is).
                full_x = np.vstack([x_train, x_valid])
                full_y = np.concatenate([y_train, y_valid])
                booster = lgb.train(lgb_params, dataset(full_x, full_y), num_boost_round=best)
                info["refit_rows"] = int(full_y.size)
            else:
                booster = _truncate(booster, best)
        else:
            booster = lgb.train(lgb_params, dataset(x_train, y_train), num_boost_round=p.max_rounds)
        info["rounds"] = int(booster.num_trees())
        info["train_seconds"] = round(time.perf_counter() - started, 3)
        return cls(
            booster=booster,
            numeric_names=num_names,
            categorical_names=cat_names,
            codes=codes,
            params=p,
            info=info,
        )

    # -- scoring --

    @classmethod
    def fit_table(
        cls, table: FeatureTable, train: NDArray[Any], valid: NDArray[Any], params: GBDTParams
    ) -> GBDTModel:
        """`fit` on a feature table's own columns: train on rows `train`, early-stop on `valid`
        (the evaluation's baseline and the distillation teacher's folds)."""
        return cls.fit(
            table.numeric[train],
            table.categorical[train],
            table.labels[train],
            valid=(table.numeric[valid], table.categorical[valid], table.labels[valid]),
            numeric_names=table.numeric_names,
            categorical_names=table.categorical_names,
            params=params,
        )

    def predict_proba(self, numeric: ArrayLike, categorical: ArrayLike | None = None) -> FloatArray:
        """Probability of fraud for each row."""
        x = _design_matrix(numeric, categorical, len(self.numeric_names), self.codes)
        if x.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        out = self.booster.predict(x, num_threads=self.params.num_threads)
        return np.asarray(out, dtype=np.float64)

    @property
    def feature_names(self) -> list[str]:
        return [*self.numeric_names, *self.categorical_names]

    def contributions(self, numeric: ArrayLike, categorical: ArrayLike | None = None) -> FloatArray:
        """Per-row, per-feature SHAP contributions to the raw score (LightGBM's pred_contrib),
        [N, features]; the bias column is dropped. Costs a few times `predict_proba`: alerts only."""
        x = _design_matrix(numeric, categorical, len(self.numeric_names), self.codes)
        if x.shape[0] == 0:
            return np.zeros((0, len(self.feature_names)), dtype=np.float64)
        out = self.booster.predict(x, pred_contrib=True, num_threads=self.params.num_threads)
        return np.asarray(out, dtype=np.float64)[:, :-1]

    def feature_importance(self) -> dict[str, float]:
        """Total gain of each feature, largest first."""
        gains = self.booster.feature_importance(importance_type="gain")
        names = [*self.numeric_names, *self.categorical_names]
        pairs = sorted(zip(names, gains.tolist(), strict=True), key=lambda kv: -kv[1])
        return {k: float(v) for k, v in pairs}

    # -- persistence (text only) --

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / MODEL_FILE).write_text(self.booster.model_to_string(), encoding="utf-8")
        meta = {
            "format": "fraudstream-gbdt",
            "format_version": FORMAT_VERSION,
            "lightgbm_version": lgb.__version__,
            "numeric_names": self.numeric_names,
            "categorical_names": self.categorical_names,
            "categories": self.codes.vocabularies,
            "params": asdict(self.params),
            # The folder's version hashes this file: keep the timing out, so that the same data
            # and seed give the same version (the model card has the timings).
            "info": {k: v for k, v in self.info.items() if k != "train_seconds"},
        }
        (d / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> GBDTModel:
        d = Path(directory)
        for name in (MODEL_FILE, META_FILE):
            if not (d / name).is_file():
                raise FileNotFoundError(f"{d}: missing {name}; not a saved GBDT model folder")
        meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != "fraudstream-gbdt" or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{d / META_FILE}: format {meta.get('format')!r} v{meta.get('format_version')!r} "
                f"is not fraudstream-gbdt v{FORMAT_VERSION}"
            )
        booster = lgb.Booster(model_str=(d / MODEL_FILE).read_text(encoding="utf-8"))
        return cls(
            booster=booster,
            numeric_names=list(meta["numeric_names"]),
            categorical_names=list(meta["categorical_names"]),
            codes=CategoryCodes(meta["categories"]),
            params=GBDTParams.from_dict(meta["params"]),
            info=dict(meta.get("info", {})),
        )


def _design_matrix(
    numeric: ArrayLike, categorical: ArrayLike | None, n_numeric: int, codes: CategoryCodes
) -> FloatArray:
    """[numeric | category codes] as one float64 matrix, LightGBM's input."""
    num = np.asarray(numeric, dtype=np.float64)
    if num.ndim != 2 or num.shape[1] != n_numeric:
        raise ValueError(f"expected numeric [N, {n_numeric}], got shape {num.shape}")
    n_cat = len(codes.vocabularies)
    if n_cat == 0:
        return num
    if categorical is None:
        raise ValueError(f"expected categorical [N, {n_cat}]")
    return np.hstack([num, codes.transform(categorical)])


def _truncate(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    """A booster that holds only its first `rounds` trees (so that saving keeps just those)."""
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))


def bench_predict(
    model: GBDTModel,
    numeric: ArrayLike,
    categorical: ArrayLike | None = None,
    *,
    batch_size: int = 256,
    min_seconds: float = 1.0,
) -> dict[str, float]:
    """Median wall time per call and per row of `predict_proba` at one batch size (one thread)."""
    num = np.asarray(numeric, dtype=np.float64)[:batch_size]
    cat = None if categorical is None else np.asarray(categorical, dtype=object)[:batch_size]
    n = num.shape[0]
    for _ in range(5):
        model.predict_proba(num, cat)
    times: list[float] = []
    deadline = time.perf_counter() + min_seconds
    while time.perf_counter() < deadline or len(times) < 20:
        t0 = time.perf_counter()
        model.predict_proba(num, cat)
        times.append(time.perf_counter() - t0)
    per_call = float(np.median(times))
    return {
        "batch_size": float(n),
        "us_per_call": per_call * 1e6,
        "us_per_row": per_call * 1e6 / max(n, 1),
        "trees": float(model.booster.num_trees()),
    }
