"""Model integrity where it matters: the processor (not only `load_model`) refuses a model folder
whose files do not match its manifest, that lacks a file, or that carries a pickle-capable file,
with a message naming the file; and loading a model reaches no network.

The folder format's own tests are in test_model_folder.py; its builders are reused here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_model_folder import toy_table, untrained_artifacts

from fraudstream.config import ConfigError, Settings
from fraudstream.features import FeatureSpec
from fraudstream.model.folder import save_model
from fraudstream.netguard import NetworkGuard
from fraudstream.stream.app import build_processor

CASCADE = b'{"band": [0.05, 0.6]}'


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete (untrained) model folder with a listed extra file, as `train` writes them."""
    result = untrained_artifacts(toy_table(400))
    out = tmp_path_factory.mktemp("models") / "model"
    save_model(
        out,
        module=result.module,
        config=result.config,
        tokenizer=result.tokenizer,
        preprocessor=result.preprocessor,
        calibration=result.calibration,
        thresholds=result.thresholds,
        spec=FeatureSpec.native(),
        card={"note": "integrity test"},
        extra_files={"cascade.json": CASCADE},
    )
    return out


@pytest.fixture
def folder(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(pristine, copy)
    return copy


def start(folder: Path) -> None:
    build_processor(Settings(model_path=folder, device="cpu"))


def test_an_intact_folder_starts(folder: Path) -> None:
    processor = build_processor(Settings(model_path=folder, device="cpu"))
    assert processor.scoring.version.startswith("tiny-")


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "name", ["model.safetensors", "tokenizer.json", "thresholds.json", "cascade.json"]
)
def test_the_processor_refuses_a_tampered_file(folder: Path, name: str) -> None:
    flip_last_byte(folder / name)
    with pytest.raises(ConfigError, match=rf"model_path: .*{name}.*sha256"):
        start(folder)


@pytest.mark.parametrize("name", ["model.safetensors", "calibration.json", "cascade.json"])
def test_the_processor_refuses_a_missing_file(folder: Path, name: str) -> None:
    (folder / name).unlink()
    with pytest.raises(ConfigError, match=rf"model_path: .*{name}.*missing"):
        start(folder)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "scorer.pkl", "weights.pt", "x.joblib"])
def test_the_processor_refuses_a_pickle_capable_file(folder: Path, name: str) -> None:
    (folder / name).write_bytes(b"\x80\x04K\x01.")  # a pickle of the int 1
    with pytest.raises(ConfigError, match=rf"model_path: .*{name}.*pickle"):
        start(folder)


def test_the_processor_refuses_an_unlisted_stage_one_scorer(folder: Path) -> None:
    """A stage-1 scorer dropped into a folder after saving would decide, unchecked, which
    transactions the language model sees: it must be in the manifest like every other file."""
    from fraudstream.model.gbdt import GBDTModel, GBDTParams

    table = toy_table(300)
    GBDTModel.fit(
        table.numeric,
        table.categorical,
        (table.labels > 0).astype(int),
        numeric_names=table.numeric_names,
        categorical_names=table.categorical_names,
        params=GBDTParams(max_rounds=3),
    ).save(folder)
    with pytest.raises(ConfigError, match=r"gbdt\.(txt|json).*not listed in manifest\.json"):
        start(folder)


def test_the_processor_refuses_a_rewritten_manifest(folder: Path) -> None:
    """Re-hashing a tampered file into the manifest changes the version it must match."""
    import hashlib
    import json

    flip_last_byte(folder / "model.safetensors")
    manifest = json.loads((folder / "manifest.json").read_text())
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    manifest["files"]["model.safetensors"] = digest
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"manifest\.json.*version"):
        start(folder)


def test_run_command_refuses_with_one_line(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fraudstream.cli import main
    from fraudstream.stream import clients

    async def connected(*args: object, **kwargs: object) -> str:
        return "127.0.0.1:9092"  # the broker is not what this test is about

    monkeypatch.setattr(clients, "check_connection", connected)
    flip_last_byte(folder / "model.safetensors")
    result = CliRunner().invoke(
        main, ["run", "--bootstrap", "127.0.0.1:9092", "--model", str(folder), "--device", "cpu"]
    )
    assert result.exit_code == 1
    assert "model.safetensors" in result.output and "sha256" in result.output
    assert "Traceback" not in result.output


def test_loading_a_model_reaches_no_network(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closed network: a model folder loads with every connection and DNS lookup refused, and
    the package switches Hugging Face offline itself."""
    from fraudstream.runtime.loader import load_scoring

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    guard = NetworkGuard([])
    with guard.active():
        scoring, _ = load_scoring(Settings(model_path=folder, device="cpu"))
        scoring.predict(scoring.prepare([], []))
    assert guard.violations == [] and guard.connections == []
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
