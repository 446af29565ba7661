"""`fraudstream bench-model`: how fast the classifier scores, optimised path next to plain eager.

Theory of operation
-------------------
One run builds one model (a preset with random weights, or a model folder), one set of inputs
per narrative-length setting, and times two paths over exactly the same rows:

- **eager**: the module as trained, fp32, under `torch.no_grad()`, rows taken in arrival order and
  each batch padded to its longest narrative (what a plain PyTorch service does);
- **optimised**: a copy of the module in bf16 where the hardware has bf16 kernels (CUDA, or a
  CPU that oneDNN says supports bf16; `--dtype` overrides) for batches of at least
  `BF16_MIN_TOKENS` token slots (on CPU, smaller batches stay fp32: casting costs more than bf16
  matmuls save there, measured), under `torch.inference_mode()`, rows
  grouped by token length so a batch holds narratives of one length bucket (padding is the
  text tower's waste, and few distinct shapes keep compiled kernels and CUDA graphs reusable),
  optionally `torch.compile` (CUDA: mode `reduce-overhead`, i.e. CUDA graphs), inputs in pinned
  host memory copied asynchronously on CUDA.

Model-only: token ids are made up front (random ids with the lengths of the setting) and the
clock covers the forward pass and the copy of the scores back to the host. A length setting is
either a fixed token count (every narrative that long) or `synth`: the token lengths of the
synthetic generator's narratives under the model's tokenizer (or one trained on them).

Figures are throughput (transactions/s) and milliseconds per batch, medians of `repeats`
timed passes, each at least `seconds` long. On a shared machine the ratio between the two paths,
taken in the same run, is the figure to trust.

The model and the inputs it is timed on (`preset_module`, `synthetic_lengths`, the random rows
and their batches) are made in `model/bench_inputs.py`.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fraudstream.model.bench_inputs import (
    Inputs,
    make_batches,
    preset_module,
    random_inputs,
    synthetic_lengths,
)
from fraudstream.model.classifier import set_threads

# On a 2-core EPYC at 16 tokens: bf16 was slower than fp32 at batch 4 (64 slots), faster from 16.
BF16_MIN_TOKENS = 128


@dataclass(frozen=True)
class BenchOptions:
    preset: str = "tiny"
    model_dir: Path | None = None
    device: str = "auto"
    dtype: str = "auto"
    """auto: bf16 on CUDA and on CPUs with bf16 kernels, else fp32; or fp32, bf16."""
    batch_sizes: tuple[int, ...] = (1, 16, 64, 256)
    lengths: tuple[str, ...] = ("8", "16", "32", "synth")
    compile: bool | None = None
    """None: on for CUDA, off for CPU (compiling takes tens of seconds per shape on CPU)."""
    threads: int | None = 1
    seconds: float = 0.5
    repeats: int = 3
    rows: int = 4096
    seed: int = 0


@dataclass
class BenchResult:
    setup: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if name != "auto":
        raise ValueError(f"--dtype {name!r}: choose auto, fp32 or bf16")
    if device.type == "cuda":
        return torch.bfloat16
    # Without native bf16 (AVX512-BF16 / AMX), bf16 matmuls are emulated and slower than fp32.
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32


def _time(run: Any, batches: Sequence[Any], seconds: float, repeats: int, sync: Any) -> float:
    """Median seconds per batch over `repeats` passes of at least `seconds` each."""
    for b in batches[: min(len(batches), 3)]:
        run(b)
    sync()
    per_batch: list[float] = []
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while True:
            run(batches[done % len(batches)])
            done += 1
            if done >= len(batches) or time.perf_counter() - start >= seconds:
                sync()
                if time.perf_counter() - start >= seconds:
                    break
        per_batch.append((time.perf_counter() - start) / done)
    return statistics.median(per_batch)


def run_bench(options: BenchOptions, log: Any = None) -> BenchResult:
    from fraudstream.model.folder import load_model, resolve_device

    say = log or (lambda msg: None)
    set_threads(options.threads)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    use_compile = options.compile if options.compile is not None else device.type == "cuda"
    tokenizer = None
    if options.model_dir is not None:
        loaded = load_model(options.model_dir, device="cpu")
        eager = loaded.module
        tokenizer = loaded.tokenizer
        preset = loaded.config.preset
        if eager.text is None:
            raise ValueError(f"{options.model_dir}: the model has no text tower; nothing to time")
    else:
        preset = options.preset
        eager = preset_module(preset)
    assert eager.text is not None
    text_cfg = eager.config.text
    assert text_cfg is not None
    eager = eager.to(device).eval()
    for p in eager.parameters():
        p.requires_grad_(False)
    fast = copy.deepcopy(eager).to(dtype)
    min_tokens = 0 if device.type == "cuda" or dtype == torch.float32 else BF16_MIN_TOKENS
    # below min_tokens the optimised path stays fp32: the serving path in fp32
    small: Any = copy.deepcopy(eager) if min_tokens else fast
    # The baseline is transformers' BertModel as it comes; the optimised path starts from the
    # serving path (model/encoder.py: plain torch operations, traced on CPU).
    assert eager.text is not None and fast.text is not None and small.text is not None
    eager.text.reference = True
    if not use_compile:
        fast.text.trace_for_inference()
        small.text.trace_for_inference()
    runner: Any = fast
    if use_compile:
        mode = "reduce-overhead" if device.type == "cuda" else None
        runner = torch.compile(fast, mode=mode, dynamic=False)
        small = torch.compile(small, mode=mode, dynamic=False) if min_tokens else runner

    rng = np.random.default_rng(options.seed)
    cap = min(text_cfg.max_length, text_cfg.max_position_embeddings)
    synth = None
    setup: dict[str, Any] = {
        "preset": preset,
        "model": str(options.model_dir) if options.model_dir else "random weights",
        "parameters": sum(p.numel() for p in eager.parameters()),
        "device": _device_name(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "optimised": {
            "dtype": str(dtype).removeprefix("torch."),
            "fp32_below_token_slots": min_tokens,
            "inference_mode": True,
            "text_tower": "plain torch operations" + ("" if use_compile else ", traced on CPU"),
            "length_buckets": "sorted by length, padded to a multiple of 8",
            "compile": ("reduce-overhead (CUDA graphs)" if device.type == "cuda" else "inductor")
            if use_compile
            else False,
            "pinned_memory": device.type == "cuda",
        },
        "eager": {
            "dtype": "float32",
            "no_grad": True,
            "padding": "to the batch's longest",
            "text_tower": "transformers BertModel",
        },
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
    result = BenchResult(setup=setup)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def call(module: Any, b: tuple[torch.Tensor, ...], cast: torch.dtype) -> np.ndarray:
        ids, mask, num, cat = b
        if device.type == "cuda":
            ids, mask = ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)
            num, cat = num.to(device, non_blocking=True), cat.to(device, non_blocking=True)
        out: torch.Tensor = module(ids, mask, num.to(cast), cat)
        scores: np.ndarray = out.float().cpu().numpy()
        return scores

    def run_eager(b: tuple[torch.Tensor, ...]) -> np.ndarray:
        with torch.no_grad():
            return call(eager, b, torch.float32)

    def run_fast(b: tuple[torch.Tensor, ...]) -> np.ndarray:
        with torch.inference_mode():
            if b[0].numel() < min_tokens:
                return call(small, b, torch.float32)
            return call(runner, b, dtype)

    for setting in options.lengths:
        if setting == "synth":
            if synth is None:
                synth = synthetic_lengths(tokenizer, preset)
            lengths = rng.choice(synth, options.rows)
            setup["synth_lengths"] = {
                "mean": round(float(synth.mean()), 2),
                "p50": int(np.percentile(synth, 50)),
                "p99": int(np.percentile(synth, 99)),
                "max": int(synth.max()),
            }
        else:
            try:
                length = int(setting)
            except ValueError:
                raise ValueError(
                    f"--lengths: {setting!r} is not a token count or 'synth'"
                ) from None
            if not 2 <= length <= cap:
                raise ValueError(f"--lengths: {length} must be within 2..{cap} for this model")
            lengths = np.full(options.rows, length)
        inp = random_inputs(lengths, eager.config, rng)
        if device.type == "cuda":
            inp = Inputs(
                inp.ids.pin_memory(),
                inp.lengths,
                inp.numeric.pin_memory(),
                inp.categorical.pin_memory(),
            )
        # Same rows through both paths: how far the optimised scores drift from fp32 eager.
        check = make_batches(inp, min(256, options.rows), bucketed=False)[0]
        drift = float(np.abs(run_fast(check) - run_eager(check)).max())
        for bs in options.batch_sizes:
            if bs > options.rows:
                continue
            plain = make_batches(inp, bs, bucketed=False)
            bucketed = make_batches(inp, bs, bucketed=True)
            t_eager = _time(run_eager, plain, options.seconds, options.repeats, sync)
            t_fast = _time(run_fast, bucketed, options.seconds, options.repeats, sync)
            row = {
                "lengths": setting,
                "batch_size": bs,
                "eager_tx_s": round(bs / t_eager, 1),
                "eager_ms_batch": round(t_eager * 1e3, 3),
                "optimised_tx_s": round(bs / t_fast, 1),
                "optimised_ms_batch": round(t_fast * 1e3, 3),
                "speedup": round(t_eager / t_fast, 2),
                "max_logit_diff": round(drift, 5),
            }
            result.rows.append(row)
            say(
                f"lengths {setting:>5}  batch {bs:4d}  eager {row['eager_tx_s']:>10,.0f} tx/s "
                f"{row['eager_ms_batch']:8.2f} ms  optimised {row['optimised_tx_s']:>10,.0f} tx/s "
                f"{row['optimised_ms_batch']:8.2f} ms  x{row['speedup']:.2f}"
            )
    return result


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"cpu: {name}, {os.cpu_count()} logical cores"


def bench_cache(
    model_dir: Path,
    *,
    count: int = 20_000,
    batch_size: int = 64,
    cache_size: int = 50_000,
    seed: int = 7,
    threads: int | None = 1,
    log: Any = None,
) -> dict[str, Any]:
    """The model folder's language model over `count` generated transactions in arrival order,
    in batches of `batch_size`, without and with the narrative cache (`folder.py`: text vectors
    by normalised narrative, `cache_size` entries), end to end per batch (padding, tensors,
    forward pass, scores back). Repeated statement descriptors cost a lookup with the cache;
    the figure is what the stream's repetition is worth. Transactions/s of both, in one run."""
    from fraudstream.cascade import LRU
    from fraudstream.events import Event
    from fraudstream.features.dataset import build_features
    from fraudstream.mapping import Mapping
    from fraudstream.model.served import FolderScorer
    from fraudstream.synth import SynthConfig, generate

    say = log or (lambda _msg: None)
    out: dict[str, Any] = {"transactions": count, "batch_size": batch_size, "seed": seed}
    table = None
    for size in (0, cache_size):
        scorer = FolderScorer(model_dir, device="cpu", threads=threads, narrative_cache=size)
        if table is None:
            to_event = Mapping.load("native").to_event
            events = (to_event(r) for r in generate(count, SynthConfig(seed=seed)))
            table = build_features(
                (e for e in events if isinstance(e, Event)), scorer.model.spec, label_delay_s=None
            )
        rows = np.arange(len(table))
        scorer.score(table, rows[: batch_size * 4], batch_size=batch_size)  # warm-up, untimed
        if size:
            scorer.model.narrative_cache = LRU(size)  # and forget what the warm-up read
        start = time.perf_counter()
        scorer.score(table, rows, batch_size=batch_size)
        seconds = time.perf_counter() - start
        cache = scorer.model.narrative_cache
        key = "with_cache" if size else "without_cache"
        out[key] = {
            "cache_size": size,
            "tx_per_s": round(count / seconds, 1),
            "seconds": round(seconds, 2),
            **({} if cache is None else {"hit_rate": round(cache.stats()["hit_rate"], 4)}),
        }
        say(f"{key.replace('_', ' ')}: {out[key]}")
    out["speedup"] = round(out["with_cache"]["tx_per_s"] / out["without_cache"]["tx_per_s"], 2)
    return out
