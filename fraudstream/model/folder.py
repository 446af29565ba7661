"""A model is a folder (DESIGN principle 6): its format, `save_model` and `load_model`.

Theory of operation
-------------------
A folder holds exactly these files, all JSON except the weights:

    model.safetensors   weights (safetensors: tensors only, no code)
    config.json         architecture + preset (`ModelConfig`)
    tokenizer.json      the fast tokenizer (absent when the model has no text tower)
    feature_spec.json   the `FeatureSpec` the stream must compute for this model
    preprocess.json     numeric scaling statistics, category vocabularies, text baseline
    calibration.json    logit -> probability
    thresholds.json     alert threshold and review/block bands
    model_card.json     metrics, training data hash, command, versions, seed, time, hardware
    manifest.json       sha256 of every file above, the version, the preset

`load_model` reads `manifest.json` first, then every listed file exactly once into memory, checks
its hash, and parses the bytes it checked (no second read between check and use). It refuses, with
`ModelFolderError` naming the file: a missing manifest or file, a hash mismatch, a file the
config requires but the manifest lacks, and any pickle-capable file (`*.bin`, `*.pt`, `*.pkl`...)
lying in the folder, because a folder that carries one was not written by `save_model` and may
be meant for a loader that unpickles. Nothing is ever unpickled; `torch.load` is not used.

The version is `<preset>-<8 hex>`: the hash of the manifest's file list without the model card
(the card records the version, so it cannot be part of its own hash). Any change to weights,
tokenizer, features, calibration or thresholds changes the version.

What a loaded folder does (`Batch`, `LoadedModel`: prepare, predict, explain) is in `loaded.py`;
both names, and `throughput`, are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from fraudstream.model.calibration import Calibration
from fraudstream.model.classifier import FraudClassifier, set_threads
from fraudstream.model.loaded import Batch, LoadedModel, throughput
from fraudstream.model.preprocess import Preprocessor
from fraudstream.model.presets import ModelConfig
from fraudstream.model.thresholds import Thresholds

__all__ = [
    "CALIBRATION",
    "CONFIG",
    "FEATURE_SPEC",
    "FORMAT",
    "MANIFEST",
    "MODEL_CARD",
    "PREPROCESS",
    "THRESHOLDS",
    "TOKENIZER",
    "WEIGHTS",
    "Batch",
    "LoadedModel",
    "ModelFolderError",
    "load_model",
    "model_version",
    "read_folder",
    "resolve_device",
    "save_model",
    "throughput",
]

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
FEATURE_SPEC = "feature_spec.json"
PREPROCESS = "preprocess.json"
CALIBRATION = "calibration.json"
THRESHOLDS = "thresholds.json"
MODEL_CARD = "model_card.json"
MANIFEST = "manifest.json"
FORMAT = "fraudstream-model/1"
_ALWAYS = (WEIGHTS, CONFIG, FEATURE_SPEC, PREPROCESS, CALIBRATION, THRESHOLDS, MODEL_CARD)
# Formats that can carry a pickle (or code): their presence means the folder is not ours.
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")


class ModelFolderError(Exception):
    """A model folder that cannot be trusted or read; the message names the file."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def model_version(preset: str, files: dict[str, str]) -> str:
    listed = {name: digest for name, digest in files.items() if name != MODEL_CARD}
    return f"{preset}-{_sha256(_json_bytes(listed))[:8]}"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return resolved


# ---- saving ------------------------------------------------------------------------------------


def save_model(
    out_dir: str | Path,
    *,
    module: FraudClassifier,
    config: ModelConfig,
    tokenizer: Any,
    preprocessor: Preprocessor,
    calibration: Calibration,
    thresholds: Thresholds,
    spec: Any,
    card: dict[str, Any],
    extra_files: dict[str, bytes] | None = None,
) -> str:
    """Write a model folder atomically (a temporary sibling renamed into place); returns the
    version. An existing folder at `out_dir` is replaced only if it is a model folder.

    `extra_files` (e.g. the cascade's stage 1, `gbdt.txt` and `gbdt.json`, and `cascade.json`)
    go into the manifest like the rest, so they are hash-checked on load and part of the version.
    """
    from safetensors.torch import save

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ModelFolderError(f"{out} exists and is not a model folder; refusing to overwrite it")
    if (config.text is not None) != (tokenizer is not None):
        raise ValueError("a text tower needs a tokenizer, and only a text tower may have one")

    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    files: dict[str, bytes] = {
        # One metadata key only: safetensors writes the metadata map in hash order, so two keys
        # would make the bytes (and the version) differ between identical saves.
        WEIGHTS: save(state, metadata={"format": "pt"}),
        CONFIG: _json_bytes(config.to_json()),
        FEATURE_SPEC: _spec_bytes(spec),
        PREPROCESS: _json_bytes(preprocessor.to_json()),
        CALIBRATION: _json_bytes(calibration.to_json()),
        THRESHOLDS: _json_bytes(thresholds.to_json()),
    }
    if tokenizer is not None:
        files[TOKENIZER] = tokenizer.to_str(pretty=True).encode()
    for name, data in (extra_files or {}).items():
        if name in files or name in (MODEL_CARD, MANIFEST) or Path(name).name != name:
            raise ValueError(f"extra file {name!r}: must be a plain name not used by the folder")
        if name.lower().endswith(_PICKLE_SUFFIXES):
            raise ValueError(f"extra file {name!r}: pickle-capable formats are not allowed")
        files[name] = data
    digests = {name: _sha256(data) for name, data in files.items()}
    version = model_version(config.preset, digests)
    files[MODEL_CARD] = _json_bytes({**card, "version": version, "preset": config.preset})
    digests[MODEL_CARD] = _sha256(files[MODEL_CARD])
    manifest = {
        "format": FORMAT,
        "version": version,
        "preset": config.preset,
        "files": dict(sorted(digests.items())),
    }
    files[MANIFEST] = _json_bytes(manifest)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def _spec_bytes(spec: Any) -> bytes:
    if hasattr(spec, "to_dict"):
        return _json_bytes(spec.to_dict())
    if isinstance(spec, dict):
        return _json_bytes(spec)
    raise TypeError(f"cannot store feature spec of type {type(spec).__name__}")


# ---- loading -----------------------------------------------------------------------------------


def read_folder(path: str | Path) -> dict[str, bytes]:
    """Every file of a model folder, hash-checked against its manifest; see the module docstring."""
    root = Path(path)
    if not root.is_dir():
        raise ModelFolderError(f"{root}: not a directory (a model is a folder)")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise ModelFolderError(f"{root}: {MANIFEST} is missing; this is not a fraudstream model")
    try:
        manifest = json.loads(manifest_path.read_bytes())
        listed: dict[str, str] = dict(manifest["files"])
        fmt = manifest["format"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"{manifest_path}: unreadable manifest ({exc})") from None
    if fmt != FORMAT:
        raise ModelFolderError(f"{manifest_path}: format {fmt!r}, expected {FORMAT!r}")

    for item in sorted(root.rglob("*")):
        if item.is_file() and item.name.lower().endswith(_PICKLE_SUFFIXES):
            raise ModelFolderError(
                f"{item}: pickle-capable file in a model folder; fraudstream never loads one "
                "and refuses a folder that carries one (remove it, or re-export with save_model)"
            )
    for name in _ALWAYS:
        if name not in listed:
            raise ModelFolderError(f"{root}: {MANIFEST} does not list {name}")
    data: dict[str, bytes] = {}
    for name, digest in listed.items():
        file = root / name
        if Path(name).name != name or name == MANIFEST:
            raise ModelFolderError(f"{manifest_path}: bad file name {name!r}")
        if not file.is_file():
            raise ModelFolderError(f"{file}: missing (listed in {MANIFEST})")
        content = file.read_bytes()
        if _sha256(content) != digest:
            raise ModelFolderError(
                f"{file}: sha256 does not match {MANIFEST}; the file was changed after saving"
            )
        data[name] = content
    data[MANIFEST] = manifest_path.read_bytes()
    return data


def load_model(
    path: str | Path,
    *,
    device: str | torch.device = "auto",
    threads: int | None = None,
    narrative_cache: int = 0,
) -> LoadedModel:
    """Load and verify a model folder. `threads` sets torch's intra-op threads (CPU);
    `narrative_cache`: how many distinct narratives' text vectors to keep (0: none)."""
    from safetensors.torch import load

    root = Path(path)
    files = read_folder(root)
    manifest = json.loads(files[MANIFEST])

    def parse(name: str) -> Any:
        try:
            return json.loads(files[name])
        except ValueError as exc:
            raise ModelFolderError(f"{root / name}: not valid JSON ({exc})") from None

    try:
        config = ModelConfig.from_json(parse(CONFIG))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFolderError(f"{root / CONFIG}: {exc}") from None
    version = model_version(config.preset, {k: v for k, v in manifest["files"].items()})
    if manifest.get("version") != version:
        raise ModelFolderError(f"{root / MANIFEST}: version does not match its file hashes")

    tokenizer = None
    if config.text is not None:
        if TOKENIZER not in files:
            raise ModelFolderError(f"{root}: {TOKENIZER} is missing (the model reads narratives)")
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(files[TOKENIZER].decode())

    try:
        preprocessor = Preprocessor.from_json(parse(PREPROCESS))
        calibration = Calibration.from_json(parse(CALIBRATION))
        thresholds = Thresholds.from_json(parse(THRESHOLDS))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFolderError(f"{root}: {exc}") from None
    spec = _load_spec(files[FEATURE_SPEC], root / FEATURE_SPEC)
    names = (list(config.numeric_names), list(config.categorical_names))
    if names != (preprocessor.numeric_names, preprocessor.categorical_names):
        raise ModelFolderError(f"{root / PREPROCESS}: feature names disagree with {CONFIG}")
    spec_names = (list(spec.numeric_names), list(spec.categorical_names))
    if spec_names != names:
        raise ModelFolderError(f"{root / FEATURE_SPEC}: feature names disagree with {CONFIG}")

    set_threads(threads)
    dev = resolve_device(device)
    module = FraudClassifier(config)
    try:
        state = load(files[WEIGHTS])
        module.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ModelFolderError(f"{root / WEIGHTS}: does not fit {CONFIG} ({exc})") from None
    module.to(dev)
    return LoadedModel(
        config=config,
        module=module,
        tokenizer=tokenizer,
        preprocessor=preprocessor,
        calibration=calibration,
        thresholds=thresholds,
        spec=spec,
        card=parse(MODEL_CARD),
        version=version,
        device=dev,
        path=root,
        narrative_cache_size=narrative_cache,
    )


def _load_spec(data: bytes, where: Path) -> Any:
    from fraudstream.features.spec import FeatureSpec, FeatureSpecError

    try:
        return FeatureSpec.from_json(data)
    except (FeatureSpecError, ValueError) as exc:
        raise ModelFolderError(f"{where}: {exc}") from None
