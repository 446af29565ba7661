"""The fraud classifier: architecture, training, calibration, thresholds, reasons, model folders.

Names are resolved lazily so that importing a torch-free part (`fraudstream.model.reasons`,
`metrics`, `thresholds`) does not pay for importing torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fraudstream.model.folder import (
        Batch,
        LoadedModel,
        ModelFolderError,
        load_model,
        save_model,
    )
    from fraudstream.model.reasons import Reason
    from fraudstream.model.train import TrainOptions
    from fraudstream.model.train_folder import build_default_model, train_file

_EXPORTS = {
    "Batch": "fraudstream.model.folder",
    "LoadedModel": "fraudstream.model.folder",
    "ModelFolderError": "fraudstream.model.folder",
    "load_model": "fraudstream.model.folder",
    "save_model": "fraudstream.model.folder",
    "Reason": "fraudstream.model.reasons",
    "TrainOptions": "fraudstream.model.train",
    "build_default_model": "fraudstream.model.train_folder",
    "train_file": "fraudstream.model.train_folder",
}

__all__ = [
    "Batch",
    "LoadedModel",
    "ModelFolderError",
    "Reason",
    "TrainOptions",
    "build_default_model",
    "load_model",
    "save_model",
    "train_file",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fraudstream.model' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
