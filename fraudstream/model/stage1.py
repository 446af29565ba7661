"""A model folder's stage 1 as it is served: the GBDT, its calibration and the cascade policy.

`fraudstream train` writes `gbdt.txt` + `gbdt.json` (the trees) and `cascade.json` (the policy of
`fraudstream/cascade.py`, the validation figures it was chosen on and the Platt calibration of
the trees' scores), and `narratives.json` (the narratives the narrative memory starts with,
`model/known_narratives.py`). The processor (`runtime/loader.py`) and `fraudstream evaluate` both read them
here, so that what is measured offline is what the stream serves. Folders written before the
calibration existed are served uncalibrated, as they were then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from fraudstream.cascade import CascadePolicy
from fraudstream.model import known_narratives
from fraudstream.model.calibration import Calibration
from fraudstream.model.gbdt import GBDTModel

CASCADE_FILE = "cascade.json"
NARRATIVE_RISK = "narrative_risk"
"""The stage-1 feature that carries the narrative's own risk (the text head's logit), for
folders whose stage 1 was trained with it; NaN where there is no narrative or it is unread."""


@dataclass
class Stage1Model:
    gbdt: GBDTModel
    calibration: Calibration
    policy: CascadePolicy
    known: list[tuple[str, float]] = field(default_factory=list)
    """The narratives read in training, with their text logit (`narratives.json`): what the
    narrative memory starts with."""

    @property
    def reads_narrative_risk(self) -> bool:
        return bool(self.gbdt.numeric_names) and self.gbdt.numeric_names[-1] == NARRATIVE_RISK

    def matrix(self, numeric: ArrayLike, narrative_risk: ArrayLike | None) -> np.ndarray:
        """The numeric matrix stage 1 reads: the features, then `narrative_risk` if it uses it
        (None: unknown for every row)."""
        num = np.asarray(numeric, dtype=np.float64)
        if not self.reads_narrative_risk:
            return num
        risk = (
            np.full(num.shape[0], np.nan)
            if narrative_risk is None
            else np.asarray(narrative_risk, dtype=np.float64)
        )
        # an empty narrative (-inf in the memory) and an unread one are both "no reading"
        risk = np.where(np.isfinite(risk), risk, np.nan)
        return np.column_stack([num, risk]) if num.size or risk.size else num.reshape(0, -1)

    def score(
        self, numeric: ArrayLike, categorical: ArrayLike, narrative_risk: ArrayLike | None = None
    ) -> np.ndarray:
        """Calibrated stage-1 probabilities."""
        raw = self.gbdt.predict_proba(self.matrix(numeric, narrative_risk), categorical)
        if self.calibration.method == "identity":
            return raw
        p = np.clip(raw, 1e-7, 1 - 1e-7)
        return self.calibration.apply(np.log(p / (1 - p)))


def read_policy(folder: Path, *, text_head: bool) -> CascadePolicy | None:
    """The folder's cascade policy, or None when it has no `cascade.json`."""
    path = folder / CASCADE_FILE
    if not path.is_file():
        return None
    return CascadePolicy.from_json(json.loads(path.read_bytes()), text_head=text_head)


def load_stage1(folder: Path, *, text_head: bool) -> Stage1Model | None:
    """The folder's stage 1, or None when it has none."""
    if not (folder / "gbdt.txt").is_file():
        return None
    doc: dict[str, object] = {}
    if (folder / CASCADE_FILE).is_file():
        doc = json.loads((folder / CASCADE_FILE).read_bytes())
    raw = doc.get("stage1_calibration")
    calibration = Calibration.from_json(raw) if isinstance(raw, dict) else Calibration()
    policy = CascadePolicy.from_json(doc, text_head=text_head) if doc else CascadePolicy(None)
    known = known_narratives.read(folder) if text_head else []
    return Stage1Model(GBDTModel.load(folder), calibration, policy, known)
