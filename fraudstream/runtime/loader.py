"""From a model folder to the `Scoring` the processor uses (and where the default model lives).

A model folder holds the language model and, when `fraudstream train` made one, the stage-1
gradient-boosted trees (`gbdt.txt` + `gbdt.json`) and the cascade band (`cascade.json`). Without a
stage 1 every transaction goes to the language model.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from fraudstream.config import ConfigError, Settings
from fraudstream.features import FeatureRow, FeatureSpec
from fraudstream.model.reasons import Reason, describe_categorical, describe_numeric

if TYPE_CHECKING:
    from fraudstream.runtime.model_process import ModelProcess

log = logging.getLogger(__name__)

CASCADE_FILE = "cascade.json"


def data_home() -> Path:
    base = os.environ.get("FRAUDSTREAM_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "fraudstream"
    )
    return Path(base)


# The default model is built from these sources; a change to any of them names a new folder, so
# a default model left by an older version of the code is never loaded by a newer one (it would
# compute features the model was not trained on: train/serve skew).
_DEFAULT_RECIPE = (
    "synth.py",
    "mapping.py",
    "mappings/native.yaml",
    "features/spec.py",
    "features/state.py",
    "features/dataset.py",
    "model/train.py",
    "model/classifier.py",
    "model/preprocess.py",
    "model/presets.py",
    "model/tokenizer.py",
    "model/gbdt.py",
    "model/calibration.py",
    "model/thresholds.py",
)


def default_model_recipe() -> str:
    """A short hash of the code that builds the default model."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _DEFAULT_RECIPE:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()[:10]


def default_model_dir() -> Path:
    return data_home() / "models" / f"default-{default_model_recipe()}"


_build_lock = threading.Lock()


def inference_threads(settings: Settings) -> int:
    """Torch CPU threads: `torch_threads`, or one per core minus one for the event loop (which
    decodes, keeps state, runs stage 1 and talks to Kafka). torch's own default, one per core,
    makes its worker threads spin against the event loop on a small machine."""
    if settings.torch_threads > 0:
        return settings.torch_threads
    return max(1, (os.cpu_count() or 1) - 1)


def ensure_default_model(*, echo: Any = None) -> Path:
    """The default model's folder, built by `fraudstream train`'s code on first use."""
    path = default_model_dir()
    with _build_lock:
        if (path / "manifest.json").is_file():
            return path
        from fraudstream.model.train import build_default_model

        if echo is not None:
            echo(f"building the default model in {path} (first run only, 1-3 minutes)...")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".building")
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        build_default_model(tmp)
        tmp.rename(path)
    return path


class Stage1:
    """The cascade's first brick: LightGBM on the metadata and state features."""

    def __init__(self, folder: Path, usual: dict[str, float]) -> None:
        from fraudstream.model.gbdt import GBDTModel

        self.model = GBDTModel.load(folder)
        self.usual = usual
        """Training medians of the numeric features, for "(usual: ...)" in reasons."""

    @staticmethod
    def _matrices(rows: Sequence[FeatureRow]) -> tuple[np.ndarray, np.ndarray]:
        numeric = np.array([r.numeric for r in rows], dtype=np.float64)
        categorical = np.array([r.categorical for r in rows], dtype=object)
        return numeric, categorical

    def score(self, rows: Sequence[FeatureRow]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        return self.model.predict_proba(*self._matrices(rows))

    def reasons(self, rows: Sequence[FeatureRow], top_k: int = 3) -> list[list[Reason]]:
        """Features with the largest upward SHAP contributions, in words, strongest first."""
        if not rows:
            return []
        contrib = self.model.contributions(*self._matrices(rows))
        names = self.model.feature_names
        out: list[list[Reason]] = []
        for i, row in enumerate(rows):
            numeric = row.named()
            categorical = row.named_categorical()
            reasons = []
            for j in np.argsort(-contrib[i])[:top_k]:
                weight = float(contrib[i, j])
                if weight <= 0:
                    break
                name = names[j]
                if name in numeric:
                    text = describe_numeric(name, numeric[name], self.usual.get(name, 0.0))
                else:
                    text = describe_categorical(name, categorical.get(name, ""), True)
                reasons.append(Reason(name, text, weight))
            out.append(reasons)
        return out


class ModelScoring:
    """`Scoring` over a model folder: optional stage 1 + the language model, which runs in this
    process or, with `remote`, in a child process (`runtime/model_process.py`)."""

    def __init__(
        self,
        model: Any,
        stage1: Stage1 | None,
        band: tuple[float, float] | None,
        *,
        remote: ModelProcess | None = None,
    ) -> None:
        self.model = model
        self.stage1_model = stage1
        self.band = band if stage1 is not None else None
        self.remote = remote
        self.version = model.version
        self.alert_threshold = float(model.threshold)
        self.block_threshold = float(model.bands.block)

    def stage1(self, rows: Sequence[FeatureRow]) -> np.ndarray | None:
        return None if self.stage1_model is None else self.stage1_model.score(rows)

    def stage1_reasons(self, rows: Sequence[FeatureRow]) -> list[list[Reason]]:
        assert self.stage1_model is not None
        return self.stage1_model.reasons(rows)

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        result: list[list[int]] = self.model.tokenize(narratives)
        return result

    def prepare(self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]]) -> Any:
        ids = token_ids if self.model.has_text else None
        if self.remote is not None:
            from fraudstream.runtime.model_process import RemoteBatch

            return RemoteBatch(list(rows), None if ids is None else list(ids))
        return self.model.prepare(rows, ids)

    def predict(self, prepared: Any) -> np.ndarray:
        if self.remote is not None:
            return self.remote.predict(prepared)
        result: np.ndarray = self.model.predict(prepared)
        return result

    def explain(self, prepared: Any, indices: Sequence[int]) -> list[list[Reason]]:
        if self.remote is not None:
            reasons: list[list[Reason]] = self.remote.explain(prepared, indices)
            return reasons
        result: list[list[Reason]] = self.model.explain(prepared, indices)
        return result

    def predict_explain(
        self, prepared: Any, threshold: float
    ) -> tuple[np.ndarray, dict[int, list[Reason]]]:
        if self.remote is not None:
            return self.remote.predict_explain(prepared, threshold)
        result: tuple[np.ndarray, dict[int, list[Reason]]] = self.model.predict_explain(
            prepared, threshold
        )
        return result

    def close(self) -> None:
        """Stop the model process, if any (also done when this object is collected)."""
        if self.remote is not None:
            self.remote.close()


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
    from fraudstream.model.folder import ModelFolderError, load_model

    path = settings.model_path or ensure_default_model(echo=echo)
    threads = inference_threads(settings)
    try:
        # With a model process this copy only tokenises and describes the model: keep it on CPU.
        device = "cpu" if settings.model_process else settings.device
        model = load_model(path, device=device, threads=threads)
    except ModelFolderError as exc:
        raise ConfigError(f"model_path: {exc}") from None
    remote = None
    if settings.model_process:
        from fraudstream.runtime.model_process import ModelProcess, ModelProcessError

        try:
            remote = ModelProcess(Path(path), device=settings.device, threads=threads)
        except ModelProcessError as exc:
            raise ConfigError(
                f"model_path: {exc}; fix: check the folder, or set FRAUDSTREAM_MODEL_PROCESS=false "
                "to run the model in a thread of the processor"
            ) from None
    spec: FeatureSpec = model.spec
    _check_listed(Path(path))
    stage1 = None
    band = settings.cascade_band
    if (Path(path) / "gbdt.txt").is_file():
        pre = model.preprocessor
        usual = dict(zip(spec.numeric_names, (float(x) for x in pre.raw_medians), strict=True))
        stage1 = Stage1(Path(path), usual)
        cascade = Path(path) / CASCADE_FILE
        if band is None and cascade.is_file():
            doc = orjson.loads(cascade.read_bytes())
            low, high = doc["band"]  # null: open-ended on that side
            band = (0.0 if low is None else float(low), math.inf if high is None else float(high))
    log.info(
        "model %s from %s (stage 1: %s, band %s)", model.version, path, stage1 is not None, band
    )
    return ModelScoring(model, stage1, band, remote=remote), spec
