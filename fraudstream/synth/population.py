"""The population: accounts with stable personas, the merchant catalogue, the employers and the
monthly calendar, all drawn once, before the clock starts."""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import TYPE_CHECKING, Any

from fraudstream.synth.entities import (
    Merchant,
    Payee,
    Persona,
    gov_account,
    hex_id,
    iban,
    obscure_name,
    payee_abroad,
    person_name,
)
from fraudstream.synth.organic import SPECIAL
from fraudstream.synth.rng import JITTER, NQ, Rng, cumulate
from fraudstream.synth.tables.merchants import (
    BRANDS,
    CAT,
    CATEGORIES,
    COMPANY_SUFFIX,
    CRYPTO_EXCHANGES,
    EMPLOYER_KIND,
    EMPLOYER_WORDS,
    OBSCURE_CC,
    SUBSCRIPTIONS,
    UTILITIES,
    WORDS,
)
from fraudstream.synth.tables.places import COUNTRIES, DIASPORA, HOME, currency_of
from fraudstream.synth.writer import fill_template

if TYPE_CHECKING:
    from fraudstream.synth.config import SynthConfig


class Population:
    """Accounts (personas, each with its payees, devices, favourite merchants and calendar items),
    merchants and employers, drawn from the simulator's random stream in a fixed order."""

    def __init__(self, rng: Rng, config: SynthConfig) -> None:
        self.rng = rng
        self.cfg = config
        self._build_merchants()
        self._build_employers()
        self._build_personas()

    def _merchant_name(self, cat: str, country: str) -> tuple[str, bool]:
        pools = BRANDS[cat]
        template = self.rng.choice(pools.get(country) or pools["*"])
        ref = template.endswith("|ref")
        if ref:
            template = template[:-4]
        return fill_template(self.rng, template, country), ref

    def _build_merchants(self) -> None:
        """Every category in every country, more where more accounts live; obscure web shops."""
        rng = self.rng
        cfg = self.cfg
        self.by_cc: dict[tuple[str, int], list[Merchant]] = {}
        self.all_merchants: list[Merchant] = []
        n_niche = max(30, cfg.merchants // 12)
        budget = cfg.merchants - n_niche
        shares = {c: 0.8 * v[2] + 0.2 / len(COUNTRIES) for c, v in COUNTRIES.items()}
        catw = [c[5] for c in CATEGORIES]
        cat_cum = cumulate(catw)
        niche = CAT["niche_web"]
        idx = 0
        for country, share in shares.items():
            n_c = max(len(CATEGORIES), round(budget * share))
            cats = [i for i in range(len(CATEGORIES)) if i != niche]
            while len(cats) < n_c:
                cats.append(bisect_right(cat_cum, rng.random() * cat_cum[-1]))
            for ci in cats:
                if ci == niche:
                    continue
                cat = CATEGORIES[ci]
                name, ref = self._merchant_name(cat[0], country)
                m = Merchant(f"M{idx:06d}", name, rng.choice(cat[1]), country, ci, name, ref)
                idx += 1
                self.by_cc.setdefault((country, ci), []).append(m)
                self.all_merchants.append(m)
        self.niche: list[Merchant] = []
        for _ in range(n_niche):
            name = obscure_name(rng)
            m = Merchant(
                f"M{idx:06d}",
                name,
                rng.choice(CATEGORIES[niche][1]),
                rng.choice(OBSCURE_CC),
                niche,
                name,
                False,
            )
            idx += 1
            self.niche.append(m)
        # Weakly protected shops that card testers favour; they also sell to real customers.
        self.weak = self.niche[: max(8, n_niche // 4)]
        self.next_mid = idx
        self.cp_merchants = [
            m
            for m in self.all_merchants
            if CATEGORIES[m.cat][0] in ("grocery", "fuel", "restaurant", "convenience", "bar")
            and COUNTRIES[m.country][2] > 0
        ]

    def _build_employers(self) -> None:
        """Employer accounts (the first pays state pensions) and their pay days."""
        rng = self.rng
        self.employers: list[tuple[str, str, str, str, int, list[Persona]]] = []
        for e in range(self.cfg.employers):
            country = rng.choice(HOME) if rng.random() < 0.35 else "GB"
            if e == 0:
                name = "DWP STATE PENSION"
                country = "GB"
            else:
                name = f"{rng.choice(EMPLOYER_WORDS)} {rng.choice(EMPLOYER_KIND)} {COMPANY_SUFFIX.get(country, 'LTD')}"
            payday = rng.choice((1, 15, 20, 25, 25, 26, 28, 28, 31, 31))
            self.employers.append(
                (iban(rng, country, "FRST"), name, country, hex_id(rng, "dev-"), payday, [])
            )

    def _build_personas(self) -> None:
        """The accounts, with their payees and their monthly calendar items."""
        rng = self.rng
        cfg = self.cfg
        home_cum = cumulate([COUNTRIES[c][2] for c in HOME])
        self.personas: list[Persona] = []
        self.by_country: dict[str, list[Persona]] = {}
        self.mules: list[Persona] = []
        activity: list[float] = []
        # calendar: day of month -> list of (kind, persona, payload)
        self.monthly: dict[int, list[tuple[str, Persona, Any]]] = {d: [] for d in range(1, 32)}
        base_cat = [c[5] for c in CATEGORIES]
        for i in range(cfg.accounts):
            p = Persona()
            p.country = HOME[bisect_right(home_cum, rng.random() * home_cum[-1])]
            p.currency, p.fx = currency_of(p.country)
            p.id = iban(rng, p.country, "FRST")
            first, last = person_name(rng, p.country)
            p.first, p.last, p.name = first, last, f"{first} {last}"
            p.card = hex_id(rng, "card-")
            p.devices = [hex_id(rng, "dev-") for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))]
            p.mule = rng.random() < 0.015 or i < 3
            p.level = math.exp(rng.gauss(-0.25 if p.mule else 0.0, 0.4))
            p.crypto = rng.random() < 0.05
            act = math.exp(rng.gauss(0.0, 0.6)) * (0.5 if p.mule else 1.0)
            activity.append(act)
            rnd = rng.random
            weights = [w * JITTER[int(rnd() * NQ)] for w in base_cat]
            p.cat_cum = cumulate(weights)
            # card / atm / transfer / wallet split of organic activity
            atm = rng.uniform(0.01, 0.06)
            transfer = rng.uniform(0.04, 0.10)
            wallet = rng.uniform(0.005, 0.02) + (0.05 if p.crypto else 0.0)
            special = SPECIAL
            card = 1.0 - atm - transfer - wallet - special
            p.split = (card, card + atm, card + atm + transfer, card + atm + transfer + wallet)
            p.payees = self._make_payees(p)
            for payee in p.payees:
                p.known[payee.account] = None
            trips = rng.choice((0, 0, 1, 1, 2, 3, 4, 6))
            p.p_trip = trips / 365.0 / (cfg.tx_per_account_day * act)
            # calendar
            if (p.mule and rng.random() < 0.5) or rng.random() < 0.12:
                p.employer = -1
            else:
                emp = rng.randrange(len(self.employers))
                p.employer = emp
                self.employers[emp][5].append(p)
                p.salary = round(2400.0 * p.level * math.exp(rng.gauss(0, 0.25)) * p.fx, 2)
            if rng.random() < 0.45:
                landlord = Payee(
                    f"{fill_template(rng, '{first} {last}', p.country).upper()}"
                    if rng.random() < 0.6
                    else f"{rng.choice(WORDS)} LETTINGS {COMPANY_SUFFIX.get(p.country, 'LTD')}",
                    iban(rng, p.country),
                    p.country,
                    "landlord",
                )
                p.known[landlord.account] = None
                rent = round(900.0 * p.level * math.exp(rng.gauss(0, 0.25)) * p.fx, 0)
                p.rent = (landlord, rent)
                self.monthly[rng.randint(1, 5)].append(("rent", p, None))
            for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
                pool = UTILITIES.get(p.country) or UTILITIES["*"]
                name, mcc = rng.choice(pool)
                name = fill_template(rng, name, p.country)
                payee = Payee(name, gov_account(name, p.country), p.country, "utility")
                p.known[payee.account] = None
                amount = round(math.exp(rng.gauss(math.log(45.0), 0.5)) * p.fx, 2)
                self.monthly[rng.randint(1, 28)].append(("dd", p, (payee, amount, mcc)))
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                name, mcc, cc = rng.choice(SUBSCRIPTIONS)
                ref = name.endswith("|ref")
                name = fill_template(rng, name[:-4] if ref else name, cc)
                m = Merchant(f"M{self.next_mid:06d}", name, mcc, cc, CAT["digital"], name, ref)
                self.next_mid += 1
                amount = round(rng.choice((4.99, 7.99, 9.99, 10.99, 12.99, 15.99, 24.99)) * p.fx, 2)
                self.monthly[rng.randint(1, 28)].append(("sub", p, (m, amount)))
            self.personas.append(p)
            self.by_country.setdefault(p.country, []).append(p)
            if p.mule:
                self.mules.append(p)
        self.activity_cum = cumulate(activity)
        self.not_mules = [p for p in self.personas if not p.mule]

    def _make_payees(self, p: Persona) -> list[Payee]:
        """Friends and family, maybe family abroad, the account's own savings, an exchange."""
        rng = self.rng
        payees: list[Payee] = []
        for _ in range(rng.choice((1, 2, 3, 3, 4, 5, 6))):
            country = p.country if rng.random() < 0.93 else rng.choice(HOME)
            first, last = person_name(rng, country)
            if rng.random() < 0.5:
                last = p.last
            payees.append(Payee(f"{first} {last}", iban(rng, country), country, "friend"))
        if rng.random() < 0.12:  # family abroad
            country = rng.choice(DIASPORA)
            first, last = person_name(rng, country)
            payees.append(Payee(f"{first} {last}", iban(rng, country), country, "family_abroad"))
        payees.append(
            Payee(
                p.name if rng.random() < 0.5 else f"{p.first} {p.last} SAVINGS",
                iban(rng, p.country),
                p.country,
                "self",
            )
        )
        if p.crypto:
            name, cc = rng.choice(CRYPTO_EXCHANGES)
            payees.append(Payee(name, gov_account(name, cc), cc, "exchange"))
        return payees

    def mule_payee(self, country: str) -> Payee:
        """A mule account of this bank in `country` if there is one, else an outside account."""
        rng = self.rng
        local = [m for m in self.mules if m.country == country]
        if local and rng.random() < 0.6:
            m = rng.choice(local)
            return Payee(m.name, m.id, m.country, "mule")
        return payee_abroad(rng, country, company=rng.random() < 0.2)

    def victim(self) -> Persona:
        """An account that is not a mule (the victim of a fraud episode)."""
        return self.rng.choice(self.not_mules)
