"""Evaluation's scorers: the model folder and the cascade block (the GBDT baseline is
`GBDTModel.fit_table`).

Cut from `evaluate.py` (step 3 of its theory of operation): what puts a score on a test row, and
the cascade's mixture of two scores. Nothing here chooses rows, reads a records file or writes
a report: `evaluate_split.py::evaluate_table` calls these on the rows of its split. It imports
nothing from the other `evaluate*` modules, so each of them can import it.

- `ModelScorer`: a model folder (`model/served.py::FolderScorer`) with its feature spec;
- `evaluate_cascade`: the report's `cascade` block from stage-1 and model scores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from fraudstream.cascade import CascadePolicy, route
from fraudstream.model.metrics import classification_report
from fraudstream.model.served import FolderScorer

if TYPE_CHECKING:
    from fraudstream.features.spec import FeatureSpec

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


class ModelScorer(FolderScorer):
    """A model folder for evaluation: its language model and its served cascade
    (`model/served.py`)."""

    name = "model"

    @property
    def spec(self) -> FeatureSpec:
        spec: FeatureSpec = self.model.spec
        return spec


def evaluate_cascade(
    stage1: FloatArray | None,
    model: FloatArray | None,
    labels: NDArray[np.int8],
    band: tuple[float, float] | None,
    *,
    cards: NDArray[Any] | None = None,
    days: IntArray | None = None,
    k: int = 100,
    routed: NDArray[np.bool_] | None = None,
    served: FloatArray | None = None,
) -> dict[str, Any]:
    """The `cascade` block of the report: the final score is the model's where the cascade
    routes a transaction to it, stage 1's elsewhere. `routed`: the routing the served cascade
    chose (`model/served.py`, the folder's own policy); without it, stage-1 scores in `band`
    (`fraudstream/cascade.py::route`). `served`: the scores the served cascade gave (with the
    policy's blend where it routed); without it, the model's where routed. Both scores are
    calibrated probabilities, so the mixture ranks consistently.

    Fields: `ap`, `roc_auc`, `recall_at_1pct_fpr`, `ece`, `card_precision_at_k` of the cascade,
    `share_to_language_model`, `band`, and each brick alone's AP for comparison
    (`ap_model_alone`, `ap_stage1_alone`; `ap_gap` = model alone - cascade). When a brick is missing the fields are null and `status` says
    why. The band is chosen by the caller (`--cascade-band`): choosing it on the test set would
    flatter the cascade.
    """
    block: dict[str, Any] = {
        "status": "ok",
        "band": list(band) if band is not None else None,
        "ap": None,
        "roc_auc": None,
        "recall_at_1pct_fpr": None,
        "ece": None,
        f"card_precision_at_{k}": None,
        "share_to_language_model": None,
        "ap_model_alone": None,
        "ap_stage1_alone": None,
        "ap_gap": None,
    }
    if stage1 is None or model is None:
        block["status"] = (
            "needs both a model (--model) and a stage-1 scorer (the model folder's own, "
            "or --baseline gbdt)"
        )
        return block
    if band is None and routed is None:
        block["status"] = "no uncertain band: give --cascade-band LOW HIGH"
        return block
    to_model = (
        routed if routed is not None else route(stage1, None, CascadePolicy(band), stage1.size)
    )
    final = served if served is not None else np.where(to_model, model, stage1)
    figures = classification_report(labels, final, cards=cards, days=days, k=k)
    alone = classification_report(labels, model)
    stage1_alone = classification_report(labels, stage1, cards=cards, days=days, k=k)
    block.update(
        {
            "ap": figures["average_precision"],
            "roc_auc": figures["roc_auc"],
            "recall_at_1pct_fpr": figures["recall_at_1pct_fpr"],
            "ece": figures["ece"],
            f"card_precision_at_{k}": figures.get(f"card_precision_at_{k}"),
            "share_to_language_model": float(to_model.mean()) if to_model.size else 0.0,
            "ap_model_alone": alone["average_precision"],
            "ap_stage1_alone": stage1_alone["average_precision"],
            "stage1_metrics": stage1_alone,
            "ap_gap": alone["average_precision"] - figures["average_precision"],
            "_scores": final,
        }
    )
    return block
