"""Micro-benchmark: what the processor's event loop spends per record, stage by stage, with the
real model's bricks and no Kafka (the same pure core the processor and the Faust engine run).

    python -m loadtest.bench_pipeline [--model DIR] [--records 20000] [--chunk 200]

Stages, in the order the fetch loop runs them: decode (orjson), validate (schema rules), map (to
an Event), admit (the rest of `Admission.admit`: key, time and duplicate checks), state
(`FeatureState.process`), stage 1 (LightGBM on a fetched chunk), stage-1 reasons (SHAP, for the
records that alert on stage 1), score record (building the output dict + orjson), changelog (dump
of the entities a commit writes), and the language model (tokenise, prepare, predict, explain) for
the share of records the cascade sends it, at the batch sizes given. Thread CPU time per record:
a loaded machine inflates wall time, not this.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fraudstream.config import Settings
from fraudstream.features import FeatureState
from fraudstream.mapping import Mapping
from fraudstream.pipeline import (
    Admission,
    AdmissionRules,
    Decision,
    InputRecord,
    Work,
    band_of,
    score_record,
)
from fraudstream.records import check_transaction, decode_json
from loadtest.data import synthetic


def cpu() -> float:
    return time.thread_time()


def timed(fn: Callable[[], Any], n: int) -> tuple[float, Any]:
    """Thread CPU microseconds per item for `fn()` that handles `n` items."""
    t0 = cpu()
    out = fn()
    return (cpu() - t0) / max(n, 1) * 1e6, out


def run(model: str | None, records: int, chunk: int, batches: list[int]) -> dict[str, Any]:
    from fraudstream.runtime.loader import load_scoring

    settings = Settings(model_path=Path(model) if model else None, device="cpu")
    scoring, spec = load_scoring(settings)
    mapping = Mapping.load("native")
    raw = [orjson.dumps(r) for r in synthetic(records, seed=11)]
    keys = [orjson.loads(v)["account_id"].encode() for v in raw]
    costs: dict[str, float] = {}

    costs["decode"], docs = timed(
        lambda: [decode_json(v, max_bytes=1_000_000) for v in raw], records
    )
    # what admission runs for a native record: the schema once, then the mapping on its result
    costs["validate"], stamps = timed(
        lambda: [check_transaction(d, strict=False) for d in docs], records
    )
    costs["map"], _ = timed(
        lambda: [mapping.checked_event(d, t) for d, t in zip(docs, stamps, strict=True)],
        records,
    )

    admission = Admission(mapping, AdmissionRules(max_event_age_s=1e12))
    state = FeatureState(spec)
    recs = [InputRecord("tx", 0, i, 0, keys[i], v) for i, v in enumerate(raw)]
    now = time.monotonic()
    wall = time.time()
    t_state = 0.0
    works: list[Work] = []
    t0 = cpu()
    for rec in recs:
        out = admission.admit(rec, state, now=now, wall_now=wall)
        assert isinstance(out, Work), out
        t_state += out.timings["state"]
        works.append(out)
    total = (cpu() - t0) / records * 1e6
    # `admit` times its state step with the (injected) clock: here `now` is fixed, so measure the
    # state step again alone on a fresh state.
    fresh = FeatureState(spec)
    costs["state"], _ = timed(
        lambda: [fresh.process(w.event, i) for i, w in enumerate(works)], records
    )
    costs["admit (checks, Work)"] = max(
        0.0, total - costs["decode"] - costs["validate"] - costs["map"] - costs["state"]
    )

    rows = [w.row for w in works]
    s1_total = 0.0
    scores_parts = []
    for i in range(0, records, chunk):
        part_rows = rows[i : i + chunk]
        us, part = timed(lambda: scoring.stage1(part_rows), 1)  # noqa: B023 (called at once)
        s1_total += us
        scores_parts.append(part)
    stage1 = np.concatenate(scores_parts) if scores_parts[0] is not None else None
    costs[f"stage 1 (chunks of {chunk})"] = s1_total / records
    threshold = scoring.alert_threshold
    to_lm = np.zeros(records, dtype=bool)
    alerts_s1: list[int] = []
    if stage1 is not None and scoring.band is not None:
        low, high = scoring.band
        to_lm = (stage1 >= low) & (stage1 < high)
        alerts_s1 = [i for i in range(records) if not to_lm[i] and stage1[i] >= threshold]
    elif stage1 is None:
        to_lm[:] = True
    if alerts_s1:
        us, _ = timed(lambda: scoring.stage1_reasons([rows[i] for i in alerts_s1]), len(alerts_s1))
        costs["stage-1 reasons, per record"] = us * len(alerts_s1) / records
    decision = Decision(0.01, band_of(0.01, threshold, 0.9), [], scoring.version, "stage1", False)

    def emit() -> None:
        for w in works:
            w.timings.update(queue=0.0, inference=0.0, produce=0.0)
            orjson.dumps(score_record(w, decision, now_ms=1))

    costs["score record + json"], _ = timed(emit, records)
    dirty = list(state.dirty())
    us, _ = timed(lambda: [state.dump(r, k) for r, k in dirty], len(dirty))
    costs["changelog dump, per record"] = us * len(dirty) / records
    doc: dict[str, Any] = {
        "model": scoring.version,
        "records": records,
        "entities_dirty": len(dirty),
        "share_to_language_model": round(float(to_lm.mean()), 4),
        "share_alert_on_stage1": round(len(alerts_s1) / records, 4),
        "event_loop_us_per_record": {k: round(v, 1) for k, v in costs.items()},
    }
    doc["event_loop_us_total"] = round(sum(costs.values()), 1)

    lm: dict[str, Any] = {}
    lm_works = [w for i, w in enumerate(works) if to_lm[i]] or works
    narratives = [w.event.narrative for w in works]
    us, token_ids = timed(lambda: scoring.tokenize(narratives), records)
    lm["tokenize_us_per_record"] = round(us, 1)
    for size in batches:
        batch = (lm_works * (size // max(len(lm_works), 1) + 1))[:size]
        ids = token_ids[:size]
        per: list[tuple[float, float, float]] = []
        for _ in range(4):
            t0 = time.perf_counter()
            prepared = scoring.prepare([w.row for w in batch], ids)
            t1 = time.perf_counter()
            probs = scoring.predict(prepared)
            t2 = time.perf_counter()
            alerts = [i for i, p in enumerate(probs) if p >= threshold]
            if alerts:
                scoring.explain(prepared, alerts)
            per.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
        prep, pred, expl = (float(np.median([p[j] for p in per[1:]])) * 1e3 for j in range(3))
        lm[f"batch {size}"] = {
            "prepare_ms": round(prep, 2),
            "predict_ms": round(pred, 2),
            "explain_ms": round(expl, 2),
            "us_per_record": round((prep + pred + expl) / size * 1e3, 1),
        }
    doc["language_model"] = lm
    doc["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_pipeline")
    parser.add_argument("--model", default=None, help="Model folder (default: the default model)")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=200, help="Records per fetched chunk.")
    parser.add_argument("--batches", default="1,8,64,256", help="Language-model batch sizes.")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # as the processor sets it
    batches = [int(b) for b in args.batches.split(",") if b]
    print(
        orjson.dumps(
            run(args.model, args.records, args.chunk, batches), option=orjson.OPT_INDENT_2
        ).decode()
    )


if __name__ == "__main__":
    main()
