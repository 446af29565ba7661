"""Synthetic, labelled transactions in the native wire schema (see `engine.py`)."""

from fraudstream.synth.engine import (
    BENIGN_TYPOLOGIES,
    DEFAULT_FRAUD_MIX,
    FRAUD_TYPOLOGIES,
    SCAM_TEMPLATES,
    MemoWriter,
    SynthConfig,
    generate,
    scam_paraphrase_count,
    to_json_line,
)

__all__ = [
    "BENIGN_TYPOLOGIES",
    "DEFAULT_FRAUD_MIX",
    "FRAUD_TYPOLOGIES",
    "SCAM_TEMPLATES",
    "MemoWriter",
    "SynthConfig",
    "generate",
    "scam_paraphrase_count",
    "to_json_line",
]
