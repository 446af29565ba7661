"""From a model folder to the `Scoring` the processor uses.

A model folder holds the language model and, when `fraudstream train` made one, the stage-1
gradient-boosted trees (`gbdt.txt` + `gbdt.json`) and the cascade band (`cascade.json`). Without a
stage 1 every transaction goes to the language model. The default model (where it lives, the
sources it is built from, building it on first use) is `runtime/default_model.py`; its names are
re-exported here, where the rest of the code imports them from.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from fraudstream.cascade import CascadePolicy, NarrativeMemory, blend, logit
from fraudstream.config import ConfigError, Settings
from fraudstream.features import FeatureRow, FeatureSpec
from fraudstream.model.reasons import (
    NARRATIVE_MIN_WEIGHT,
    Reason,
    describe_categorical,
    describe_narrative,
    describe_numeric,
)
from fraudstream.model.stage1 import CASCADE_FILE, NARRATIVE_RISK, Stage1Model, load_stage1
from fraudstream.runtime.default_model import _DEFAULT_RECIPE as _DEFAULT_RECIPE
from fraudstream.runtime.default_model import _build_lock as _build_lock
from fraudstream.runtime.default_model import data_home as data_home
from fraudstream.runtime.default_model import default_model_dir as default_model_dir
from fraudstream.runtime.default_model import default_model_recipe as default_model_recipe
from fraudstream.runtime.default_model import ensure_default_model
from fraudstream.runtime.lm import LanguageModel, load_language_model

if TYPE_CHECKING:
    from fraudstream.runtime.model_process import ModelProcess

log = logging.getLogger(__name__)


def inference_threads(settings: Settings) -> int:
    """Torch CPU threads: `torch_threads`, or one per core minus one for the event loop (which
    decodes, keeps state, runs stage 1 and talks to Kafka). torch's own default, one per core,
    makes its worker threads spin against the event loop on a small machine."""
    if settings.torch_threads > 0:
        return settings.torch_threads
    return max(1, (os.cpu_count() or 1) - 1)


class Stage1:
    """The cascade's first brick: LightGBM on the metadata and state features (and, for folders
    trained with it, the risk of the narrative read before), calibrated."""

    def __init__(self, model: Stage1Model, usual: dict[str, float]) -> None:
        self.model = model
        self.usual = usual
        """Training medians of the numeric features, for "(usual: ...)" in reasons."""

    @staticmethod
    def _matrices(
        rows: Sequence[FeatureRow],
    ) -> tuple[np.ndarray, np.ndarray]:
        numeric = np.array([r.numeric for r in rows], dtype=np.float64)
        categorical = np.array([r.categorical for r in rows], dtype=object)
        return numeric, categorical

    @staticmethod
    def _risk(narrative_risk: Sequence[float | None] | None) -> np.ndarray | None:
        if narrative_risk is None:
            return None
        return np.array([np.nan if r is None else r for r in narrative_risk], dtype=np.float64)

    def score(
        self, rows: Sequence[FeatureRow], narrative_risk: Sequence[float | None] | None = None
    ) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        numeric, categorical = self._matrices(rows)
        return self.model.score(numeric, categorical, self._risk(narrative_risk))

    def reasons(
        self,
        rows: Sequence[FeatureRow],
        narrative_risk: Sequence[float | None] | None = None,
        top_k: int = 3,
    ) -> list[list[Reason]]:
        """Features with the largest upward SHAP contributions, in words, strongest first."""
        if not rows:
            return []
        numeric, categorical = self._matrices(rows)
        risk = self._risk(narrative_risk)
        matrix = self.model.matrix(numeric, risk)
        contrib = self.model.gbdt.contributions(matrix, categorical)
        # The narrative is a reason only where its remembered risk raised the score over the
        # same payment without it (no risk: what stage 1 sees for an unread or empty memo).
        moved = np.zeros(len(rows))
        if risk is not None:
            with_memo = self.model.score(numeric, categorical, risk)
            without = self.model.score(numeric, categorical, np.full(len(rows), np.nan))
            moved = logit(with_memo) - logit(without)
        names = self.model.gbdt.feature_names
        out: list[list[Reason]] = []
        for i, row in enumerate(rows):
            values = row.named()
            labels = row.named_categorical()
            reasons: list[Reason] = []
            for j in np.argsort(-contrib[i]):
                weight = float(contrib[i, j])
                if weight <= 0 or len(reasons) == top_k:
                    break
                name = names[j]
                if name == NARRATIVE_RISK:
                    if moved[i] >= NARRATIVE_MIN_WEIGHT:
                        text = describe_narrative(row.narrative)
                        reasons.append(Reason("narrative", text, weight))
                    continue
                if name in values:
                    text = describe_numeric(
                        name, values[name], self.usual.get(name, 0.0), labels.get("currency", "")
                    )
                else:
                    text = describe_categorical(name, labels.get(name, ""), True)
                reasons.append(Reason(name, text, weight))
            out.append(reasons)
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class _Blended:
    """A prepared batch and its rows' stage-1 scores, for a policy that serves a blend."""

    inner: Any
    stage1: np.ndarray


class ModelScoring:
    """`Scoring` over a model folder: optional stage 1 + the language model, which runs in this
    process or in a child process (`runtime/lm.py`)."""

    def __init__(
        self,
        lm: LanguageModel,
        stage1: Stage1 | None,
        policy: CascadePolicy | None,
        *,
        memory: int = 0,
    ) -> None:
        self.lm = lm
        self.stage1_model = stage1
        self.policy = policy if stage1 is not None else None
        info = lm.info
        self.version = info.version
        self.alert_threshold = float(info.threshold)
        self.block_threshold = float(info.bands.block)
        # Rules 1 and 2 of the cascade need the text head's logits; a folder without one routes
        # by the band alone, and nothing needs remembering.
        reads = self.policy is not None and (
            self.policy.reads_narratives
            or (stage1 is not None and stage1.model.reads_narrative_risk)
        )
        self.memory = NarrativeMemory(memory) if reads and memory > 0 else None
        if self.memory is not None and stage1 is not None:
            # the narratives read in training: a fresh processor does not send every common
            # descriptor to the language model again (`model/known_narratives.py`)
            self.memory.preload(stage1.model.known)

    @property
    def remote(self) -> ModelProcess | None:
        """The language model's child process (None: it runs in this process)."""
        return self.lm.process

    def threshold_meaning(self) -> str:
        """The alert threshold with what it was chosen for and reached on validation data."""
        t = self.lm.info.thresholds
        target = (
            f"precision target {t.target:.2f}"
            if t.policy == "target_precision"
            else f"budget {t.target:g} alerts per 1,000"
        )
        return (
            f"alert threshold {t.alert:.4g} ({target}{'' if t.met else ', not met'}; on "
            f"validation: precision {t.precision:.2f}, recall {t.recall:.2f}, "
            f"{t.alerts_per_1000:.1f} alerts per 1,000 transactions)"
        )

    @property
    def band(self) -> tuple[float, float] | None:
        return None if self.policy is None else self.policy.band

    def stage1(
        self, rows: Sequence[FeatureRow], narrative_risk: Sequence[float | None] | None = None
    ) -> np.ndarray | None:
        if self.stage1_model is None:
            return None
        return self.stage1_model.score(rows, narrative_risk)

    def stage1_reasons(
        self, rows: Sequence[FeatureRow], narrative_risk: Sequence[float | None] | None = None
    ) -> list[list[Reason]]:
        assert self.stage1_model is not None
        return self.stage1_model.reasons(rows, narrative_risk)

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        return self.lm.tokenize(narratives)

    @property
    def blend_weight(self) -> float:
        return 0.0 if self.policy is None or self.stage1_model is None else self.policy.blend

    def prepare(self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]]) -> Any:
        prepared = self.lm.prepare(rows, token_ids if self.lm.info.has_text else None)
        if self.blend_weight > 0:
            # A blend is only chosen without a text head, where stage 1 reads no narrative
            # risk: scoring it again here gives the score the routing saw (cheap: trees).
            assert self.stage1_model is not None
            return _Blended(prepared, self.stage1_model.score(rows))
        return prepared

    def predict(self, prepared: Any) -> np.ndarray:
        if isinstance(prepared, _Blended):
            return blend(prepared.stage1, self.lm.predict(prepared.inner), self.blend_weight)
        return self.lm.predict(prepared)

    def explain(self, prepared: Any, indices: Sequence[int]) -> list[list[Reason]]:
        if isinstance(prepared, _Blended):
            prepared = prepared.inner
        return self.lm.explain(prepared, indices)

    def predict_explain(
        self, prepared: Any, threshold: float
    ) -> tuple[np.ndarray, dict[int, list[Reason]], np.ndarray | None]:
        if isinstance(prepared, _Blended):
            # The alerting rows are those of the blended score: predict, then explain them (two
            # calls instead of one; a blend only exists for small metadata-only models).
            served = self.predict(prepared)
            alerting = [int(i) for i in np.flatnonzero(served >= threshold)]
            reasons = self.explain(prepared, alerting) if alerting else []
            return served, dict(zip(alerting, reasons, strict=True)), None
        return self.lm.predict_explain(prepared, threshold)

    @property
    def restarts(self) -> int:
        """How often the model's child process was started again after it died."""
        return self.lm.restarts

    def narrative_stats(self) -> dict[str, dict[str, float]]:
        """The narrative memory's counters and the model's text-vector cache's (for /metrics
        and the run summary)."""
        out: dict[str, dict[str, float]] = {}
        if self.memory is not None:
            out["memory"] = self.memory.stats()
        cache = self.lm.cache_stats()
        if cache:
            out["vectors"] = cache
        return out

    def close(self) -> None:
        """Stop the model process, if any (also done when this object is collected)."""
        self.lm.close()


def _check_listed(folder: Path) -> None:
    """The stage-1 files are read from the folder here, not by `load_model`: refuse any that the
    manifest does not list (and so did not hash-check), e.g. a scorer dropped in after saving."""
    listed = orjson.loads((folder / "manifest.json").read_bytes()).get("files", {})
    for name in ("gbdt.txt", "gbdt.json", CASCADE_FILE):
        if (folder / name).exists() and name not in listed:
            raise ConfigError(
                f"model_path: {folder / name} is not listed in manifest.json, so its integrity "
                "cannot be checked; fix: remove it, or re-export the folder with `fraudstream train`"
            )


def load_scoring(settings: Settings, *, echo: Any = None) -> tuple[ModelScoring, FeatureSpec]:
    """The model of `model_path` (default: the default model, built on first use); with
    `model_process` its language model runs in a child process and this one never loads torch."""
    path = Path(settings.model_path or ensure_default_model(echo=echo))
    cache = settings.narrative_cache_size
    server = None
    if settings.model_server:
        key = settings.model_server_key
        server = (settings.model_server, bytes.fromhex(key.reveal() if key else ""))
    lm = load_language_model(
        path,
        in_process=not settings.model_process,
        device=settings.device,
        threads=inference_threads(settings),
        narrative_cache=cache,
        server=server,
    )
    info = lm.info
    spec: FeatureSpec = info.spec
    try:
        _check_listed(path)
        stage1 = None
        policy: CascadePolicy | None = None
        folder = load_stage1(path, text_head=info.text_head)
        if folder is not None:
            stage1 = Stage1(folder, info.usual)
            policy = folder.policy
            if settings.cascade_band is not None:
                policy = dataclasses.replace(policy, band=settings.cascade_band)
    except BaseException:
        lm.close()  # no child process left behind by a folder refused here
        raise
    log.info(
        "model %s from %s (stage 1: %s, cascade %s)",
        info.version,
        path,
        stage1 is not None,
        policy,
    )
    return ModelScoring(lm, stage1, policy, memory=cache), spec
