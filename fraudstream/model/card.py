"""The model card: how a model folder was made (`model_card`, step 6 of `train.py`'s theory of
operation) and on what software and hardware (`environment`).

`train_folder.py::write_folder` writes it with the folder. The card's `data` block, with the data
file's hash, comes from `train_data.py::read_table`; `file_sha256` stays there, torch-free, for
`fraudstream evaluate` to share (`evaluate.py` has its own, different `report_environment`: the
figures' hardware, without torch).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fraudstream.model.train_data import _iso

if TYPE_CHECKING:
    from fraudstream.model.train import TrainOptions, TrainResult
    from fraudstream.model.train_data import TrainSplit


def environment() -> dict[str, Any]:
    import tokenizers
    import transformers

    from fraudstream import __version__

    hardware: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        hardware["cuda_device"] = torch.cuda.get_device_name(0)
    return {
        "libraries": {
            "fraudstream": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
        },
        "platform": platform.platform(),
        "hardware": hardware,
    }


def model_card(
    result: TrainResult,
    *,
    options: TrainOptions,
    split: TrainSplit,
    data: dict[str, Any],
    command: str,
    init_from: str | None,
    seconds: float,
) -> dict[str, Any]:
    return {
        "created": _iso(time.time()),
        "command": command,
        "data": data,
        "split": split.info,
        "metrics": result.metrics,
        "history": result.history,
        "thresholds": result.thresholds.to_json(),
        "calibration": result.calibration.method,
        "options": {k: v for k, v in asdict(options).items() if k != "progress"},
        "seed": options.seed,
        "init_from": init_from,
        "total_seconds": round(seconds, 2),
        **environment(),
    }
