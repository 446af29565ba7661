"""`fraudstream compare-models`: the champion's scores against the challenger's (shadow mode).

Reads the scores topic and the shadow topic, pairs the records by transaction id (the latest of
each side when a replay repeated one), and reports, over the pairs:

* agreement: the share of transactions both put in the same band, and both alerted or not;
* score shift: the challenger's score minus the champion's, mean and quantiles;
* the alerts each would have raised (band review or block): counts, both, only one of them.

Each record names its model version; the report lists the versions seen on each side (a hot swap
during the window shows as two champion versions).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import click
import numpy as np
import orjson

from fraudstream.cli_common import build_settings, friendly_errors, settings_options

ALERT_BANDS = frozenset({"review", "block"})


def compare(champion: list[dict[str, Any]], challenger: list[dict[str, Any]]) -> dict[str, Any]:
    """The report (a plain dict) from two lists of risk-score records."""
    a = {r["transaction_id"]: r for r in champion}
    b = {r["transaction_id"]: r for r in challenger}
    both = sorted(a.keys() & b.keys())
    diff = np.array([b[t]["score"] - a[t]["score"] for t in both], dtype=np.float64)
    alert_a = {t for t in both if a[t]["band"] in ALERT_BANDS}
    alert_b = {t for t in both if b[t]["band"] in ALERT_BANDS}
    n = len(both)
    qs = (0.01, 0.05, 0.5, 0.95, 0.99)
    return {
        "champion_versions": dict(Counter(r["model_version"] for r in a.values())),
        "challenger_versions": dict(Counter(r["model_version"] for r in b.values())),
        "champion_records": len(a),
        "challenger_records": len(b),
        "paired": n,
        "only_champion": len(a.keys() - b.keys()),
        "only_challenger": len(b.keys() - a.keys()),
        "agreement": {
            "band": sum(a[t]["band"] == b[t]["band"] for t in both) / n if n else None,
            "alert": (n - len(alert_a ^ alert_b)) / n if n else None,
        },
        "score_shift": {
            "mean": float(diff.mean()) if n else None,
            "mean_abs": float(np.abs(diff).mean()) if n else None,
            "quantiles": {f"p{round(q * 100)}": float(np.quantile(diff, q)) for q in qs}
            if n
            else {},
        },
        "alerts": {
            "champion": len(alert_a),
            "challenger": len(alert_b),
            "both": len(alert_a & alert_b),
            "only_champion": len(alert_a - alert_b),
            "only_challenger": len(alert_b - alert_a),
        },
    }


def render(report: dict[str, Any]) -> str:
    ag, sh, al = report["agreement"], report["score_shift"], report["alerts"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f}%"

    lines = [
        f"champion   {report['champion_versions']}  ({report['champion_records']:,} scores)",
        f"challenger {report['challenger_versions']}  ({report['challenger_records']:,} scores)",
        f"paired     {report['paired']:,}  (only champion {report['only_champion']:,}, "
        f"only challenger {report['only_challenger']:,})",
        f"agreement  band {pct(ag['band'])}, alert/no alert {pct(ag['alert'])}",
    ]
    if sh["mean"] is not None:
        q = "  ".join(f"{k} {v:+.4f}" for k, v in sh["quantiles"].items())
        lines.append(
            f"score shift (challenger - champion): mean {sh['mean']:+.4f}, "
            f"mean |d| {sh['mean_abs']:.4f}; {q}"
        )
    lines.append(
        f"alerts     champion {al['champion']:,}, challenger {al['challenger']:,}, "
        f"both {al['both']:,}, only champion {al['only_champion']:,}, "
        f"only challenger {al['only_challenger']:,}"
    )
    return "\n".join(lines)


@click.command("compare-models")
@settings_options
@click.option("--scores-topic", default=None, help="Champion scores (default: topics.scores).")
@click.option("--shadow-topic", default=None, help="Challenger scores (default: topics.shadow).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@friendly_errors
def compare_models(
    config_file: str | None,
    bootstrap: str | None,
    scores_topic: str | None,
    shadow_topic: str | None,
    as_json: bool,
) -> None:
    """Compare the champion's and the shadow challenger's scores on the same transactions."""
    settings = build_settings(
        config_file,
        {
            "kafka.bootstrap": bootstrap,
            "topics.scores": scores_topic,
            "topics.shadow": shadow_topic,
        },
    )

    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        from fraudstream.stream.audit import read_topic
        from fraudstream.stream.clients import check_connection

        await check_connection(settings.kafka)
        out = []
        for topic in (settings.topics.scores, settings.topics.shadow):
            try:
                records = await read_topic(settings.kafka, topic, timeout=120)
            except TimeoutError:
                raise click.ClickException(
                    f"topic {topic!r} not found; fix: run the processor with shadow_model_path "
                    "set, or name the topics with --scores-topic / --shadow-topic"
                ) from None
            out.append([orjson.loads(r.value) for r in records if r.value])
        return out[0], out[1]

    champion, challenger = asyncio.run(read())
    report = compare(champion, challenger)
    if as_json:
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render(report))
