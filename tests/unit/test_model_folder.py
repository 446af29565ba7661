"""Model folders (save, load, refuse), the inference API, explanations and training.

Toy data goes through the stream's own feature code (`build_features` with the native spec), so
these tests exercise the same path as `fraudstream train`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fraudstream.events import Event
from fraudstream.features import FeatureSpec, FeatureState
from fraudstream.features.dataset import FeatureTable, build_features
from fraudstream.model.calibration import Calibration
from fraudstream.model.classifier import FraudClassifier
from fraudstream.model.folder import (
    MANIFEST,
    ModelFolderError,
    load_model,
    read_folder,
    save_model,
)
from fraudstream.model.preprocess import Preprocessor
from fraudstream.model.presets import get_preset
from fraudstream.model.reasons import NARRATIVE, NARRATIVE_MIN_WEIGHT
from fraudstream.model.thresholds import choose_thresholds
from fraudstream.model.tokenizer import train_wordpiece
from fraudstream.model.train import TrainOptions, TrainResult, fit
from fraudstream.model.train_data import choose_split
from fraudstream.model.train_setup import model_config

LEGIT = [
    "grocery shopping at {m}",
    "monthly rent",
    "coffee at {m}",
    "salary to savings",
    "utility bill {m}",
    "dinner at {m}",
    "online order {m}",
    "fuel at {m}",
]
SCAM = ["urgent gift card for {m}", "gift card codes asap", "urgent wire to new friend"]
MERCHANTS = ["acme", "bestmart", "cornershop", "deltafuel", "eaglefoods"]


def toy_events(n: int, *, seed: int = 0, narrative: bool = True) -> list[Event]:
    """Accounts paying their usual merchants; frauds say 'gift card' / 'urgent', spend more, from
    new devices, often abroad."""
    rng = random.Random(seed)
    t = 1_700_000_000.0
    out = []
    for i in range(n):
        t += rng.expovariate(1 / 90.0)
        account = f"A{rng.randrange(60)}"
        fraud = rng.random() < 0.1
        m = rng.choice(MERCHANTS)
        text = rng.choice(SCAM if fraud else LEGIT).format(m=m) if narrative else ""
        categorical = {
            "channel": rng.choice(["card", "transfer"]),
            "mcc": rng.choice(["5411", "5812"]),
            "merchant_country": rng.choice(["NG", "FR"]) if fraud else "FR",
            "currency": "EUR",
            "device": f"X{i}" if fraud else f"D{account}",
            "beneficiary": f"B{rng.randrange(3)}",
        }
        amount = rng.lognormvariate(5.5 if fraud else 3.5, 0.8)
        entities = {"account": account, "card": "C" + account, "merchant": m}
        out.append(Event(f"t{i}", t, amount, text, entities, {}, categorical, int(fraud)))
    return out


def toy_table(n: int = 1200, *, seed: int = 0, narrative: bool = True) -> FeatureTable:
    return build_features(
        toy_events(n, seed=seed, narrative=narrative), FeatureSpec.native(), label_delay_s=7 * 86400
    )


def untrained_artifacts(table: FeatureTable) -> TrainResult:
    """A complete, untrained model (fast): enough to test the folder format."""
    torch.manual_seed(0)
    pre = Preprocessor.fit(
        table.numeric,
        table.categorical,
        numeric_names=table.numeric_names,
        categorical_names=table.categorical_names,
    )
    tok = (
        train_wordpiece(table.narratives, vocab_size=300, max_length=16)
        if any(table.narratives)
        else None
    )
    config = model_config(get_preset("tiny"), pre, tok)
    module = FraudClassifier(config)
    probs = np.linspace(0, 1, len(table))
    return TrainResult(
        module,
        config,
        tok,
        pre,
        Calibration(method="platt", a=0.5, b=-1.0),
        choose_thresholds(probs, np.clip(table.labels, 0, 1)),
        {},
    )


def save(result: TrainResult, out: Path) -> str:
    return save_model(
        out,
        module=result.module,
        config=result.config,
        tokenizer=result.tokenizer,
        preprocessor=result.preprocessor,
        calibration=result.calibration,
        thresholds=result.thresholds,
        spec=FeatureSpec.native(),
        card={"note": "test"},
    )


def rows_of(events: list[Event]) -> list:
    state = FeatureState(FeatureSpec.native())
    return [state.process(e) for e in events]


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return toy_table()


@pytest.fixture
def folder(tmp_path: Path, table: FeatureTable) -> Path:
    save(untrained_artifacts(table), tmp_path / "model")
    return tmp_path / "model"


# ---- the folder ---------------------------------------------------------------------------------


def test_folder_holds_exactly_the_documented_files(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "model.safetensors",
            "config.json",
            "tokenizer.json",
            "feature_spec.json",
            "preprocess.json",
            "calibration.json",
            "thresholds.json",
            "model_card.json",
            "manifest.json",
        ]
    )
    manifest = json.loads((folder / MANIFEST).read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    card = json.loads((folder / "model_card.json").read_text())
    assert card["version"] == manifest["version"]
    assert manifest["version"].startswith("tiny-") and len(manifest["version"]) == len("tiny-") + 8


def test_round_trip_gives_identical_predictions(folder: Path, table: FeatureTable) -> None:
    result = untrained_artifacts(table)  # the same seed: the same weights as the saved ones
    model = load_model(folder, device="cpu")
    assert model.version == json.loads((folder / MANIFEST).read_text())["version"]
    rows = rows_of(toy_events(40, seed=9))
    batch = model.prepare(rows)
    probs = model.predict(batch)
    assert probs.shape == (40,) and np.all((probs >= 0) & (probs <= 1))
    expected = result.calibration.apply(
        result.module.eval()(
            batch.input_ids, batch.attention_mask, batch.numeric, batch.categorical
        )
        .detach()
        .numpy()
    )
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
    again = load_model(folder, device="cpu")
    np.testing.assert_array_equal(again.predict(again.prepare(rows)), probs)
    # Pre-tokenised ids (a scheduler that batched by token budget) give the same batch.
    ids = model.tokenize([r.narrative for r in rows])
    np.testing.assert_array_equal(model.predict(model.prepare(rows, ids)), probs)


def test_saving_again_gives_the_same_version(tmp_path: Path, table: FeatureTable) -> None:
    a = save(untrained_artifacts(table), tmp_path / "a")
    b = save(untrained_artifacts(table), tmp_path / "b")
    assert a == b
    result = untrained_artifacts(table)
    with torch.no_grad():
        next(result.module.parameters()).add_(1.0)
    assert save(result, tmp_path / "c") != a


def test_tampered_weights_are_refused_naming_the_file(folder: Path) -> None:
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0x01
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match=r"model\.safetensors.*sha256"):
        load_model(folder, device="cpu")


@pytest.mark.parametrize(
    "name", ["model.safetensors", "tokenizer.json", "calibration.json", "manifest.json"]
)
def test_missing_file_is_refused_naming_the_file(folder: Path, name: str) -> None:
    (folder / name).unlink()
    with pytest.raises(ModelFolderError, match=name.replace(".", r"\.")):
        load_model(folder, device="cpu")


@pytest.mark.parametrize("name", ["pytorch_model.bin", "extra.pkl", "optimizer.pt"])
def test_a_pickle_in_the_folder_is_refused(folder: Path, name: str) -> None:
    (folder / name).write_bytes(b"\x80\x04K\x01.")  # pickle of the int 1
    with pytest.raises(ModelFolderError, match=name.replace(".", r"\.")):
        read_folder(folder)


def test_edited_json_is_refused(folder: Path) -> None:
    thresholds = json.loads((folder / "thresholds.json").read_text())
    thresholds["alert"] = 0.0
    (folder / "thresholds.json").write_text(json.dumps(thresholds))
    with pytest.raises(ModelFolderError, match=r"thresholds\.json"):
        load_model(folder, device="cpu")


def test_loading_never_unpickles(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickling during load")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    load_model(folder, device="cpu")


def test_refuses_to_overwrite_a_folder_that_is_not_a_model(
    tmp_path: Path, table: FeatureTable
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(ModelFolderError, match="not a model folder"):
        save(untrained_artifacts(table), tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_metadata_only_model_without_narratives(tmp_path: Path) -> None:
    table = toy_table(600, narrative=False)
    result = untrained_artifacts(table)
    assert result.tokenizer is None and result.config.text is None
    save(result, tmp_path / "m")
    assert not (tmp_path / "m" / "tokenizer.json").exists()
    model = load_model(tmp_path / "m", device="cpu")
    rows = rows_of(toy_events(10, narrative=False))
    batch = model.prepare(rows)
    assert batch.input_ids is None and batch.num_tokens == 0
    assert model.predict(batch).shape == (10,)
    reasons = model.explain(batch, [0, 1])
    assert len(reasons) == 2 and all(r.code != "narrative" for rs in reasons for r in rs)


def test_device_and_threshold_properties(folder: Path) -> None:
    model = load_model(folder, device="auto")
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert model.bands.review == model.threshold <= model.bands.block
    assert model.spec == FeatureSpec.native()
    assert len(model.predict(model.prepare([]))) == 0


# ---- training -----------------------------------------------------------------------------------


def weights_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.slow
def test_training_is_deterministic_for_a_seed() -> None:
    table = toy_table(700, seed=3)
    split = choose_split(table)
    options = TrainOptions(epochs=1, batch_size=64, progress=False, seed=7)
    a = fit(table, split, options, log=lambda _: None)
    b = fit(table, split, options, log=lambda _: None)
    assert weights_digest(a.module) == weights_digest(b.module)
    assert a.tokenizer is not None and b.tokenizer is not None
    assert a.tokenizer.to_str() == b.tokenizer.to_str()
    c = fit(
        table,
        split,
        TrainOptions(epochs=1, batch_size=64, progress=False, seed=8),
        log=lambda _: None,
    )
    assert weights_digest(c.module) != weights_digest(a.module)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, table: FeatureTable) -> Path:
    out = tmp_path_factory.mktemp("trained") / "model"
    result = fit(
        table,
        choose_split(table),
        TrainOptions(epochs=4, batch_size=64, progress=False),
        log=lambda _: None,
    )
    save(result, out)
    return out


@pytest.mark.slow
def test_trained_model_separates_and_explains_in_words(trained: Path) -> None:
    model = load_model(trained, device="cpu")
    events = toy_events(300, seed=11)
    rows = rows_of(events)
    batch = model.prepare(rows)
    probs = model.predict(batch)
    labels = np.array([e.label for e in events])
    assert probs[labels == 1].mean() > probs[labels == 0].mean() + 0.3
    # The toy frauds differ in their metadata too (country, device, amount), so the narrative is
    # not always among a row's three strongest reasons: look at the top 30.
    top = [int(i) for i in np.argsort(-probs)[:30]]
    explained = model.explain(batch, top)
    assert len(explained) == 30
    for reasons in explained:
        assert 1 <= len(reasons) <= 3
        weights = [r.weight for r in reasons]
        assert weights == sorted(weights, reverse=True) and weights[0] > 0
        for r in reasons:
            assert r.text and not r.text.startswith(("account_", "is_"))  # words, not names
    texts = [r.text for reasons in explained for r in reasons]
    assert any(t.startswith("narrative mentions '") for t in texts), texts
    assert model.explain(batch, []) == []


@pytest.mark.slow
def test_the_memo_is_a_reason_only_where_it_moved_the_score(trained: Path) -> None:
    """Narrative reasons are measured against the same payment without a memo: one is given
    exactly where removing the memo lowers the logit by NARRATIVE_MIN_WEIGHT or more (and the
    narrative is among the strongest three), with that drop as its weight."""
    model = load_model(trained, device="cpu")
    rows = rows_of(toy_events(400, seed=17))
    batch = model.prepare(rows)
    logits = model.logits(batch)
    top = [int(i) for i in np.argsort(-logits)[:60]]
    explained = model.explain(batch, top)
    blank = [dataclasses.replace(rows[i], narrative="") for i in top]
    moved = logits[top] - model.logits(model.prepare(blank))
    with_reason = 0
    for reasons, drop in zip(explained, moved, strict=True):
        narrative = [r for r in reasons if r.code == NARRATIVE]
        if narrative:
            with_reason += 1
            assert drop >= NARRATIVE_MIN_WEIGHT - 1e-3
            assert narrative[0].weight == pytest.approx(drop, abs=1e-3)
        elif drop >= NARRATIVE_MIN_WEIGHT:
            # not a reason only because three stronger ones were given
            assert len(reasons) == 3 and min(r.weight for r in reasons) >= drop - 1e-3
    assert with_reason > 0  # the toy scams' memos ("gift card") do move the score
    assert with_reason < len(top)  # and the legitimate memos of the riskiest payments do not


@pytest.mark.slow
def test_predict_explain_is_predict_then_explain_in_one_pass(trained: Path) -> None:
    model = load_model(trained, device="cpu")
    rows = rows_of(toy_events(200, seed=13))
    batch = model.prepare(rows, model.tokenize([r.narrative for r in rows]))
    probs = model.predict(batch)
    threshold = float(np.sort(probs)[-6])  # the top six alert
    alerts = [i for i, p in enumerate(probs) if p >= threshold]
    assert len(alerts) >= 6
    got_probs, got, _ = model.predict_explain(batch, threshold)
    np.testing.assert_allclose(got_probs, probs, rtol=1e-6, atol=1e-7)
    assert sorted(got) == alerts
    want = model.explain(batch, alerts)
    for i, reasons in zip(alerts, want, strict=True):
        assert [r.code for r in got[i]] == [r.code for r in reasons]
        assert [r.text for r in got[i]] == [r.text for r in reasons]
        np.testing.assert_allclose(
            [r.weight for r in got[i]], [r.weight for r in reasons], rtol=1e-4, atol=1e-6
        )
    assert model.predict_explain(batch, 1.01)[1] == {}


@pytest.mark.slow
def test_fine_tuning_from_a_folder_keeps_its_vocabulary(trained: Path, table: FeatureTable) -> None:
    init = load_model(trained, device="cpu")
    result = fit(
        table,
        choose_split(table),
        TrainOptions(epochs=1, progress=False),
        init=init,
        log=lambda _: None,
    )
    assert result.tokenizer is not None
    assert result.tokenizer.to_str() == init.tokenizer.to_str()
    assert result.preprocessor.vocabs == init.preprocessor.vocabs


@pytest.mark.slow
def test_train_command_writes_a_loadable_folder(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fraudstream.model.train_cli import train
    from fraudstream.synth import SynthConfig, generate, to_json_line

    data = tmp_path / "synth.jsonl"
    with open(data, "wb") as f:
        for record in generate(2500, SynthConfig(seed=1, fraud_rate=0.08, accounts=200)):
            f.write(to_json_line(record))
    out = tmp_path / "model"
    result = CliRunner().invoke(
        train,
        [
            "--data",
            str(data),
            "--mapping",
            "native",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--quiet",
            "--json",
            "--seed",
            "3",
            "--alert-budget",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    model = load_model(out, device="cpu")
    assert summary["version"] == model.version
    card = model.card
    assert card["data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert card["seed"] == 3 and card["thresholds"]["policy"] == "alert_budget"
    assert {"torch", "transformers", "tokenizers"} <= set(card["libraries"])
    assert "validation" in card["metrics"] and card["split"]["name"] == "time"
    assert card["metrics"]["distill"] == 0.5  # narratives: distilled from stage 1 by default
    # The cascade's stage 1 and band are part of the folder, hash-checked like the rest.
    manifest = json.loads((out / MANIFEST).read_text())
    assert {"gbdt.txt", "gbdt.json", "cascade.json"} <= set(manifest["files"])
    band = json.loads((out / "cascade.json").read_text())["band"]
    assert 0 <= band[0] < band[1]
    # The narratives it ships for the processor's memory to start with: only ones written by at
    # least 3 accounts, each with the text logit the language model gives it, and a processor
    # with the folder starts with them.
    from fraudstream.config import Settings
    from fraudstream.model import known_narratives
    from fraudstream.model.served import FolderScorer
    from fraudstream.runtime.loader import load_scoring
    from fraudstream.text import model_text

    assert known_narratives.KNOWN_FILE in manifest["files"]
    known = known_narratives.read(out)
    assert known
    writers: dict[str, set[str]] = {}
    for line in data.read_bytes().splitlines():
        record = json.loads(line)
        writers.setdefault(model_text(record["narrative"]), set()).add(record["account_id"])
    assert min(len(writers[t]) for t, _ in known) >= known_narratives.MIN_PAYERS
    assert len(known) < len(writers)  # one-off memos are not shipped
    served = FolderScorer(out, device="cpu", threads=1).text_logits([t for t, _ in known])
    np.testing.assert_allclose([served[t] for t, _ in known], [x for _, x in known], atol=1e-3)
    scoring, _ = load_scoring(Settings(model_path=out, model_process=False, torch_threads=1))
    assert scoring.memory is not None
    assert scoring.memory.stats()["preloaded"] == len(known)
    assert scoring.memory.risk(known[0][0]) == known[0][1]
    scoring.close()
    # unread narratives always go to the language model; the band adds at most 20% of the traffic
    cascade_figures = summary["cascade"]
    assert 0 < cascade_figures["validation_share_unread"] < 1
    assert (
        cascade_figures["validation_share_to_language_model"]
        <= cascade_figures["validation_share_unread"] + 0.2
    )
    # `evaluate --cascade` runs the folder's own stage 1 and band, as the processor would.
    from fraudstream.model.evaluate_cli import evaluate

    args = ["--model", str(out), "--data", str(data), "--mapping", "native", "--cascade"]
    result = CliRunner().invoke(evaluate, [*args, "--json"])
    assert result.exit_code == 0, result.output
    cascade = json.loads(result.stdout)["cascade"]
    assert cascade["stage1"] == "model folder" and cascade["status"] == "ok"
    assert cascade["band"][0] == band[0]
    assert cascade["ap"] is not None and cascade["ap_stage1_alone"] is not None
    assert 0.0 <= cascade["share_to_language_model"] <= 1.0
    (out / "cascade.json").write_text(json.dumps({"band": [0.0, 2.0]}))
    with pytest.raises(ModelFolderError, match=r"cascade\.json"):
        load_model(out, device="cpu")


@pytest.mark.slow
def test_default_model_builds_from_synthetic_data(tmp_path: Path) -> None:
    from fraudstream.model.train_folder import build_default_model

    out = build_default_model(tmp_path / "default", count=3000, seed=2)
    model = load_model(out, device="cpu")
    assert model.preset == "minilm" and model.has_text
    assert model.card["command"].startswith("fraudstream.model.train_folder.build_default_model(")
    assert model.card["data"]["mapping"] == "native"


def test_out_of_fold_teacher_scores_every_training_row_from_the_other_folds(
    table: FeatureTable,
) -> None:
    """The distillation teacher: finite logits for each training row, and they rank (metadata
    separates the toy frauds: amount, new device, country)."""
    from fraudstream.model.distill import out_of_fold_logits
    from fraudstream.model.metrics import roc_auc

    split = choose_split(table)
    oof = out_of_fold_logits(table, split.train, split.validation, TrainOptions(distill_folds=3))
    assert oof.shape == (split.train.size,) and np.isfinite(oof).all()
    assert roc_auc(table.labels[split.train], oof) > 0.8


def test_bench_model_times_a_model_folder(trained: Path) -> None:
    """Inputs follow the folder's own shapes (features, categories, vocabulary, max length)."""
    from click.testing import CliRunner

    from fraudstream.model.bench_cli import bench_model

    args = ["--model", str(trained), "--lengths", "synth", "--batch-sizes", "4"]
    result = CliRunner().invoke(
        bench_model, [*args, "--seconds", "0.01", "--repeats", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["setup"]["model"] == str(trained)
    assert report["results"][0]["optimised_tx_s"] > 0


# ---- the model in a child process ------------------------------------------------------------


@pytest.mark.slow
def test_model_process_scores_and_explains_like_the_model_in_process(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudstream.runtime.model_process import (
        RESTART_BACKOFF_S,
        ModelProcess,
        ModelProcessError,
        RemoteBatch,
    )

    model = load_model(trained, device="cpu")
    rows = rows_of(toy_events(120, seed=5))
    token_ids = model.tokenize([r.narrative for r in rows])
    local = model.prepare(rows, token_ids)
    expected = model.predict(local)
    top = [int(i) for i in np.argsort(-expected)[:4]]

    monkeypatch.setenv("FRAUDSTREAM_KAFKA_SASL_PASSWORD", "hunter2-child")
    remote = ModelProcess(trained, device="cpu", threads=1)
    try:
        assert remote.version == model.version
        # the child does not inherit the processor's secrets (it reads a model folder only)
        environ = Path(f"/proc/{remote._proc.pid}/environ")
        if environ.exists():
            assert b"hunter2-child" not in environ.read_bytes()
        assert os.environ["FRAUDSTREAM_KAFKA_SASL_PASSWORD"] == "hunter2-child"
        batch = RemoteBatch(rows, token_ids)
        np.testing.assert_allclose(remote.predict(batch), expected, rtol=1e-5, atol=1e-6)
        got = remote.explain(batch, top)
        want = model.explain(local, top)
        assert [[r.text for r in rs] for rs in got] == [[r.text for r in rs] for rs in want]
        assert remote.explain(batch, []) == [] and len(remote.predict(RemoteBatch([], []))) == 0
        # the stream's call: scores and the alerting rows' reasons in one round trip
        threshold = float(expected[top[-1]])
        probs, reasons, _ = remote.predict_explain(batch, threshold)
        np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
        assert sorted(reasons) == sorted(top)
        assert [r.text for r in reasons[top[0]]] == [r.text for r in want[0]]
        # a request the model cannot serve is an error in the caller, and the process goes on
        with pytest.raises(ModelProcessError, match="IndexError"):
            remote.explain(batch, [len(rows) + 5])
        np.testing.assert_allclose(remote.predict(batch), expected, rtol=1e-5, atol=1e-6)
        # a process that died is started again, and the request that found it dead is served
        remote._proc.kill()
        remote._proc.join(10)
        np.testing.assert_allclose(remote.predict(batch), expected, rtol=1e-5, atol=1e-6)
        assert remote.restarts == 1
        # dying again at once: the next restart backs off, and meanwhile requests fail fast
        # (the processor falls back to stage 1), never hang
        remote._proc.kill()
        remote._proc.join(10)
        with pytest.raises(ModelProcessError, match="backoff"):
            remote.predict(batch)
        time.sleep(RESTART_BACKOFF_S[1] + 0.1)
        np.testing.assert_allclose(remote.predict(batch), expected, rtol=1e-5, atol=1e-6)
        assert remote.restarts == 2
    finally:
        remote.close()
    assert not remote._proc.is_alive()


def test_model_process_refuses_a_broken_folder(folder: Path) -> None:
    from fraudstream.runtime.model_process import ModelProcess, ModelProcessError

    (folder / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelProcessError, match=r"could not load .*model\.safetensors"):
        ModelProcess(folder, device="cpu", threads=1)
