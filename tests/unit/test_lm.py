"""The language model in this process (`LocalLM`) and in a child process (`RemoteLM`) behind one
protocol (`runtime/lm.py`): the same model, scores, reasons, tokens and counters either way, the
same refusal of a broken folder, and a processor side that never imports torch.

The folder builders are test_model_folder.py's.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_model_folder import rows_of, save, toy_events, toy_table, untrained_artifacts

from fraudstream.config import ConfigError, Settings
from fraudstream.features.dataset import FeatureTable
from fraudstream.model.calibration import Calibration
from fraudstream.model.folder import ModelFolderError, load_model
from fraudstream.runtime.lm import LocalLM, RemoteLM, load_language_model
from fraudstream.runtime.loader import load_scoring
from fraudstream.runtime.model_process import ModelProcess, ModelProcessError

NARRATIVES = ["coffee at acme", "URGENT ｇｉｆｔ card for bestmart!!", "", "monthly rent"]


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return toy_table(400)


@pytest.fixture
def folder(tmp_path: Path, table: FeatureTable) -> Path:
    save(untrained_artifacts(table), tmp_path / "model")
    return tmp_path / "model"


def settings(folder: Path, *, model_process: bool) -> Settings:
    return Settings(model_path=folder, device="cpu", torch_threads=1, model_process=model_process)


@pytest.mark.slow
def test_in_and_out_of_process_the_scoring_is_the_same(folder: Path) -> None:
    local, spec = load_scoring(settings(folder, model_process=False))
    remote, remote_spec = load_scoring(settings(folder, model_process=True))
    try:
        assert isinstance(local.lm, LocalLM) and isinstance(remote.lm, RemoteLM)
        assert local.remote is None and remote.remote is not None
        assert remote_spec == spec
        assert dataclasses.asdict(remote.lm.info) == dataclasses.asdict(local.lm.info)
        assert remote.lm.info.text_head and remote.lm.info.usual == local.lm.info.usual
        assert (remote.version, remote.alert_threshold, remote.block_threshold) == (
            local.version,
            local.alert_threshold,
            local.block_threshold,
        )
        assert remote.threshold_meaning() == local.threshold_meaning()
        # the parent tokenises with the folder's tokenizer, normalised as the model reads
        assert remote.tokenize(NARRATIVES) == local.tokenize(NARRATIVES)

        rows = rows_of(toy_events(60, seed=3))
        ids = local.tokenize([r.narrative for r in rows])
        plain = load_model(folder, device="cpu")  # no cache: leaves the counters compared below
        want = plain.predict(plain.prepare(rows, ids))
        threshold = float(np.sort(want)[-5])
        results = []
        for scoring in (local, remote):
            probs, reasons, logits = scoring.predict_explain(scoring.prepare(rows, ids), threshold)
            text = {i: [r.text for r in rs] for i, rs in reasons.items()}
            results.append((probs, text, logits))
        (probs, reasons, logits), (r_probs, r_reasons, r_logits) = results
        np.testing.assert_allclose(r_probs, probs, rtol=1e-5, atol=1e-6)
        assert r_reasons == reasons and len(reasons) >= 5
        assert logits is not None and r_logits is not None
        np.testing.assert_allclose(r_logits, logits, rtol=1e-5, atol=1e-5)
        # the cache of text vectors: in this process, or the child's, reported the same way
        assert remote.narrative_stats()["vectors"] == local.narrative_stats()["vectors"]
        assert local.restarts == remote.restarts == 0
    finally:
        local.close()
        remote.close()
    assert not remote.lm.process._proc.is_alive()  # type: ignore[union-attr]


def test_the_processor_side_of_a_model_process_never_imports_torch(folder: Path) -> None:
    code = f"""
import json, resource, sys
from fraudstream.config import Settings
from fraudstream.runtime.loader import load_scoring
scoring, _ = load_scoring(Settings(model_path={str(folder)!r}, device="cpu", torch_threads=1))
print(json.dumps({{
    "torch": "torch" in sys.modules,
    "version": scoring.version,
    "tokens": scoring.tokenize({NARRATIVES!r}),
}}))
scoring.close()
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    model = load_model(folder, device="cpu")
    assert report["torch"] is False
    assert report["version"] == model.version
    assert report["tokens"] == model.tokenize(NARRATIVES)


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("name", "damage"),
    [("tokenizer.json", _flip_last_byte), ("calibration.json", Path.unlink)],
)
def test_a_refused_folder_reads_the_same_in_and_out_of_process(
    folder: Path, name: str, damage: object
) -> None:
    damage(folder / name)  # type: ignore[operator]
    with pytest.raises(ModelFolderError) as direct:
        load_model(folder, device="cpu")
    messages = []
    for in_process in (True, False):
        with pytest.raises(ConfigError) as refused:
            load_language_model(
                folder, in_process=in_process, device="cpu", threads=1, narrative_cache=0
            )
        messages.append(str(refused.value))
    assert messages[0] == messages[1] == f"model_path: {direct.value}"
    assert name in messages[0]


def test_a_model_process_that_cannot_start_says_how_to_run_without_one(folder: Path) -> None:
    """Not a folder problem (here: a device this machine lacks): the hint names the setting."""
    with pytest.raises(ConfigError, match=r"could not load .*FRAUDSTREAM_MODEL_PROCESS=false"):
        load_language_model(
            folder, in_process=False, device="cuda:99", threads=1, narrative_cache=0
        )


@pytest.mark.slow
def test_a_child_started_again_on_a_changed_folder_is_refused(
    folder: Path, table: FeatureTable
) -> None:
    """The processor serves the version it loaded: a child that comes back on a folder rewritten
    since would score under the old version's name and thresholds."""
    process = ModelProcess(folder, device="cpu", threads=1)
    try:
        old = process.version
        changed = untrained_artifacts(table)
        changed = dataclasses.replace(changed, calibration=Calibration(method="platt", a=1, b=0))
        assert save(changed, folder) != old
        process._proc.kill()
        process._proc.join(10)
        with pytest.raises(ModelProcessError, match="folder changed"):
            process.predict(RemoteLM(process).prepare(rows_of(toy_events(3)), None))
        assert process.restarts == 1 and process.version == old
    finally:
        process.close()


@pytest.mark.slow
def test_workers_share_one_model_server_that_can_go_and_come_back(folder: Path) -> None:
    """`run --workers`: two clients of one server (`runtime/model_server.py`) get the child's
    answers; with the server gone a request fails (the worker falls back) and, once it is
    started again, the next one reconnects."""
    from fraudstream.runtime.model_process import RemoteBatch
    from fraudstream.runtime.model_server import ModelServer, ModelServerClient

    server = ModelServer(folder, device="cpu", threads=1, narrative_cache=100)
    try:
        a = ModelServerClient(server.address, server.authkey, path=folder)
        b = ModelServerClient(server.address, server.authkey, path=folder)
        assert a.version == b.version == server.version
        plain = load_model(folder, device="cpu")
        rows = rows_of(toy_events(20, seed=5))
        ids = plain.tokenize([r.narrative for r in rows])
        want = plain.predict(plain.prepare(rows, ids))
        batch = RemoteBatch(rows, ids)
        for client in (a, b):
            np.testing.assert_allclose(client.predict(batch), want, rtol=1e-5, atol=1e-6)
        with pytest.raises(ModelProcessError):
            ModelServerClient(server.address, b"not the key", path=folder)
        server.stop()
        with pytest.raises(ModelProcessError, match="cannot be reached"):
            a.predict(batch)
        server.start()
        np.testing.assert_allclose(a.predict(batch), want, rtol=1e-5, atol=1e-6)
        assert a.restarts == 2  # attempts to reach it again: one while it was down, one after
        np.testing.assert_allclose(b.predict(batch), want, rtol=1e-5, atol=1e-6)
        a.close()
        b.close()
    finally:
        server.close()
    assert not Path(server.address).parent.exists()
