"""The processor's default model: where it lives, which code it is built from, building it once.

Without `model_path` the processor scores with a model that `fraudstream train`'s code builds on
first use into the data home. Its folder is named by a hash of the sources that build it
(`_DEFAULT_RECIPE`), so that a code change never loads a model left by older code. Kept apart
from `runtime/loader.py`, which turns any model folder into the processor's `Scoring`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any


def data_home() -> Path:
    base = os.environ.get("FRAUDSTREAM_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "fraudstream"
    )
    return Path(base)


# The default model is built from these sources; a change to any of them names a new folder, so
# a default model left by an older version of the code is never loaded by a newer one (it would
# compute features the model was not trained on: train/serve skew).
_DEFAULT_RECIPE = (
    "synth/calendar_activity.py",
    "synth/clock.py",
    "synth/config.py",
    "synth/engine.py",
    "synth/entities.py",
    "synth/organic.py",
    "synth/population.py",
    "synth/rng.py",
    "synth/tables/merchants.py",
    "synth/tables/narratives.py",
    "synth/tables/places.py",
    "synth/tables/scams.py",
    "synth/typologies/__init__.py",
    "synth/typologies/account_takeover.py",
    "synth/typologies/benign_burst.py",
    "synth/typologies/benign_new_payee.py",
    "synth/typologies/benign_official.py",
    "synth/typologies/benign_urgent.py",
    "synth/typologies/card_testing.py",
    "synth/typologies/compromised_merchant.py",
    "synth/typologies/mule.py",
    "synth/typologies/quiet_scam.py",
    "synth/typologies/scam.py",
    "synth/writer.py",
    "synth/memos.py",
    "synth/tables/memo_families.py",
    "text.py",
    "cascade.py",
    "mapping.py",
    "mapping_file.py",
    "mapping_paths.py",
    "mapping_values.py",
    "mappings/native.yaml",
    "features/spec.py",
    "features/blocks.py",
    "features/state.py",
    "features/rows.py",
    "features/velocity.py",
    "features/label_fold.py",
    "features/state_store_ops.py",
    "features/entity.py",
    "features/dataset.py",
    "model/train.py",
    "model/train_prepare.py",
    "model/train_loop.py",
    "model/train_finish.py",
    "model/metrics.py",
    "model/folder.py",
    "model/train_data.py",
    "model/train_setup.py",
    "model/train_batches.py",
    "model/distill.py",
    "model/stage1_fit.py",
    "model/known_narratives.py",
    "model/card.py",
    "model/train_folder.py",
    "model/classifier.py",
    "model/preprocess.py",
    "model/presets.py",
    "model/tokenizer.py",
    "model/text_training.py",
    "model/encoder.py",
    "model/stage1.py",
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


def ensure_default_model(*, echo: Any = None) -> Path:
    """The default model's folder, built by `fraudstream train`'s code on first use."""
    path = default_model_dir()
    with _build_lock:
        if (path / "manifest.json").is_file():
            return path
        from fraudstream.model.train_folder import build_default_model

        if echo is not None:
            echo(
                f"building the default model in {path} (first run only, about 5 minutes on two cores)..."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".building")
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        build_default_model(tmp)
        tmp.rename(path)
    return path
