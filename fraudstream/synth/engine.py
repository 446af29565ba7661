"""The event engine: the simulator's clock and event heap, and the writing of records.

`Simulator.records` is the loop (see the package docstring for the theory of operation): it
emits, in time order, what the organic arrivals (`organic.py`), the calendar
(`calendar_activity.py`) and the episodes on the heap (`typologies/`) write through
`Simulator.record` and `Simulator.transfer`.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import orjson

from fraudstream.synth import memos
from fraudstream.synth.calendar_activity import start_day
from fraudstream.synth.clock import DAY, WARMUP, unwarp, warp
from fraudstream.synth.config import SynthConfig
from fraudstream.synth.entities import Merchant, Payee, Persona
from fraudstream.synth.organic import P_BURST, SPECIAL, arrival
from fraudstream.synth.population import Population
from fraudstream.synth.rng import Rng, cumulate, recase
from fraudstream.synth.tables.merchants import CATEGORIES, REF_CHARS
from fraudstream.synth.tables.places import VPN_IP
from fraudstream.synth.typologies import EPISODES, MEAN_RECORDS
from fraudstream.synth.writer import fill_template

__all__ = ["Episode", "OneShot", "Simulator", "generate", "to_json_line"]

Episode = Iterator[float]
"""A live episode: a generator of the times at which it wants to act (it writes records then)."""
OneShot = tuple[Callable[..., None], tuple[Any, ...]]
"""A single action on the heap: `(function, args)`, called as `function(simulator, t, *args)`."""


def generate(count: int, config: SynthConfig | None = None) -> Iterator[dict[str, Any]]:
    """`count` native transaction records in time order (Kafka key: `record["account_id"]`)."""
    if count < 0:
        raise ValueError("count must be non-negative")
    return islice(Simulator(config or SynthConfig()).records(), count)


def to_json_line(record: dict[str, Any]) -> bytes:
    """One record as compact JSON followed by a newline."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


class Simulator:
    """The running simulation: its random stream, the population, the event heap and the records
    written since the loop last emitted. Organic behaviour, the calendar and the typologies are
    functions of the simulator (`organic.py`, `calendar_activity.py`, `typologies/`)."""

    def __init__(self, config: SynthConfig) -> None:
        self.cfg = config
        self.rng = Rng(config.seed)
        self.out: list[dict[str, Any]] = []
        self.heap: list[tuple[float, int, Episode | None, OneShot | None]] = []
        self.seq = 0
        self.tx_prefix = f"tx-{config.seed}-"
        self.hour_key = -1
        self.hour_prefix = ""
        self.compromised: dict[str, tuple[float, float]] = {}
        """Card-present merchants of live `compromised_merchant` episodes: id -> (start, end)."""
        self.pop = Population(self.rng, config)
        self._calibrate()

    def _calibrate(self) -> None:
        """Probability, per organic arrival, of starting a fraud episode of each typology."""
        cfg = self.cfg
        organic_per_day = cfg.accounts * cfg.tx_per_account_day
        calendar_per_day = sum(len(v) for v in self.pop.monthly.values()) / 30.44
        calendar_per_day += sum(len(e[5]) for e in self.pop.employers) / 30.44
        extra = SPECIAL * P_BURST * 5.5  # benign bursts add ~5.5 records each
        benign = 1.0 + calendar_per_day / organic_per_day + extra
        odds = cfg.fraud_rate / (1.0 - cfg.fraud_rate)
        mean_len = MEAN_RECORDS
        mix = [(name, w) for name, w in cfg.fraud_mix if w > 0]
        inv = sum(w / mean_len[name] for name, w in mix)
        episodes_per_arrival = odds * benign * inv / sum(w for _, w in mix)
        self.p_fraud = episodes_per_arrival
        # which typology, given an episode starts: in proportion to weight / episode length
        self.fraud_names = [name for name, _ in mix]
        self.fraud_cum = cumulate([w / mean_len[name] for name, w in mix])
        self.rate = organic_per_day / DAY  # organic arrivals per (warped) second

    # ---- the loop -------------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        """The records in time order, numbered on the way out (see the package docstring)."""
        rng = self.rng
        heap = self.heap
        out = self.out
        # Start a day early and drop what happens before `start`, so that the stream opens in
        # steady state: episodes already under way, new phones and trips already in progress.
        t_start = self.cfg.start.timestamp()
        t0 = t_start - WARMUP
        lam = warp(t0)
        rate = self.rate
        lam += rng.expovariate(rate)
        next_org = unwarp(lam)
        midnight = (t0 // DAY) * DAY
        start_day(self, midnight, t0)
        midnight += DAY
        prefix = self.tx_prefix
        n = 0
        rnd = rng.random
        log = math.log
        mean_gap = 1.0 / rate
        while True:
            th = heap[0][0] if heap else math.inf
            if th <= next_org:
                if th >= midnight:
                    start_day(self, midnight, midnight)
                    midnight += DAY
                    continue
                t, _, episode, oneshot = heapq.heappop(heap)
                if episode is not None:
                    nt = next(episode, None)
                    if nt is not None:
                        self.push(max(nt, t), episode)
                elif oneshot is not None:
                    oneshot[0](self, t, *oneshot[1])
            else:
                if next_org >= midnight:
                    start_day(self, midnight, midnight)
                    midnight += DAY
                    continue
                t = next_org
                arrival(self, t)
                lam -= log(1.0 - rnd()) * mean_gap
                next_org = unwarp(lam)
            if out:
                if t >= t_start:
                    for record in out:
                        n += 1
                        record["transaction_id"] = f"{prefix}{n:010d}"
                        yield record
                out.clear()

    def push(self, t: float, episode: Episode | None, oneshot: OneShot | None = None) -> None:
        """Put an episode or a one-shot item on the heap at `t` (ties in the order pushed)."""
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, episode, oneshot))

    def start(self, episode: Episode) -> None:
        """Run `episode` to its first time and put it on the heap (if it has one)."""
        t = next(episode, None)
        if t is not None:
            self.push(t, episode)

    def start_fraud(self, t: float) -> None:
        """Start an episode of a fraud typology drawn from the calibrated mix."""
        cum = self.fraud_cum
        name = self.fraud_names[bisect_right(cum, self.rng.random() * cum[-1])]
        self.start(EPISODES[name](self, t))

    # ---- writing records ------------------------------------------------------------------------

    def stamp(self, t: float) -> str:
        """`t` as an RFC 3339 UTC timestamp with milliseconds (the hour part cached)."""
        ms = int(t * 1000.0)
        hour, ms = divmod(ms, 3_600_000)
        if hour != self.hour_key:
            self.hour_key = hour
            self.hour_prefix = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H:")
        m, ms = divmod(ms, 60_000)
        return f"{self.hour_prefix}{m:02d}:{ms // 1000:02d}.{ms % 1000:03d}Z"

    def record(
        self,
        t: float,
        account: str,
        amount: float,
        currency: str,
        narrative: str,
        channel: str,
        merchant: dict[str, str],
        fraud: int,
        typology: str,
        card: str | None = None,
        counterparty: dict[str, Any] | None = None,
        device: dict[str, str] | None = None,
        family: str | None = None,
    ) -> None:
        """Append one record to the output (its transaction id is set when it is emitted)."""
        rec: dict[str, Any] = {"transaction_id": "", "account_id": account}  # id set on the way out
        if card is not None:
            rec["card_id"] = card
        rec["timestamp"] = self.stamp(t)
        rec["amount"] = amount
        rec["currency"] = currency
        rec["narrative"] = narrative
        rec["channel"] = channel
        rec["merchant"] = merchant
        if counterparty is not None:
            rec["counterparty"] = counterparty
        if device is not None:
            rec["device"] = device
        rec["metadata"] = {"is_fraud": fraud, "typology": typology}
        if family is not None:
            rec["metadata"]["memo_family"] = family
        self.out.append(rec)

    def transfer(
        self,
        t: float,
        p: Persona,
        payee: Payee,
        amount: float,
        memo: str,
        fraud: int,
        typology: str,
        device: dict[str, str] | None,
        mcc: str = "4829",
        family: str | None = None,
    ) -> None:
        """A transfer from `p` to `payee`, new beneficiary or not (`p.known`, capped at 40)."""
        new = payee.account not in p.known
        if new:
            known = p.known
            known[payee.account] = None
            if len(known) > 40:
                del known[next(iter(known))]
        self.record(
            t,
            p.id,
            amount,
            p.currency,
            memo,
            "transfer",
            {"name": payee.name, "mcc": mcc, "country": payee.country},
            fraud,
            typology,
            counterparty={
                "name": payee.name,
                "account": payee.account,
                "country": payee.country,
                "new_beneficiary": new,
            },
            device=device,
            family=family,
        )

    def amount(self, cat: int, level: float, fx: float) -> float:
        """A card amount of category `cat`, for a spender of `level`, in units per EUR `fx`."""
        c = CATEGORIES[cat]
        return round(c[3] * level * math.exp(self.rng.gauss(0.0, c[4])) * fx, 2)

    def descriptor(self, m: Merchant) -> str:
        """The statement descriptor; some merchants add a per-purchase reference (AMZN*2K4HJ7)."""
        if m.ref:
            n = self.rng.getrandbits(30)
            a = REF_CHARS
            return f"{m.descriptor}{a[n & 31]}{a[n >> 5 & 31]}{a[n >> 10 & 31]}{a[n >> 15 & 31]}{a[n >> 20 & 31]}{a[n >> 25]}"
        return m.descriptor

    def device(self, p: Persona, t: float) -> dict[str, str]:
        """The device `p` uses at `t` (a new phone while it is new) and its IP country."""
        rng = self.rng
        dev = p.new_device or (p.devices[0] if rng.random() < 0.8 else rng.choice(p.devices))
        if p.travel_country and t < p.travel_until:
            ip = p.travel_country
        elif rng.random() < 0.025:
            ip = rng.choice(VPN_IP)
        else:
            ip = p.country
        return {"id": dev, "ip_country": ip}

    def at_hours(self, t: float, lo: float, hi: float) -> float:
        """t if its hour of day (UTC) lies in [lo, hi), else a moment in the next such window."""
        day = (t // DAY) * DAY
        h = (t - day) / 3600.0
        if lo <= h < hi:
            return t
        start = day + lo * 3600.0 if h < lo else day + DAY + lo * 3600.0
        return start + self.rng.random() * (hi - lo) * 3600.0

    def fill(self, template: str, country: str = "GB") -> str:
        """Fill the slots of a template (names from `country`)."""
        return fill_template(self.rng, template, country)

    def memo(self, story: str, label: int, country: str) -> tuple[str, str]:
        """A memo of `story` from a family of the configured split: (text, family id). Account
        holders outside English-speaking countries write in their own language half the time."""
        rng = self.rng
        lang = memos.COUNTRY_LANGUAGE.get(country, "en")
        if lang != "en" and rng.random() < 0.5:
            lang = "en"
        pool = memos.for_story(story, lang, self.cfg.memo_split, label)
        family = pool[int(rng.random() * len(pool))]
        template = family.templates[int(rng.random() * len(family.templates))]
        return recase(rng, self.fill(template, country)), family.id
