"""What the simulation is made of (merchants, payees, personas) and the draws of their names and
account numbers, which need nothing but the random stream."""

from __future__ import annotations

from functools import lru_cache

from fraudstream.synth.rng import Rng
from fraudstream.synth.tables.merchants import (
    BANK_CODES,
    COMPANY_SUFFIX,
    OBSCURE_PRE,
    OBSCURE_SUF,
    OBSCURE_SYL,
    SHELL_KIND,
    SHELL_WORDS,
)
from fraudstream.synth.tables.places import FIRST, LAST, currency_of


class Merchant:
    """A merchant: its wire form (`wire`), category, currency and statement descriptor."""

    __slots__ = ("cat", "country", "currency", "descriptor", "fx", "id", "ref", "wire")

    def __init__(
        self, mid: str, name: str, mcc: str, country: str, cat: int, descriptor: str, ref: bool
    ) -> None:
        self.id = mid
        self.cat = cat
        self.country = country
        self.currency, self.fx = currency_of(country)
        self.descriptor = descriptor
        self.ref = ref
        self.wire = {"id": mid, "name": name, "mcc": mcc, "country": country}


class Payee:
    """Someone an account pays: `kind` says who (friend, self, landlord, utility, fraud...)."""

    __slots__ = ("account", "country", "kind", "name")

    def __init__(self, name: str, account: str, country: str, kind: str) -> None:
        self.name = name
        self.account = account
        self.country = country
        self.kind = kind


class Persona:
    """An account and the habits it keeps for the whole simulation (and a trip or new phone)."""

    __slots__ = (
        "card",
        "cat_cum",
        "country",
        "crypto",
        "currency",
        "devices",
        "employer",
        "favourites",
        "first",
        "fx",
        "id",
        "known",
        "last",
        "level",
        "mule",
        "name",
        "new_device",
        "p_trip",
        "payees",
        "rent",
        "salary",
        "split",
        "travel_country",
        "travel_until",
    )

    def __init__(self) -> None:
        self.id = ""
        self.country = "GB"
        self.currency = "GBP"
        self.fx = 1.0
        self.first = ""
        self.last = ""
        self.name = ""
        self.card = ""
        self.devices: list[str] = []
        self.level = 1.0
        self.cat_cum: list[float] = []
        self.split: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
        self.favourites: dict[int, list[Merchant]] = {}
        self.payees: list[Payee] = []
        self.known: dict[str, None] = {}  # beneficiary accounts already paid (ordered, capped)
        self.employer = -1
        self.salary = 0.0
        self.rent: tuple[Payee, float] | None = None
        self.crypto = False
        self.mule = False
        self.p_trip = 0.0
        self.travel_country = ""
        self.travel_until = 0.0
        self.new_device = ""


def iban(rng: Rng, country: str, bank: str | None = None) -> str:
    """An IBAN-shaped account number (no valid check digits; nothing here checks them)."""
    bank = bank or rng.choice(BANK_CODES)
    return f"{country}{rng.randrange(10, 100)}{bank}{rng.randrange(10**13, 10**14)}"


def hex_id(rng: Rng, prefix: str) -> str:
    """A card or device id: `prefix` and 48 random bits."""
    return f"{prefix}{rng.getrandbits(48):012x}"


def obscure_name(rng: Rng) -> str:
    """The name of an obscure web shop (SHOPIFY*KLOVEN STORE)."""
    word = "".join(rng.choice(OBSCURE_SYL) for _ in range(rng.choice((2, 2, 3))))
    suf = rng.choice(OBSCURE_SUF)
    sep = "" if suf.startswith(".") else " "
    return f"{rng.choice(OBSCURE_PRE)}{word}{sep}{suf}"


def person_name(rng: Rng, country: str) -> tuple[str, str]:
    """(first, last) name, as common in `country`."""
    return rng.choice(FIRST.get(country, FIRST["GB"])), rng.choice(LAST.get(country, LAST["GB"]))


def payee_abroad(rng: Rng, country: str, company: bool) -> Payee:
    """A fraudulent beneficiary in `country`: a shell company or a person."""
    if company:
        name = f"{rng.choice(SHELL_WORDS)} {rng.choice(SHELL_KIND)} {COMPANY_SUFFIX.get(country, 'LTD')}"
    else:
        name = " ".join(person_name(rng, country))
    return Payee(name, iban(rng, country), country, "fraud")


@lru_cache(maxsize=4096)
def gov_account(name: str, country: str) -> str:
    """A stable account number for a well-known payee (same name, same account)."""
    h = 0
    for ch in name:
        h = (h * 131 + ord(ch)) % 10**14
    return f"{country}00PUBL{h:014d}"
