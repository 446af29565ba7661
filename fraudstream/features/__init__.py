"""Per-entity features: the spec (what), the state (how, pure), the offline table (training).

`dataset` (numpy) is not imported here so the stream's hot path does not pay for it.
"""

from fraudstream.features.spec import (
    DelayedRiskBlock,
    FeatureSpec,
    FeatureSpecError,
    VelocityBlock,
    window_name,
)
from fraudstream.features.state import FeatureRow, FeatureState, StateFormatError

__all__ = [
    "DelayedRiskBlock",
    "FeatureRow",
    "FeatureSpec",
    "FeatureSpecError",
    "FeatureState",
    "StateFormatError",
    "VelocityBlock",
    "window_name",
]
