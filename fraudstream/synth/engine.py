"""Synthetic, labelled transactions in the native wire schema (`schemas/transaction.schema.json`).

Theory of operation
-------------------
A population of accounts with stable personas (home country and currency, usual devices, usual
merchants, spend level, employer and pay day, rent, direct debits, subscriptions, family and
friends they pay) is simulated forward in time by a discrete-event loop:

* **Organic activity** is one Poisson process for the whole population, warped by a weekly
  diurnal profile (quiet nights, lunch and evening peaks, busy Saturdays). Each arrival picks an
  account in proportion to its activity and draws one ordinary record for it: a card payment at
  one of its usual merchants (or a new one), a cash withdrawal, a transfer to someone it knows, a
  wallet top-up, and now and then something that *looks* alarming but is not (an "urgent" note to
  a friend, a crypto hobbyist's exchange top-up, a first rent to a new landlord, a tax bill, a new
  phone, a trip abroad with a big purchase, a burst of in-app purchases).
* **Calendar activity** (payroll bursts from employer accounts, rent, direct debits,
  subscriptions) is put on the event heap when the clock enters each day.
* **Fraud episodes** start at organic arrivals with a probability chosen so that the share of
  fraudulent records is `fraud_rate` on average. An episode is a generator that yields the times
  at which it wants to act; at each of them it appends records to the output. Episodes carry the
  signal where a real one does: in the narrative (scam memos), in the metadata (tiny
  card-not-present amounts, new beneficiaries abroad, foreign IP addresses) and, mostly, in the
  account's and the merchant's history (bursts, a never-seen device, fan-in then fan-out).

The invariant: records come out in non-decreasing time. Everything that wants to happen later is
on one heap keyed by time, and the loop always emits the earliest of the heap's top, the next
organic arrival and the next midnight. Memory is the personas plus one heap entry per pending
calendar item or live episode: nothing grows with the number of records generated (the sets of
known beneficiaries and devices per account are capped).

The label lives in `metadata` (`{"is_fraud": 0|1, "typology": name}`) and must never be a model
input. Same seed and config, same records, byte for byte.
"""

from __future__ import annotations

import calendar
import heapq
import math
import random
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from statistics import NormalDist
from typing import Any, TypeVar

import orjson

from fraudstream.synth import memos
from fraudstream.synth.memos import MemoSplit

__all__ = [
    "BENIGN_TYPOLOGIES",
    "DEFAULT_FRAUD_MIX",
    "FRAUD_TYPOLOGIES",
    "SCAM_TEMPLATES",
    "SynthConfig",
    "generate",
    "scam_paraphrase_count",
    "to_json_line",
]

FRAUD_TYPOLOGIES: tuple[str, ...] = (
    "card_testing",
    "account_takeover",
    "scam",
    "quiet_scam",
    "mule",
    "compromised_merchant",
)
BENIGN_TYPOLOGIES: tuple[str, ...] = (
    "ordinary",
    "payroll",
    "benign_urgent",
    "benign_crypto",
    "benign_official",
    "benign_new_payee",
    "benign_new_device",
    "benign_travel",
    "benign_burst",
    "benign_alarming",
)

# Share of the fraudulent *records* that each typology should produce.
# `quiet_scam` is the authorised push payment whose metadata is that of the account's own
# ordinary payments: only its memo tells (what the language model is for).
DEFAULT_FRAUD_MIX: tuple[tuple[str, float], ...] = (
    ("card_testing", 0.24),
    ("account_takeover", 0.14),
    ("scam", 0.20),
    ("quiet_scam", 0.16),
    ("mule", 0.16),
    ("compromised_merchant", 0.10),
)


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 0
    fraud_rate: float = 0.02
    """Approximate share of fraudulent records in the stream."""
    accounts: int = 2000
    start: datetime = datetime(2024, 3, 1, tzinfo=UTC)
    merchants: int = 800
    """Size of the merchant catalogue (obscure web shops included)."""
    employers: int = 40
    tx_per_account_day: float = 2.5
    """Mean organic records per account per day (calendar items and fraud come on top)."""
    fraud_mix: tuple[tuple[str, float], ...] = DEFAULT_FRAUD_MIX
    memo_split: MemoSplit = "train"
    """Which memo families (`synth/memos.py`) write the memos: `train` (the default: what models
    are trained on), `heldout` (wording no training file has, for evaluation) or `all`."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraud_rate <= 0.5:
            raise ValueError("fraud_rate must be within [0, 0.5]")
        if self.accounts < 20:
            raise ValueError("accounts must be at least 20")
        if self.merchants < 100:
            raise ValueError("merchants must be at least 100")
        if self.employers < 1:
            raise ValueError("employers must be at least 1")
        if not self.tx_per_account_day > 0:
            raise ValueError("tx_per_account_day must be positive")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        names = [name for name, _ in self.fraud_mix]
        if len(set(names)) != len(names) or not set(names) <= set(FRAUD_TYPOLOGIES):
            raise ValueError(f"fraud_mix names must be distinct and among {FRAUD_TYPOLOGIES}")
        if any(w < 0 for _, w in self.fraud_mix) or sum(w for _, w in self.fraud_mix) <= 0:
            raise ValueError("fraud_mix weights must be non-negative with a positive sum")
        if self.memo_split not in ("train", "heldout", "all"):
            raise ValueError("memo_split must be 'train', 'heldout' or 'all'")


def generate(count: int, config: SynthConfig | None = None) -> Iterator[dict[str, Any]]:
    """`count` native transaction records in time order (Kafka key: `record["account_id"]`)."""
    if count < 0:
        raise ValueError("count must be non-negative")
    return islice(_Simulator(config or SynthConfig()).records(), count)


def to_json_line(record: dict[str, Any]) -> bytes:
    """One record as compact JSON followed by a newline."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------

# fmt: off
# country -> (currency, units per EUR, share of home accounts, cities)
_COUNTRIES: dict[str, tuple[str, float, float, tuple[str, ...]]] = {
    "GB": (
        "GBP",
        0.86,
        0.42,
        (
            "LONDON",
            "MANCHESTER",
            "BIRMINGHAM",
            "LEEDS",
            "GLASGOW",
            "BRISTOL",
            "EDINBURGH",
            "LIVERPOOL",
            "CARDIFF",
            "NOTTINGHAM",
        ),
    ),
    "IE": ("EUR", 1.0, 0.05, ("DUBLIN", "CORK", "GALWAY", "LIMERICK")),
    "DE": (
        "EUR",
        1.0,
        0.12,
        ("BERLIN", "MUENCHEN", "HAMBURG", "KOELN", "FRANKFURT", "STUTTGART", "LEIPZIG"),
    ),
    "FR": (
        "EUR",
        1.0,
        0.10,
        ("PARIS", "LYON", "MARSEILLE", "TOULOUSE", "BORDEAUX", "LILLE", "NANTES"),
    ),
    "NL": ("EUR", 1.0, 0.06, ("AMSTERDAM", "ROTTERDAM", "UTRECHT", "DEN HAAG", "EINDHOVEN")),
    "ES": ("EUR", 1.0, 0.07, ("MADRID", "BARCELONA", "VALENCIA", "SEVILLA", "MALAGA", "BILBAO")),
    "IT": ("EUR", 1.0, 0.06, ("MILANO", "ROMA", "TORINO", "NAPOLI", "BOLOGNA", "FIRENZE")),
    "PT": ("EUR", 1.0, 0.03, ("LISBOA", "PORTO", "FARO", "BRAGA")),
    "PL": ("PLN", 4.3, 0.05, ("WARSZAWA", "KRAKOW", "WROCLAW", "GDANSK", "POZNAN")),
    "US": (
        "USD",
        1.08,
        0.04,
        ("NEW YORK", "SAN FRANCISCO", "CHICAGO", "AUSTIN", "BOSTON", "MIAMI"),
    ),
    # travel destinations only
    "GR": ("EUR", 1.0, 0.0, ("ATHINA", "THESSALONIKI", "HERAKLION", "RHODES")),
    "TR": ("TRY", 35.0, 0.0, ("ISTANBUL", "ANTALYA", "IZMIR", "BODRUM")),
    "TH": ("THB", 39.0, 0.0, ("BANGKOK", "PHUKET", "CHIANG MAI", "KRABI")),
    "AE": ("AED", 3.97, 0.0, ("DUBAI", "ABU DHABI", "SHARJAH")),
}
_HOME = tuple(c for c, v in _COUNTRIES.items() if v[2] > 0)
_TRAVEL = tuple(_COUNTRIES)
# currency of countries that only appear as counterparties, IP addresses or web shops
_FX_EXTRA: dict[str, tuple[str, float]] = {
    "HK": ("HKD", 8.4), "CN": ("CNY", 7.8), "CY": ("EUR", 1.0), "LT": ("EUR", 1.0),
    "EE": ("EUR", 1.0), "SG": ("SGD", 1.45), "CH": ("CHF", 0.95), "SE": ("SEK", 11.4),
}

_FIRST: dict[str, tuple[str, ...]] = {
    "GB": ("OLIVER", "AMELIA", "JACK", "EMILY", "HARRY", "SOPHIE", "GEORGE", "CHLOE", "JAMES", "GRACE", "MOHAMMED", "PRIYA"),
    "IE": ("CONOR", "AOIFE", "SEAN", "SIOBHAN", "CIARAN", "NIAMH", "DARRAGH", "ROISIN"),
    "DE": ("LUKAS", "LENA", "JONAS", "ANNA", "FELIX", "MARIE", "PAUL", "SOPHIA", "ELIAS", "MIA"),
    "FR": ("LOUIS", "CAMILLE", "HUGO", "LEA", "JULES", "CHLOE", "ARTHUR", "MANON", "NATHAN", "INES"),
    "NL": ("DAAN", "SANNE", "SEM", "FLEUR", "LUCAS", "ANOUK", "MILAN", "LOTTE"),
    "ES": ("HUGO", "LUCIA", "MATEO", "SOFIA", "PABLO", "MARTINA", "ALVARO", "PAULA"),
    "IT": ("LEONARDO", "GIULIA", "FRANCESCO", "SOFIA", "ALESSANDRO", "AURORA", "LORENZO", "GINEVRA"),
    "PT": ("JOAO", "MARIA", "RODRIGO", "BEATRIZ", "TIAGO", "INES", "DUARTE", "CAROLINA"),
    "PL": ("JAKUB", "ZUZANNA", "KACPER", "JULIA", "SZYMON", "MAJA", "FILIP", "ZOFIA"),
    "US": ("LIAM", "OLIVIA", "NOAH", "EMMA", "ETHAN", "AVA", "MASON", "MADISON", "JAYDEN", "HARPER"),
    "RO": ("ANDREI", "IOANA", "MIHAI", "ELENA", "ALEXANDRU", "ANDREEA", "STEFAN", "BIANCA"),
    "NG": ("CHINEDU", "NGOZI", "OLUWASEUN", "ADAEZE", "EMEKA", "FUNMILAYO", "IFEANYI", "BLESSING"),
    "IN": ("ARJUN", "ANANYA", "RAHUL", "PRIYA", "VIKRAM", "DIVYA", "ROHAN", "SNEHA"),
    "PK": ("AHMED", "FATIMA", "BILAL", "AYESHA", "HAMZA", "ZAINAB", "USMAN", "SANA"),
    "PH": ("JOSE", "MARIA", "MARK", "KRISTINE", "JOHN PAUL", "ANGELICA", "RHEA", "JERICHO"),
    "LT": ("LUKAS", "GABIJA", "MATAS", "EMILIJA", "DOMANTAS", "UGNE"),
    "UA": ("OLEKSANDR", "OLENA", "DMYTRO", "IRYNA", "ANDRIY", "KATERYNA"),
    "TR": ("MEHMET", "AYSE", "MUSTAFA", "FATMA", "EMRE", "ZEYNEP"),
    "AE": ("MOHAMMED", "FATIMA", "AHMED", "MARYAM", "KHALID", "NOORA"),
    "GH": ("KWAME", "AMA", "KOFI", "ABENA", "KWABENA", "AKOSUA"),
    "HK": ("WING", "MEI", "KA MING", "HOI YAN", "CHI KEUNG", "SIU LING"),
    "CN": ("WEI", "FANG", "LEI", "JING", "YANG", "XIU"),
}
_LAST: dict[str, tuple[str, ...]] = {
    "GB": ("SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "DAVIES", "EVANS", "KHAN", "PATEL", "WALKER", "HUGHES"),
    "IE": ("MURPHY", "KELLY", "OSULLIVAN", "WALSH", "BYRNE", "RYAN", "OBRIEN", "DOYLE"),
    "DE": ("MUELLER", "SCHMIDT", "SCHNEIDER", "FISCHER", "WEBER", "MEYER", "WAGNER", "BECKER", "HOFFMANN"),
    "FR": ("MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY"),
    "NL": ("DE JONG", "JANSEN", "DE VRIES", "VAN DEN BERG", "BAKKER", "VISSER", "SMIT", "MEIJER"),
    "ES": ("GARCIA", "RODRIGUEZ", "GONZALEZ", "FERNANDEZ", "LOPEZ", "MARTINEZ", "SANCHEZ", "PEREZ"),
    "IT": ("ROSSI", "RUSSO", "FERRARI", "ESPOSITO", "BIANCHI", "ROMANO", "COLOMBO", "RICCI"),
    "PT": ("SILVA", "SANTOS", "FERREIRA", "PEREIRA", "OLIVEIRA", "COSTA", "RODRIGUES", "MARTINS"),
    "PL": ("NOWAK", "KOWALSKI", "WISNIEWSKI", "WOJCIK", "KOWALCZYK", "KAMINSKI", "LEWANDOWSKI"),
    "US": ("JOHNSON", "MILLER", "DAVIS", "GARCIA", "ANDERSON", "THOMPSON", "MOORE", "JACKSON", "LEE"),
    "RO": ("POPESCU", "IONESCU", "POPA", "CONSTANTIN", "STAN", "DUMITRU", "GHEORGHE"),
    "NG": ("OKAFOR", "ADEYEMI", "OKONKWO", "BELLO", "EZE", "ADEBAYO", "NWOSU", "OGUNDIPE"),
    "IN": ("SHARMA", "PATEL", "SINGH", "KUMAR", "GUPTA", "REDDY", "IYER", "NAIR"),
    "PK": ("KHAN", "ALI", "HUSSAIN", "AHMED", "BUTT", "MALIK", "QURESHI"),
    "PH": ("SANTOS", "REYES", "CRUZ", "BAUTISTA", "GARCIA", "MENDOZA", "TORRES"),
    "LT": ("KAZLAUSKAS", "PETRAUSKAS", "JANKAUSKAS", "STANKEVICIUS", "VASILIAUSKAS"),
    "UA": ("SHEVCHENKO", "KOVALENKO", "BONDARENKO", "TKACHENKO", "KRAVCHENKO", "MELNYK"),
    "TR": ("YILMAZ", "KAYA", "DEMIR", "SAHIN", "CELIK", "YILDIZ"),
    "AE": ("AL MANSOORI", "AL HASHIMI", "AL FALASI", "AL NUAIMI", "AL SUWAIDI"),
    "GH": ("MENSAH", "BOATENG", "OWUSU", "ASANTE", "OSEI", "ADJEI"),
    "HK": ("CHAN", "WONG", "LEUNG", "CHEUNG", "LAU", "HO"),
    "CN": ("WANG", "LI", "ZHANG", "LIU", "CHEN", "ZHAO"),
}

# where families of immigrant account holders live (benign transfers abroad)
_DIASPORA = ("PL", "RO", "IN", "PK", "NG", "PH", "PT", "IE", "ES", "IT", "TR", "UA", "GH")
# countries of fraudulent beneficiaries and fraudsters' IP addresses (overlapping the above)
_FRAUD_CP = ("NG", "GH", "RO", "LT", "UA", "HK", "CN", "AE", "TR", "CY", "GB", "US", "PL")
_FRAUD_IP = ("NG", "RO", "UA", "RU", "VN", "BR", "ID", "TR", "CN", "NL", "US", "DE", "LT")
_VPN_IP = ("NL", "US", "CH", "SE", "DE", "GB", "IE")

_MONTHS = (
    "jan",
    "feb",
    "march",
    "april",
    "may",
    "june",
    "july",
    "aug",
    "sept",
    "oct",
    "nov",
    "dec",
)
_MON3 = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_STREETS = ("HIGH ST", "MILL LANE", "STATION RD", "CHURCH ST", "PARK AVE", "VICTORIA RD", "KING ST", "GREEN LANE")

# Card spend categories: name, MCCs, channel, median amount in EUR, log-sd, weight in spend mix.
_CP, _CNP, _ATM = "card_present", "card_not_present", "atm"
_CATEGORIES: tuple[tuple[str, tuple[str, ...], str, float, float, float], ...] = (
    ("grocery", ("5411",), _CP, 32.0, 0.75, 24.0),
    ("convenience", ("5499",), _CP, 9.0, 0.6, 7.0),
    ("restaurant", ("5812",), _CP, 34.0, 0.55, 7.0),
    ("fastfood", ("5814",), _CP, 11.0, 0.45, 7.0),
    ("coffee", ("5814",), _CP, 4.8, 0.35, 7.0),
    ("bar", ("5813",), _CP, 24.0, 0.6, 4.0),
    ("fuel", ("5541", "5542"), _CP, 58.0, 0.35, 5.0),
    ("transit", ("4111",), _CP, 3.2, 0.5, 6.0),
    ("rideshare", ("4121",), _CNP, 15.0, 0.5, 4.0),
    ("food_delivery", ("5814",), _CNP, 27.0, 0.4, 4.0),
    ("marketplace", ("5999", "5942", "5311"), _CNP, 28.0, 0.9, 7.0),
    ("niche_web", ("5999", "5969", "5945", "5977"), _CNP, 24.0, 0.8, 2.2),
    ("digital", ("5818", "5815", "5816"), _CNP, 4.0, 0.7, 3.0),
    ("pharmacy", ("5912",), _CP, 13.0, 0.6, 3.0),
    ("clothing", ("5651", "5691"), _CP, 52.0, 0.6, 3.0),
    ("electronics", ("5732",), _CP, 140.0, 1.0, 1.0),
    ("home", ("5200", "5712"), _CP, 45.0, 0.8, 2.0),
    ("entertainment", ("7832", "7922"), _CP, 22.0, 0.5, 2.0),
    ("airline", ("4511",), _CNP, 190.0, 0.7, 0.5),
    ("hotel", ("7011",), _CP, 140.0, 0.6, 0.4),
    ("charity", ("8398",), _CNP, 12.0, 0.7, 0.5),
    ("gift_card", ("5999",), _CNP, 35.0, 0.5, 0.25),
    ("jewellery", ("5944",), _CP, 400.0, 0.8, 0.1),
    ("parking", ("7523",), _CNP, 4.0, 0.5, 1.5),
    ("vending", ("5999",), _CP, 1.8, 0.4, 0.8),
)
_CAT = {c[0]: i for i, c in enumerate(_CATEGORIES)}
_NICHE = _CAT["niche_web"]
# categories a traveller buys from locally
_LOCAL_CATS = frozenset(_CAT[c] for c in ("grocery", "convenience", "restaurant", "fastfood", "coffee", "bar", "fuel", "transit", "pharmacy", "clothing", "entertainment", "hotel", "jewellery", "electronics", "vending"))

# Merchant name templates by category and country ("*" for any country). Slots: {n3}.. digits,
# {city}, {cc}, {word}. A trailing "|ref" marks descriptors that carry a per-purchase reference.
_BRANDS: dict[str, dict[str, tuple[str, ...]]] = {
    "grocery": {
        "GB": ("TESCO STORES {n4}", "SAINSBURYS S/MKTS", "ASDA STORES {n4}", "LIDL GB {city}", "ALDI {n3} {city}", "M&S SIMPLY FOOD {n4}", "CO-OP GROUP {n6}", "WAITROSE {n3}", "MORRISONS {n4}", "ICELAND {n4}"),
        "IE": ("TESCO IRELAND {n4}", "DUNNES STORES {city}", "SUPERVALU {city}", "LIDL IE {n3}", "ALDI IE {n3}"),
        "DE": ("REWE SAGT DANKE {n5}", "EDEKA {city}", "LIDL DIENSTL {n4}", "ALDI SUED {n3}", "NETTO MARKEN-DISCOUNT", "KAUFLAND {city}", "PENNY {n4}"),
        "FR": ("CARREFOUR CITY {city}", "MONOPRIX {city}", "E.LECLERC {city}", "FRANPRIX {n4}", "INTERMARCHE {city}", "AUCHAN {city}"),
        "NL": ("ALBERT HEIJN {n4}", "JUMBO {city}", "LIDL NL {n3}", "PLUS {city}", "DIRK {n3}"),
        "ES": ("MERCADONA {city}", "CARREFOUR {city}", "DIA {n4}", "LIDL ES {n3}", "EROSKI {city}"),
        "IT": ("ESSELUNGA {city}", "COOP {city}", "CONAD {n4}", "CARREFOUR EXPRESS {city}", "PAM {city}"),
        "PT": ("PINGO DOCE {city}", "CONTINENTE {city}", "LIDL PT {n3}", "MINIPRECO {n4}"),
        "PL": ("BIEDRONKA {n4}", "ZABKA {n5}", "LIDL PL {n3}", "CARREFOUR {city}", "AUCHAN {city}"),
        "US": ("WALMART #{n4}", "TARGET {n8}", "WHOLEFDS {n5}", "TRADER JOE S #{n3}", "SAFEWAY #{n4}", "KROGER #{n3}"),
        "GR": ("AB VASSILOPOULOS {n3}", "SKLAVENITIS {city}", "MY MARKET {n3}", "LIDL HELLAS {n3}"),
        "TR": ("MIGROS {city}", "CARREFOURSA {n4}", "BIM {n5}", "A101 {n5}"),
        "TH": ("7-ELEVEN {n5}", "LOTUS S {city}", "BIG C {city}", "FAMILYMART {n4}"),
        "AE": ("CARREFOUR {city}", "LULU HYPERMARKET", "SPINNEYS {n3}", "WAITROSE DXB"),
    },
    "convenience": {
        "GB": ("SPAR {n4}", "ONE STOP {n4}", "NISA LOCAL {city}", "BP SHOP {n4}", "COSTCUTTER {n3}"),
        "US": ("7-ELEVEN {n5}", "CVS/PHARMACY #{n5}", "WALGREENS #{n5}"),
        "TH": ("7-ELEVEN {n5}", "FAMILYMART {n4}"),
        "*": ("SPAR {n4}", "KIOSK {word}", "MINIMARKET {word}", "CARREFOUR EXPRESS {n4}", "{word} MARKET"),
    },
    "restaurant": {"*": ("{word} KITCHEN", "THE {word} {city}", "PIZZERIA {word}", "SUSHI {word}", "{word} BISTRO", "TRATTORIA {word}", "WAGAMAMA {n3}", "NANDOS {city}", "{word} GRILL", "CAFE {word}")},
    "fastfood": {"*": ("MCDONALDS {n5}", "BURGER KING {n4}", "KFC {city}", "SUBWAY {n5}", "FIVE GUYS {city}", "DOMINOS PIZZA {n4}", "GREGGS {n4}", "{word} KEBAB")},
    "coffee": {"*": ("STARBUCKS {n5}", "COSTA COFFEE {n5}", "PRET A MANGER {city}", "CAFFE NERO {n3}", "{word} COFFEE", "{word} ROASTERS", "CAFE {word}")},
    "bar": {"*": ("THE {word} ARMS", "{word} BAR", "THE {word} {city}", "{word} TAVERN", "BREWDOG {city}", "{word} PUB")},
    "fuel": {
        "GB": ("SHELL {word}", "BP {word} SF", "ESSO {word}", "TEXACO {word}", "SAINSBURYS PETROL"),
        "DE": ("ARAL STATION {n4}", "SHELL {n5}", "JET {city}", "TOTAL {n5}"),
        "FR": ("TOTALENERGIES {n5}", "ESSO {city}", "AVIA {city}", "INTERMARCHE CARBU"),
        "US": ("SHELL OIL {n8}", "CHEVRON {n5}", "EXXONMOBIL {n5}", "CIRCLE K #{n4}"),
        "*": ("SHELL {n5}", "BP {n4}", "ESSO {n4}", "TOTAL {n4}", "REPSOL {n4}", "CIRCLE K {n4}"),
    },
    "transit": {
        "GB": ("TFL TRAVEL CH", "TFL TRAVEL CHARGE", "NATIONAL RAIL {n4}", "TRAINLINE", "STAGECOACH {city}"),
        "DE": ("BVG TICKET", "DB VERTRIEB GMBH", "MVG AUTOMAT", "HVV {n4}"),
        "FR": ("RATP {n4}", "SNCF INTERNET", "NAVIGO {n4}"),
        "NL": ("NS GROEP IZ OVPAY", "GVB {n4}", "RET {n4}"),
        "*": ("METRO {city}", "TRANSIT {city}", "BUS {city}", "RAIL {city}"),
    },
    "rideshare": {"*": ("UBER *TRIP|ref", "UBER *TRIP HELP.UBER.COM", "BOLT.EU/O/{n10}", "FREENOW*{n6}", "LYFT *RIDE|ref")},
    "food_delivery": {
        "GB": ("DELIVEROO", "UBER *EATS|ref", "JUST EAT.CO.UK"),
        "IE": ("DELIVEROO IE", "JUST EAT IE", "UBER *EATS|ref"),
        "DE": ("LIEFERANDO.DE", "WOLT", "UBER *EATS|ref"),
        "FR": ("DELIVEROO FR", "UBER *EATS|ref", "JUST EAT FR"),
        "NL": ("THUISBEZORGD.NL", "UBER *EATS|ref", "DELIVEROO NL"),
        "ES": ("GLOVO", "JUST EAT ES", "UBER *EATS|ref"),
        "IT": ("GLOVO", "DELIVEROO IT", "JUST EAT IT"),
        "PL": ("PYSZNE.PL", "GLOVO", "WOLT", "UBER *EATS|ref"),
        "US": ("DOORDASH*{word}", "UBER *EATS|ref", "GRUBHUB*{word}"),
        "*": ("UBER *EATS|ref", "WOLT", "DELIVEROO", "GLOVO"),
    },
    "marketplace": {
        "GB": ("AMZN Mktp UK*|ref", "AMAZON.CO.UK*|ref", "EBAY O*{n2}-{n5}", "ETSY.COM*{word}", "VINTED {n6}", "PAYPAL *{word}", "ARGOS LTD", "ASOS.COM"),
        "DE": ("AMZN Mktp DE*|ref", "AMAZON.DE*|ref", "OTTO GMBH", "ZALANDO SE", "EBAY O*{n2}-{n5}", "PAYPAL *{word}"),
        "FR": ("AMAZON PAYMENTS FR|ref", "CDISCOUNT", "VINTED {n6}", "FNAC.COM", "LEBONCOIN"),
        "US": ("AMZN Mktp US*|ref", "WALMART.COM", "EBAY O*{n2}-{n5}", "ETSY.COM*{word}", "TARGET.COM"),
        "*": ("AMZN Mktp {cc}*|ref", "ALIEXPRESS", "ZALANDO SE", "VINTED {n6}", "EBAY O*{n2}-{n5}", "PAYPAL *{word}", "SHEIN.COM", "TEMU.COM"),
    },
    "digital": {"*": ("APPLE.COM/BILL", "GOOGLE *PLAY", "GOOGLE *YouTubePremium", "STEAM PURCHASE", "PLAYSTATION NETWORK", "MICROSOFT*XBOX", "ROBLOX CORP", "NINTENDO ESHOP", "SPOTIFY P{n6}", "AUDIBLE*|ref")},
    "pharmacy": {
        "GB": ("BOOTS {n4}", "SUPERDRUG {n3}", "LLOYDS PHARMACY {n4}"),
        "DE": ("DM DROGERIE MARKT", "ROSSMANN {n4}", "APOTHEKE {word}"),
        "US": ("CVS/PHARMACY #{n5}", "WALGREENS #{n5}"),
        "*": ("PHARMACIE {word}", "FARMACIA {word}", "APOTHEEK {word}", "APTEKA {n3}"),
    },
    "clothing": {"*": ("PRIMARK {city}", "H&M {n3}", "ZARA {city}", "UNIQLO {city}", "NEXT {n3}", "C&A {n4}", "TK MAXX {n4}", "MANGO {city}", "{word} BOUTIQUE")},
    "electronics": {"*": ("CURRYS {n4}", "MEDIAMARKT {city}", "SATURN {city}", "FNAC {city}", "APPLE STORE R{n3}", "BEST BUY {n5}", "{word} ELECTRONICS")},
    "home": {"*": ("IKEA {city}", "B&Q {n4}", "HORNBACH {city}", "LEROY MERLIN {city}", "OBI {n3}", "HOMEBASE {n3}", "WILKO {n4}", "ACTION {n4}")},
    "entertainment": {"*": ("ODEON {city}", "VUE {city}", "CINEWORLD {n3}", "TICKETMASTER", "EVENTIM {n6}", "PATHE {city}", "{word} THEATRE")},
    "airline": {"*": ("RYANAIR {n6}", "EASYJET {n6}", "BRITISH AIRWAYS {n10}", "LUFTHANSA {n10}", "KLM {n10}", "AIR FRANCE {n10}", "VUELING {n6}", "WIZZ AIR {n6}")},
    "hotel": {"*": ("PREMIER INN {city}", "NH HOTELS {city}", "IBIS {city}", "MARRIOTT {city}", "HOLIDAY INN {city}", "HOTEL {word} {city}", "{word} SUITES")},
    "charity": {"*": ("JUSTGIVING*{word}", "DONATE *{word} TRUST", "CANCER RESEARCH UK", "OXFAM ONLINE", "RED CROSS DONATION", "UNICEF", "GOFUNDME {word}", "{word} FOUNDATION")},
    "gift_card": {"*": ("APPLE GIFT CARD", "GOOGLE PLAY GIFT CODE", "STEAM GIFT CARD", "AMAZON GIFT CARD", "RAZER GOLD", "PSN GIFT CARD", "XBOX GIFT CARD")},
    "jewellery": {"*": ("{word} JEWELLERS", "PANDORA {city}", "SWAROVSKI {city}", "GOLD SOUK {word}", "{word} WATCHES")},
    "parking": {"*": ("RINGGO", "PAYBYPHONE {city}", "EASYPARK", "JUSTPARK", "NCP {city}", "APCOA {city}")},
    "vending": {"*": ("SELECTA {n5}", "VENDING {n6}", "COCA-COLA VENDING", "NAYAX {n6}")},
}
_WORDS = ("OAK", "RIVER", "GOLDEN", "ROYAL", "OLD", "GREEN", "BLUE", "LION", "ROSE", "STAR", "SUNNY", "URBAN", "NORTH", "HARBOUR", "MOON", "MAPLE", "CROWN", "SILVER", "LUCKY", "CORNER")

# Obscure web shops: the legitimate long tail of e-commerce, and where card testers go.
_OBSCURE_PRE = ("SP * ", "SQ *", "PAY*", "SHOPIFY*", "WWW.", "", "", "PP*", "IZ *", "ZTL*", "CKO*", "STRIPE*")
_OBSCURE_SYL = ("KLO", "VEN", "TA", "BRI", "ZA", "MOR", "LUX", "NOVA", "QUI", "RA", "DEX", "PIX", "SOL", "VIA", "KRA", "FEN", "ORA", "TEK", "ZEN", "MIO", "LUM", "GRO", "VEX", "NIK")
_OBSCURE_SUF = ("SHOP", "STORE", "STUDIO", "LTD", ".COM", "ONLINE", "DIGITAL", "GOODS", "CO", "MART", "SUPPLY", "LAB", ".IO", "TRADING")
_OBSCURE_CC = ("GB", "US", "US", "HK", "CN", "NL", "LT", "EE", "CY", "DE", "IE", "SG")

_CRYPTO_EXCHANGES = (("COINBASE UK LTD", "GB"), ("KRAKEN.COM", "US"), ("BINANCE", "LT"), ("BITSTAMP", "LU"), ("CRYPTO.COM", "MT"), ("BITPANDA", "AT"))
_WALLETS = (("PAYPAL *TOPUP", "GB"), ("REVOLUT*TOPUP", "LT"), ("WISE PAYMENTS LTD", "GB"), ("SKRILL", "GB"), ("N26 TOPUP", "DE"), ("CURVE *TOPUP", "GB"))
_BROKERS = (("VANGUARD ISA", "GB"), ("TRADING 212", "GB"), ("HARGREAVES LANSDOWN", "GB"), ("TRADE REPUBLIC", "DE"), ("DEGIRO", "NL"), ("ETORO", "CY"))
_REF_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 characters
_BANK_CODES = ("BARC", "HSBC", "LOYD", "NWBK", "MIDL", "SRLG", "MONZ", "REVO", "COBA", "DEUT", "BNPA", "SOGE", "INGB", "RABO", "ABNA", "CAIX", "BSCH", "UNCR", "BCIT", "PKOP", "AIBK", "BOFI", "CGDI", "NTSB", "CHAS", "WFBI", "BCRO", "BTRL", "ZENI", "GTBI", "HBUK", "LITA")
_ATM_BANKS = ("BARCLAYS", "HSBC", "LLOYDS BANK", "SANTANDER", "NATWEST", "SPARKASSE", "BNP PARIBAS", "ING", "CAIXABANK", "INTESA SP", "PKO BP", "CHASE", "EURONET", "CARDTRONICS")

# Calendar payees
_UTILITIES: dict[str, tuple[tuple[str, str], ...]] = {
    "GB": (("BRITISH GAS", "4900"), ("OCTOPUS ENERGY", "4900"), ("THAMES WATER", "4900"), ("EE LIMITED", "4814"), ("VODAFONE LTD", "4814"), ("SKY DIGITAL", "4899"), ("COUNCIL TAX {city}", "9311"), ("AVIVA INSURANCE", "6300"), ("VIRGIN MEDIA", "4899")),
    "DE": (("STADTWERKE {city}", "4900"), ("TELEKOM DEUTSCHLAND", "4814"), ("VODAFONE GMBH", "4814"), ("ALLIANZ VERSICHERUNG", "6300"), ("RUNDFUNK ARD ZDF", "9399"), ("E.ON ENERGIE", "4900")),
    "FR": (("EDF", "4900"), ("ORANGE SA", "4814"), ("SFR", "4814"), ("ENGIE", "4900"), ("AXA FRANCE", "6300"), ("FREE MOBILE", "4814")),
    "*": (("ENERGY {city}", "4900"), ("WATER {city}", "4900"), ("VODAFONE", "4814"), ("ORANGE", "4814"), ("ALLIANZ", "6300"), ("MUNICIPALITY {city}", "9311")),
}
_SUBSCRIPTIONS = (("NETFLIX.COM", "4899", "US"), ("SPOTIFY P{n6}", "5815", "SE"), ("DISNEY PLUS", "4899", "NL"), ("AMAZON PRIME*|ref", "5968", "LU"), ("APPLE.COM/BILL", "5818", "IE"), ("PUREGYM {n4}", "7997", "GB"), ("GOOGLE *YouTubePremium", "5815", "IE"), ("MICROSOFT*365", "5734", "IE"), ("AUDIBLE*|ref", "5968", "LU"), ("DROPBOX*{n6}", "5734", "IE"), ("HELLOFRESH", "5499", "DE"), ("PATREON* MEMBERSHIP", "5818", "US"))
_EMPLOYER_WORDS = ("ACME", "NORTHWIND", "BRIGHTPATH", "HARBOUR", "KESTREL", "MERIDIAN", "PINNACLE", "RIVERSIDE", "SUMMIT", "VERTEX", "ORCHARD", "CASTLE", "BEACON", "FALCON", "LINDEN")
_EMPLOYER_KIND = ("LOGISTICS", "HEALTHCARE", "SOLUTIONS", "RETAIL", "CONSULTING", "ENGINEERING", "HOSPITALITY", "SCHOOLS TRUST", "FOODS", "SOFTWARE", "COUNCIL", "NHS TRUST")
_COMPANY_SUFFIX = {"GB": "LTD", "IE": "LTD", "DE": "GMBH", "FR": "SAS", "NL": "BV", "ES": "SL", "IT": "SRL", "PT": "LDA", "PL": "SP ZOO", "US": "LLC", "RO": "SRL", "LT": "UAB", "CY": "LTD", "HK": "LIMITED", "AE": "FZE", "TR": "AS", "NG": "LTD", "GH": "LTD", "CN": "CO LTD", "UA": "TOV"}
_SHELL_WORDS = ("GLOBAL", "PRIME", "CAPITAL", "TRADE", "ALPHA", "UNITED", "ASSET", "FUTURE", "DIGITAL", "EURO", "ATLAS", "NOVA", "FIRST", "SECURE")
_SHELL_KIND = ("TRADING", "HOLDINGS", "INVEST", "SERVICES", "CONSULTING", "IMPEX", "LOGISTICS", "VENTURES", "PAYMENTS", "MARKETS")

# --------------------------------------------------------------------------------------------
# Narratives. Ordinary memos, benign look-alikes and scam paraphrases share vocabulary on
# purpose: no single token separates fraud from the rest.
# --------------------------------------------------------------------------------------------

_BLAND = ("", "", "payment", "transfer", "invoice {n4}", "INV-{n5}", "ref {n6}", "{first} {last}", "loan", "savings", "thanks", "goods", "services", "deposit", "balance", "x", "money", "repayment", "{month}", "as agreed", "payment {month}", "fee", "order {n5}", "cash", "see email", "gift", "family", "holiday", "car", "{first}", "business payment", "consulting fee", "payment for services", "school fees", "loan repayment", "invoice {n4} services")
_FAMILY = ("for mum's birthday", "rent split {month}", "dinner split", "birthday money", "pocket money", "gas bill share", "holiday money", "thanks for lunch", "xmas present", "wedding gift", "for the kids", "{first} bday", "bills {month}", "petrol money", "football subs", "your half of the tickets", "takeaway", "thanks for last night", "cinema", "for dad", "groceries", "netflix share", "phone bill", "car insurance share", "flat stuff", "cleaner {month}", "babysitting", "school trip", "uni money", "happy birthday!", "brunch", "pub", "taxi", "bbq stuff", "money I owe you", "paying you back", "loan repayment {month}", "for the flights", "hen do", "stag do deposit", "secret santa", "gym split", "for grandma", "weekly shop", "pizza", "festival fund", "uber home", "tickets", "{first} {month}")
_DIASPORA_MEMOS = ("for mama", "family support", "school fees", "medicine for dad", "house building {month}", "for the family", "mama {month}", "hospital bill for dad", "for grandma", "dla mamy", "monthly support", "for my brother", "wedding contribution", "land payment", "church offering", "for the kids school", "{first} upkeep", "urgent - dad hospital")
_URGENT_BENIGN = ("urgent - pay you back friday", "URGENT rent top up", "sorry urgent car repair", "urgent vet bill thanks!!", "pay asap pls - concert tix", "need this back urgent lol", "urgent boiler fix", "urgent - train ticket home", "asap for the deposit", "URGENT: mum's flowers", "urgent, pay back next week", "sorry its urgent - phone repair", "for the urgent dentist appt", "URGENT!! festival tickets", "emergency plumber split", "today pls - taxi home", "urgent - lost my wallet, pay you back", "new phone, urgent top up x", "pay today pls for the deposit", "urgent bill - thanks {first}")
_CRYPTO_BENIGN = ("BTC DCA", "monthly crypto buy", "eth top up", "bitcoin savings", "crypto investment monthly", "coinbase top up", "kraken deposit", "sats stack {month}", "crypto", "dca {month}", "ETH staking top up", "btc", "USDC for trading", "crypto portfolio top up", "investment - crypto", "buy the dip", "bitcoin {month}", "crypto savings pot")
_OFFICIAL_BENIGN: dict[str, tuple[tuple[str, str, str], ...]] = {
    # (memo, payee, mcc)
    "GB": (("HMRC SELF ASSESSMENT {n10}K", "HMRC SHIPLEY", "9311"), ("HMRC PAYE {n6}", "HMRC CUMBERNAULD", "9311"), ("tax return balance {year}", "HMRC SHIPLEY", "9311"), ("HMRC tax bill ref {n10}K", "HMRC SHIPLEY", "9311"), ("DVLA VEHICLE TAX", "DVLA", "9399"), ("TV LICENCE {n8}", "TV LICENSING", "9399"), ("council tax {month}", "COUNCIL TAX {city}", "9311"), ("student loan overpayment", "STUDENT LOANS CO", "9399")),
    "DE": (("Finanzamt Steuernummer {n3}/{n5}", "FINANZAMT {city}", "9311"), ("Einkommensteuer {year} Nachzahlung", "FINANZAMT {city}", "9311"), ("Rundfunkbeitrag", "ARD ZDF BEITRAGSSERVICE", "9399"), ("Kfz-Steuer", "BUNDESKASSE", "9311")),
    "FR": (("DGFIP IMPOT {n10}", "DGFIP", "9311"), ("taxe fonciere {year}", "DGFIP", "9311"), ("amende stationnement {n6}", "ANTAI", "9399")),
    "*": (("tax payment {year}", "TAX OFFICE {city}", "9311"), ("municipal tax {month}", "MUNICIPALITY {city}", "9311"), ("vehicle tax", "TAX OFFICE {city}", "9311")),
}
_INVEST_BENIGN = ("ISA top up", "stocks and shares ISA", "investment account top up", "pension contribution", "monthly investment", "index fund {month}", "investment ISA {year}")
_SAVINGS_BENIGN = ("transfer to my savings account", "savings transfer", "moving money to my other account", "savings pot", "to savings", "rainy day fund", "bank transfer to savings", "move to joint account", "emergency fund", "safe keeping - savings", "secure savings top up")
_NEW_PAYEE_BENIGN = ("rent {month} - new flat", "deposit + first month rent", "security deposit {n2} {street}", "holding deposit", "plumber invoice {n3}", "kitchen deposit", "{first} - dinner", "concert tickets", "wedding gift", "sofa from marketplace", "bike - thanks", "builder deposit {street}", "electrician invoice {n4}", "tutoring {month}", "dog walker {month}", "nursery fees {month}", "first rent payment", "for the car - as agreed", "ps5 - collected", "removal van", "new landlord rent {month}", "cleaner", "photography deposit", "wedding venue deposit", "invoice {n4}", "deposit", "{first} {last}", "tickets", "new account details - rent {month}", "roof repair deposit", "iphone 13 as agreed", "puppy deposit", "macbook", "concert tickets x2", "festival tickets", "laptop", "watch", "airpods", "ticket resale", "for the flat", "property deposit", "consulting fee", "payment for services", "x", "thanks", "as discussed", "goods")
_BIG_PAYEE_BENIGN = ("for the car - as agreed", "car deposit {first}", "deposit + first month rent", "builder deposit {street}", "kitchen fitting stage {n1}", "camper van deposit", "wedding venue deposit", "house deposit top up", "solicitor completion {n4}", "property deposit", "holiday let deposit", "loan to {first}", "van purchase", "{first} {last}", "invoice {n4}", "deposit", "roof repair {street}", "car")
_RENT = ("rent {month}", "rent flat {n2}", "{month} rent", "rent", "rent {n2} {street}", "rent split {month}", "RENT {mon}")
# memos in the account holder's language (they write in English about half the time)
_LOCAL_FAMILY: dict[str, tuple[str, ...]] = {
    "DE": (
        "Geburtstag Mama",
        "Essen gestern",
        "Danke!",
        "Tickets",
        "Nebenkosten {month}",
        "Geschenk",
        "Urlaubskasse",
        "Tanken",
        "fuer Oma",
        "Einkauf",
        "Rueckzahlung",
    ),
    "FR": (
        "anniversaire maman",
        "resto",
        "merci",
        "courses",
        "cadeau",
        "vacances",
        "essence",
        "pour mamie",
        "remboursement",
        "cine",
    ),
    "ES": (
        "cumple mama",
        "cena",
        "gracias",
        "regalo",
        "vacaciones",
        "gasolina",
        "para la abuela",
        "compra",
        "devolucion",
        "bizum cena",
    ),
    "IT": (
        "compleanno mamma",
        "cena",
        "grazie",
        "regalo",
        "vacanze",
        "benzina",
        "per la nonna",
        "spesa",
        "rimborso",
        "pizza",
    ),
    "PT": (
        "aniversario mae",
        "jantar",
        "obrigado",
        "prenda",
        "ferias",
        "gasolina",
        "para a avo",
        "compras",
        "devolucao",
    ),
    "PL": (
        "dla mamy",
        "kolacja",
        "dzieki",
        "prezent",
        "wakacje",
        "paliwo",
        "dla babci",
        "zakupy",
        "zwrot",
        "urodziny",
    ),
    "NL": (
        "verjaardag mama",
        "eten",
        "bedankt",
        "cadeau",
        "vakantie",
        "tanken",
        "voor oma",
        "boodschappen",
        "tikkie {first}",
        "etentje",
    ),
}
_LOCAL_RENT: dict[str, tuple[str, ...]] = {
    "DE": ("Miete {month}", "Miete", "Miete Wohnung {n2}", "Warmmiete {month}"),
    "FR": ("loyer {month}", "loyer", "loyer appartement {n2}"),
    "ES": ("alquiler {month}", "alquiler", "alquiler piso {n2}"),
    "IT": ("affitto {month}", "affitto", "canone affitto {month}"),
    "PT": ("renda {month}", "renda casa", "renda"),
    "PL": ("czynsz {month}", "czynsz", "najem {month}"),
    "NL": ("huur {month}", "huur", "huur appartement {n2}"),
}
_PAYROLL = ("SALARY {employer} {mon}", "{employer} PAYROLL {n6}", "WAGES {mon}{yy}", "SALARY", "{employer} SAL {mon}", "PAY {mon} {yy}")
_MULE_IN = ("ps5 deposit", "iphone 14 pro as agreed", "concert tickets x2", "puppy deposit", "car deposit {first}", "rent deposit viewing", "for the macbook", "ticket resale", "loan", "invoice {n4}", "{first}", "investment", "deposit", "as discussed", "goods", "payment {n4}", "holiday let deposit", "festival tickets", "laptop", "camper van deposit", "iphone", "bike", "watch deposit", "airpods x3", "{first} {last}", "", "thanks", "for the flat", "trading account", "x")
_MULE_OUT = ("", "", "x", "ok", "payment", "inv {n4}", "{first}", "loan", "thanks", "goods", "services", "transfer", "{first} {last}", "business", "consulting {n3}", "supplies", "invoice {n4}", "savings")
_ATO_MEMOS = ("", "payment", "transfer", "invoice {n4}", "INV-{n5}", "business payment", "savings transfer", "loan repayment", "consulting fee", "property deposit", "family support", "investment", "payment for services", "school fees", "{first} {last}", "rent", "deposit", "goods", "ref {n6}", "urgent payment")

# Scam memos: a small grammar. Each template is filled from the slot lists below, then cased.
_SCAM_SLOTS: dict[str, tuple[str, ...]] = {
    "urgent": ("URGENT", "urgent", "Urgent", "URGENT!!", "IMMEDIATE", "FINAL NOTICE", "final warning", "asap", "time sensitive", "act now", "last chance"),
    "today": ("today", "pay today", "before 5pm", "within 24h", "within 24 hours", "immediately", "by end of day", "now", "today only"),
    "tax_auth": ("tax office", "revenue service", "tax authority", "customs", "tax dept", "tax collection office", "state tax service"),
    "tax_debt": ("tax penalty", "penalty", "fine", "tax arrears", "unpaid tax", "late filing penalty", "tax debt", "outstanding balance", "settlement", "overdue tax"),
    "threat": ("to avoid arrest", "or court action", "to stop warrant", "avoid prosecution", "to avoid bailiffs", "case closure", "to stop legal action", "avoid police visit"),
    "bank": ("bank", "the bank", "your bank", "Revolut", "bank head office", "card services"),
    "sec_team": ("security team", "fraud team", "fraud dept", "security dept", "fraud prevention", "investigations team", "security officer", "fraud department"),
    "safe_acc": ("safe account", "secure account", "protected account", "holding account", "safe acc", "new secure acc", "temporary safe account", "secure wallet"),
    "police": ("police", "Met Police", "detective", "police officer", "FCA", "action fraud", "Europol"),
    "coin": ("BTC", "bitcoin", "crypto", "ETH", "USDT", "crypto currency", "forex", "bitcoin trading", "crypto trading", "gold trading"),
    "pct": ("20%", "15% weekly", "30% monthly", "300%", "10% daily", "5% daily", "40%", "double", "2x", "25%"),
    "guaranteed": ("guaranteed", "risk free", "no risk", "100% safe", "secured", "insured", "guaranteed profit"),
    "platform": ("Coinvest Pro", "BitProfit", "TradeMax", "Quantum AI", "NexaTrade", "CryptoYield", "BTC Capital", "ElonX", "ApexFX", "GoldenCoin", "Bitvest", "Primus Markets"),
    "rel": ("mum", "mom", "dad", "mummy", "mam", "ma", "papa", "son", "daughter"),
    "courier": ("DHL", "Royal Mail", "DPD", "UPS", "Evri", "FedEx", "parcelforce", "customs office"),
    "lover": ("my love", "darling", "babe", "honey", "sweetheart", "my dear"),
    "fee": ("fee", "charge", "release fee", "processing fee", "clearance fee", "admin fee", "unlock fee"),
    "gift": ("gift cards", "itunes cards", "google play cards", "steam cards", "amazon vouchers", "apple gift cards"),
    "ref": ("{n6}", "{L2}{n6}", "{n4}-{n4}", "CASE{n5}", "{n8}"),
}
SCAM_TEMPLATES: dict[str, tuple[str, ...]] = {
    "tax": (
        "{urgent} {tax_debt} pay {today} {tax_auth} ref {ref}", "{tax_auth} {tax_debt} {ref} {threat}",
        "{tax_debt} {threat} {tax_auth}", "{tax_auth} case {ref} {tax_debt} {today}",
        "pay {tax_auth} {tax_debt} {today} {threat}", "{tax_auth} {urgent} {tax_debt} payment",
        "tax rebate {fee} {tax_auth} {ref}", "{tax_debt} {ref} {urgent}", "{tax_auth} {gift} for {tax_debt}",
    ),
    "safe_account": (
        "{safe_acc} transfer per {bank} {sec_team}", "moving funds to {safe_acc} {ref}",
        "{bank} {sec_team} instructed transfer", "{safe_acc} as advised by {bank}",
        "protect savings {safe_acc}", "account compromised transfer to {safe_acc}",
        "{bank} {sec_team} case {ref}", "{police} investigation {safe_acc} {ref}",
        "transfer to {safe_acc} {urgent}", "{sec_team} verified {safe_acc}",
    ),
    "investment": (
        "{coin} investment {guaranteed} {pct} return", "{coin} trading account deposit {platform}",
        "{platform} {coin} deposit {pct} profit", "investment {pct} {guaranteed}",
        "{coin} mining pool deposit", "withdrawal {fee} to release profits {platform}",
        "{platform} account funding", "tax on {coin} profits to unlock withdrawal",
        "{platform} {guaranteed} returns", "top up {platform} wallet {pct}",
        "{coin} {pct} return {guaranteed}",
    ),
    "family_impersonation": (
        "hi {rel} new number pay this for me", "{rel} {urgent} bill lost my phone",
        "pay my phone bill {rel} x new number", "its me {rel} new phone {urgent} rent",
        "{rel} help stuck abroad {urgent}", "for {rel} - new number, will explain",
        "{rel} pls pay {urgent} will pay back {today}", "hi {rel} broke my phone this is my new acc",
    ),
    "romance": (
        "for your flight ticket {lover}", "{courier} customs {fee} for the parcel",
        "hospital bill {lover}", "visa {fee} so we can meet {lover}", "{fee} for inheritance transfer",
        "gold shipment clearance {fee}", "{lover} medical bills", "travel money to come see you {lover}",
    ),
    "advance_fee": (
        "{courier} redelivery {fee} {ref}", "{courier} customs {fee} parcel {ref}",
        "lottery winnings {fee} {ref}", "prize release {fee} {ref}", "recovery {fee} for lost funds {ref}",
        "job offer training {fee}", "loan approval {fee} {ref}", "registration {fee} remote job",
    ),
}
# Scammers impersonate the authorities and banks of the victim's country (added to the above).
_SCAM_SLOTS_LOCAL: dict[str, dict[str, tuple[str, ...]]] = {
    "tax_auth": {
        "GB": ("HMRC", "HM Revenue", "HMRC enforcement", "HMRC compliance", "HM Revenue & Customs"),
        "IE": ("Revenue", "Revenue Commissioners", "ROS"),
        "DE": ("Finanzamt", "Steuerbehoerde", "Bundeszentralamt fuer Steuern", "Zoll"),
        "FR": ("DGFIP", "impots.gouv", "tresor public", "douane"),
        "ES": ("Agencia Tributaria", "Hacienda", "AEAT"),
        "IT": ("Agenzia Entrate", "Equitalia", "fisco"),
        "NL": ("Belastingdienst", "CJIB"),
        "PL": ("urzad skarbowy", "KAS", "skarbowka"),
        "PT": ("Financas", "AT autoridade tributaria"),
        "US": ("IRS", "Internal Revenue Service", "IRS enforcement", "Treasury"),
    },
    "bank": {
        "GB": ("Barclays", "HSBC", "Lloyds", "Santander", "NatWest", "Monzo", "Halifax", "Nationwide"),
        "IE": ("AIB", "Bank of Ireland", "PTSB"),
        "DE": ("Deutsche Bank", "Sparkasse", "Commerzbank", "N26", "Volksbank"),
        "FR": ("BNP", "Societe Generale", "Credit Agricole", "LCL"),
        "ES": ("Santander", "BBVA", "CaixaBank", "Sabadell"),
        "IT": ("Intesa", "UniCredit", "Poste"),
        "NL": ("ING", "Rabobank", "ABN AMRO"),
        "PL": ("PKO BP", "mBank", "Pekao"),
        "PT": ("CGD", "Millennium BCP", "Novo Banco"),
        "US": ("Chase", "Wells Fargo", "Bank of America", "Citi"),
    },
}

# what a victim is told to write when the bank asks ("coached")
_COACHED = ("family", "holiday", "gift", "car", "loan to friend", "savings", "house deposit", "paying back a friend", "buying a car", "home improvements", "invoice {n4}", "", "{first} {last}", "wedding", "for my son")

# fmt: on

_SLOT_RE = re.compile(r"\{(\w+)\}")
_ANY_SLOT_RE = re.compile(r"\{([^{}]+)\}")  # also inline alternatives, {a|b}, innermost first


def scam_paraphrase_count() -> tuple[int, int]:
    """(number of scam memo templates, number of distinct fillings before casing and numbers)."""
    templates = [t for ts in SCAM_TEMPLATES.values() for t in ts]
    total = 0
    for t in templates:
        n = 1
        for slot in _SLOT_RE.findall(t):
            local = max((len(v) for v in _SCAM_SLOTS_LOCAL.get(slot, {}).values()), default=0)
            n *= len(_SCAM_SLOTS[slot]) + local if slot in _SCAM_SLOTS else 1
        total += n
    return len(templates), total


# --------------------------------------------------------------------------------------------
# Time: a weekly diurnal profile and its inverse, so organic arrivals need no thinning.
# --------------------------------------------------------------------------------------------

# fmt: off
_HOURLY = (0.25, 0.15, 0.1, 0.08, 0.08, 0.15, 0.4, 0.8, 1.2, 1.3, 1.4, 1.5, 1.7, 1.6, 1.4, 1.35, 1.4, 1.6, 1.7, 1.6, 1.4, 1.1, 0.8, 0.5)
# fmt: on
_WEEKDAY = (0.95, 0.95, 1.0, 1.0, 1.1, 1.15, 0.85)  # Monday first
_DAY = 86400.0
_WEEK = 7 * _DAY
_MONDAY_SHIFT = 3 * _DAY  # the Unix epoch was a Thursday
_WARMUP = _DAY
_SPECIAL = 0.02  # share of organic arrivals that are a legitimate look-alike (see _special)
_P_BURST = 0.2  # ... of which a burst of small online payments


def _weekly_profile() -> tuple[list[float], list[float]]:
    raw = [_WEEKDAY[d] * _HOURLY[h] for d in range(7) for h in range(24)]
    mean = sum(raw) / len(raw)
    intensity = [x / mean for x in raw]
    cum = [0.0]
    for x in intensity[:-1]:
        cum.append(cum[-1] + x * 3600.0)
    return intensity, cum


_INTENSITY, _CUM = _weekly_profile()


def _warp(t: float) -> float:
    """Expected-arrival clock: seconds of average activity elapsed at epoch time t."""
    w, rem = divmod(t + _MONDAY_SHIFT, _WEEK)
    i = int(rem // 3600.0)
    return w * _WEEK + _CUM[i] + (rem - i * 3600.0) * _INTENSITY[i]


def _unwarp(lam: float) -> float:
    w, rem = divmod(lam, _WEEK)
    i = bisect_right(_CUM, rem) - 1
    return w * _WEEK + i * 3600.0 + (rem - _CUM[i]) / _INTENSITY[i] - _MONDAY_SHIFT


# --------------------------------------------------------------------------------------------
# Simulation state
# --------------------------------------------------------------------------------------------


class _Merchant:
    __slots__ = ("cat", "country", "currency", "descriptor", "fx", "id", "ref", "wire")

    def __init__(
        self, mid: str, name: str, mcc: str, country: str, cat: int, descriptor: str, ref: bool
    ) -> None:
        self.id = mid
        self.cat = cat
        self.country = country
        self.currency, self.fx = _currency(country)
        self.descriptor = descriptor
        self.ref = ref
        self.wire = {"id": mid, "name": name, "mcc": mcc, "country": country}


class _Payee:
    __slots__ = ("account", "country", "kind", "name")

    def __init__(self, name: str, account: str, country: str, kind: str) -> None:
        self.name = name
        self.account = account
        self.country = country
        self.kind = kind


class _Persona:
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
        self.favourites: dict[int, list[_Merchant]] = {}
        self.payees: list[_Payee] = []
        self.known: dict[str, None] = {}  # beneficiary accounts already paid (ordered, capped)
        self.employer = -1
        self.salary = 0.0
        self.rent: tuple[_Payee, float] | None = None
        self.crypto = False
        self.mule = False
        self.p_trip = 0.0
        self.travel_country = ""
        self.travel_until = 0.0
        self.new_device = ""


def _currency(country: str) -> tuple[str, float]:
    c = _COUNTRIES.get(country)
    if c is not None:
        return c[0], c[1]
    return _FX_EXTRA.get(country, ("EUR", 1.0))


_NQ = 8192
_NORMALS: tuple[float, ...] = tuple(NormalDist().inv_cdf((i + 0.5) / _NQ) for i in range(_NQ))
_JITTER: tuple[float, ...] = tuple(math.exp(0.7 * z) for z in _NORMALS)  # log-normal, sd 0.7
_T = TypeVar("_T")


class _Rng:
    """The few draws the simulator needs, built on `random.Random(seed).random` alone.

    Several times faster than `random.Random`'s own `choice`, `gauss` and `randint`, which
    matters at tens of thousands of records a second. Normal deviates come from a table of
    8,192 quantiles picked at random: plenty for amounts.
    """

    __slots__ = ("_bits", "random")

    def __init__(self, seed: int) -> None:
        r = random.Random(seed)
        self.random = r.random
        self._bits = r.getrandbits

    def getrandbits(self, k: int) -> int:
        return self._bits(k)

    def choice(self, seq: Sequence[_T]) -> _T:
        return seq[int(self.random() * len(seq))]

    def weighted(self, seq: Sequence[_T], weights: Sequence[float]) -> _T:
        x = self.random() * sum(weights)
        for item, w in zip(seq, weights, strict=True):
            x -= w
            if x < 0:
                return item
        return seq[-1]

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, a: int, b: int | None = None) -> int:
        if b is None:
            a, b = 0, a
        return a + int(self.random() * (b - a))

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def gauss(self, mu: float, sigma: float) -> float:
        return mu + sigma * _NORMALS[int(self.random() * _NQ)]

    def expovariate(self, rate: float) -> float:
        return -math.log(1.0 - self.random()) / rate


_Episode = Iterator[float]
_OneShot = tuple[Callable[..., None], tuple[Any, ...]]


class _Simulator:
    def __init__(self, config: SynthConfig) -> None:
        self.cfg = config
        self.rng = _Rng(config.seed)
        self.out: list[dict[str, Any]] = []
        self.heap: list[tuple[float, int, _Episode | None, _OneShot | None]] = []
        self.seq = 0
        self.tx_prefix = f"tx-{config.seed}-"
        self.hour_key = -1
        self.hour_prefix = ""
        self.compromised: dict[str, tuple[float, float]] = {}
        self._build_merchants()
        self._build_employers()
        self._build_personas()
        self._calibrate()

    # ---- population -------------------------------------------------------------------------

    def _fill(self, template: str, country: str = "GB") -> str:
        """Fill the slots of a template (names from `country`)."""
        return fill_template(self.rng, template, country)

    def _memo(self, story: str, label: int, country: str) -> tuple[str, str]:
        """A memo of `story` from a family of the configured split: (text, family id). Account
        holders outside English-speaking countries write in their own language half the time."""
        rng = self.rng
        lang = memos.COUNTRY_LANGUAGE.get(country, "en")
        if lang != "en" and rng.random() < 0.5:
            lang = "en"
        pool = memos.for_story(story, lang, self.cfg.memo_split, label)
        family = pool[int(rng.random() * len(pool))]
        template = family.templates[int(rng.random() * len(family.templates))]
        return _case(rng, self._fill(template, country)), family.id

    def _iban(self, country: str, bank: str | None = None) -> str:
        """An IBAN-shaped account number (no valid check digits; nothing here checks them)."""
        rng = self.rng
        bank = bank or rng.choice(_BANK_CODES)
        return f"{country}{rng.randrange(10, 100)}{bank}{rng.randrange(10**13, 10**14)}"

    def _hex_id(self, prefix: str) -> str:
        return f"{prefix}{self.rng.getrandbits(48):012x}"

    def _obscure_name(self) -> str:
        rng = self.rng
        word = "".join(rng.choice(_OBSCURE_SYL) for _ in range(rng.choice((2, 2, 3))))
        suf = rng.choice(_OBSCURE_SUF)
        sep = "" if suf.startswith(".") else " "
        return f"{rng.choice(_OBSCURE_PRE)}{word}{sep}{suf}"

    def _merchant_name(self, cat: str, country: str) -> tuple[str, bool]:
        pools = _BRANDS[cat]
        template = self.rng.choice(pools.get(country) or pools["*"])
        ref = template.endswith("|ref")
        if ref:
            template = template[:-4]
        return self._fill(template, country), ref

    def _build_merchants(self) -> None:
        rng = self.rng
        cfg = self.cfg
        self.by_cc: dict[tuple[str, int], list[_Merchant]] = {}
        self.all_merchants: list[_Merchant] = []
        n_niche = max(30, cfg.merchants // 12)
        budget = cfg.merchants - n_niche
        shares = {c: 0.8 * v[2] + 0.2 / len(_COUNTRIES) for c, v in _COUNTRIES.items()}
        catw = [c[5] for c in _CATEGORIES]
        cat_cum = _cumulate(catw)
        niche = _CAT["niche_web"]
        idx = 0
        for country, share in shares.items():
            n_c = max(len(_CATEGORIES), round(budget * share))
            cats = [i for i in range(len(_CATEGORIES)) if i != niche]
            while len(cats) < n_c:
                cats.append(bisect_right(cat_cum, rng.random() * cat_cum[-1]))
            for ci in cats:
                if ci == niche:
                    continue
                cat = _CATEGORIES[ci]
                name, ref = self._merchant_name(cat[0], country)
                m = _Merchant(f"M{idx:06d}", name, rng.choice(cat[1]), country, ci, name, ref)
                idx += 1
                self.by_cc.setdefault((country, ci), []).append(m)
                self.all_merchants.append(m)
        self.niche: list[_Merchant] = []
        for _ in range(n_niche):
            name = self._obscure_name()
            m = _Merchant(
                f"M{idx:06d}",
                name,
                rng.choice(_CATEGORIES[niche][1]),
                rng.choice(_OBSCURE_CC),
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
            if _CATEGORIES[m.cat][0] in ("grocery", "fuel", "restaurant", "convenience", "bar")
            and _COUNTRIES[m.country][2] > 0
        ]

    def _build_employers(self) -> None:
        rng = self.rng
        self.employers: list[tuple[str, str, str, str, int, list[_Persona]]] = []
        for e in range(self.cfg.employers):
            country = rng.choice(_HOME) if rng.random() < 0.35 else "GB"
            if e == 0:
                name = "DWP STATE PENSION"
                country = "GB"
            else:
                name = f"{rng.choice(_EMPLOYER_WORDS)} {rng.choice(_EMPLOYER_KIND)} {_COMPANY_SUFFIX.get(country, 'LTD')}"
            payday = rng.choice((1, 15, 20, 25, 25, 26, 28, 28, 31, 31))
            self.employers.append(
                (self._iban(country, "FRST"), name, country, self._hex_id("dev-"), payday, [])
            )

    def _person_name(self, country: str) -> tuple[str, str]:
        rng = self.rng
        return rng.choice(_FIRST.get(country, _FIRST["GB"])), rng.choice(
            _LAST.get(country, _LAST["GB"])
        )

    def _build_personas(self) -> None:
        rng = self.rng
        cfg = self.cfg
        home_cum = _cumulate([_COUNTRIES[c][2] for c in _HOME])
        self.personas: list[_Persona] = []
        self.by_country: dict[str, list[_Persona]] = {}
        self.mules: list[_Persona] = []
        activity: list[float] = []
        # calendar: day of month -> list of (kind, persona, payload)
        self.monthly: dict[int, list[tuple[str, _Persona, Any]]] = {d: [] for d in range(1, 32)}
        base_cat = [c[5] for c in _CATEGORIES]
        for i in range(cfg.accounts):
            p = _Persona()
            p.country = _HOME[bisect_right(home_cum, rng.random() * home_cum[-1])]
            p.currency, p.fx = _currency(p.country)
            p.id = self._iban(p.country, "FRST")
            first, last = self._person_name(p.country)
            p.first, p.last, p.name = first, last, f"{first} {last}"
            p.card = self._hex_id("card-")
            p.devices = [self._hex_id("dev-") for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))]
            p.mule = rng.random() < 0.015 or i < 3
            p.level = math.exp(rng.gauss(-0.25 if p.mule else 0.0, 0.4))
            p.crypto = rng.random() < 0.05
            act = math.exp(rng.gauss(0.0, 0.6)) * (0.5 if p.mule else 1.0)
            activity.append(act)
            rnd = rng.random
            weights = [w * _JITTER[int(rnd() * _NQ)] for w in base_cat]
            p.cat_cum = _cumulate(weights)
            # card / atm / transfer / wallet split of organic activity
            atm = rng.uniform(0.01, 0.06)
            transfer = rng.uniform(0.04, 0.10)
            wallet = rng.uniform(0.005, 0.02) + (0.05 if p.crypto else 0.0)
            special = _SPECIAL
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
                landlord = _Payee(
                    f"{self._fill('{first} {last}', p.country).upper()}"
                    if rng.random() < 0.6
                    else f"{rng.choice(_WORDS)} LETTINGS {_COMPANY_SUFFIX.get(p.country, 'LTD')}",
                    self._iban(p.country),
                    p.country,
                    "landlord",
                )
                p.known[landlord.account] = None
                rent = round(900.0 * p.level * math.exp(rng.gauss(0, 0.25)) * p.fx, 0)
                p.rent = (landlord, rent)
                self.monthly[rng.randint(1, 5)].append(("rent", p, None))
            for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
                pool = _UTILITIES.get(p.country) or _UTILITIES["*"]
                name, mcc = rng.choice(pool)
                name = self._fill(name, p.country)
                payee = _Payee(name, self._gov_account(name, p.country), p.country, "utility")
                p.known[payee.account] = None
                amount = round(math.exp(rng.gauss(math.log(45.0), 0.5)) * p.fx, 2)
                self.monthly[rng.randint(1, 28)].append(("dd", p, (payee, amount, mcc)))
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                name, mcc, cc = rng.choice(_SUBSCRIPTIONS)
                ref = name.endswith("|ref")
                name = self._fill(name[:-4] if ref else name, cc)
                m = _Merchant(f"M{self.next_mid:06d}", name, mcc, cc, _CAT["digital"], name, ref)
                self.next_mid += 1
                amount = round(rng.choice((4.99, 7.99, 9.99, 10.99, 12.99, 15.99, 24.99)) * p.fx, 2)
                self.monthly[rng.randint(1, 28)].append(("sub", p, (m, amount)))
            self.personas.append(p)
            self.by_country.setdefault(p.country, []).append(p)
            if p.mule:
                self.mules.append(p)
        self.activity_cum = _cumulate(activity)
        self.not_mules = [p for p in self.personas if not p.mule]

    def _make_payees(self, p: _Persona) -> list[_Payee]:
        rng = self.rng
        payees: list[_Payee] = []
        for _ in range(rng.choice((1, 2, 3, 3, 4, 5, 6))):
            country = p.country if rng.random() < 0.93 else rng.choice(_HOME)
            first, last = self._person_name(country)
            if rng.random() < 0.5:
                last = p.last
            payees.append(_Payee(f"{first} {last}", self._iban(country), country, "friend"))
        if rng.random() < 0.12:  # family abroad
            country = rng.choice(_DIASPORA)
            first, last = self._person_name(country)
            payees.append(_Payee(f"{first} {last}", self._iban(country), country, "family_abroad"))
        payees.append(
            _Payee(
                p.name if rng.random() < 0.5 else f"{p.first} {p.last} SAVINGS",
                self._iban(p.country),
                p.country,
                "self",
            )
        )
        if p.crypto:
            name, cc = rng.choice(_CRYPTO_EXCHANGES)
            payees.append(_Payee(name, self._gov_account(name, cc), cc, "exchange"))
        return payees

    def _calibrate(self) -> None:
        """Probability, per organic arrival, of starting a fraud episode of each typology."""
        cfg = self.cfg
        organic_per_day = cfg.accounts * cfg.tx_per_account_day
        calendar_per_day = sum(len(v) for v in self.monthly.values()) / 30.44
        calendar_per_day += sum(len(e[5]) for e in self.employers) / 30.44
        extra = _SPECIAL * _P_BURST * 5.5  # benign bursts add ~5.5 records each
        benign = 1.0 + calendar_per_day / organic_per_day + extra
        odds = cfg.fraud_rate / (1.0 - cfg.fraud_rate)
        mean_len = dict(_EPISODE_MEAN)
        mix = [(name, w) for name, w in cfg.fraud_mix if w > 0]
        inv = sum(w / mean_len[name] for name, w in mix)
        episodes_per_arrival = odds * benign * inv / sum(w for _, w in mix)
        self.p_fraud = episodes_per_arrival
        # which typology, given an episode starts: in proportion to weight / episode length
        self.fraud_names = [name for name, _ in mix]
        self.fraud_cum = _cumulate([w / mean_len[name] for name, w in mix])
        self.rate = organic_per_day / _DAY  # organic arrivals per (warped) second

    # ---- helpers -------------------------------------------------------------------------------

    def _stamp(self, t: float) -> str:
        ms = int(t * 1000.0)
        hour, ms = divmod(ms, 3_600_000)
        if hour != self.hour_key:
            self.hour_key = hour
            self.hour_prefix = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H:")
        m, ms = divmod(ms, 60_000)
        return f"{self.hour_prefix}{m:02d}:{ms // 1000:02d}.{ms % 1000:03d}Z"

    def _record(
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
        rec: dict[str, Any] = {"transaction_id": "", "account_id": account}  # id set on the way out
        if card is not None:
            rec["card_id"] = card
        rec["timestamp"] = self._stamp(t)
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

    def _amount(self, cat: int, level: float, fx: float) -> float:
        c = _CATEGORIES[cat]
        return round(c[3] * level * math.exp(self.rng.gauss(0.0, c[4])) * fx, 2)

    def _descriptor(self, m: _Merchant) -> str:
        """The statement descriptor; some merchants add a per-purchase reference (AMZN*2K4HJ7)."""
        if m.ref:
            n = self.rng.getrandbits(30)
            a = _REF_CHARS
            return f"{m.descriptor}{a[n & 31]}{a[n >> 5 & 31]}{a[n >> 10 & 31]}{a[n >> 15 & 31]}{a[n >> 20 & 31]}{a[n >> 25]}"
        return m.descriptor

    def _device(self, p: _Persona, t: float) -> dict[str, str]:
        rng = self.rng
        dev = p.new_device or (p.devices[0] if rng.random() < 0.8 else rng.choice(p.devices))
        if p.travel_country and t < p.travel_until:
            ip = p.travel_country
        elif rng.random() < 0.025:
            ip = rng.choice(_VPN_IP)
        else:
            ip = p.country
        return {"id": dev, "ip_country": ip}

    def _push(self, t: float, episode: _Episode | None, oneshot: _OneShot | None = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, episode, oneshot))

    def _start(self, episode: _Episode) -> None:
        t = next(episode, None)
        if t is not None:
            self._push(t, episode)

    def _at_hours(self, t: float, lo: float, hi: float) -> float:
        """t if its hour of day (UTC) lies in [lo, hi), else a moment in the next such window."""
        day = (t // _DAY) * _DAY
        h = (t - day) / 3600.0
        if lo <= h < hi:
            return t
        start = day + lo * 3600.0 if h < lo else day + _DAY + lo * 3600.0
        return start + self.rng.random() * (hi - lo) * 3600.0

    def _transfer(
        self,
        t: float,
        p: _Persona,
        payee: _Payee,
        amount: float,
        memo: str,
        fraud: int,
        typology: str,
        device: dict[str, str] | None,
        mcc: str = "4829",
        family: str | None = None,
    ) -> None:
        new = payee.account not in p.known
        if new:
            known = p.known
            known[payee.account] = None
            if len(known) > 40:
                del known[next(iter(known))]
        self._record(
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

    def _payee_abroad(self, country: str, company: bool) -> _Payee:
        rng = self.rng
        if company:
            name = f"{rng.choice(_SHELL_WORDS)} {rng.choice(_SHELL_KIND)} {_COMPANY_SUFFIX.get(country, 'LTD')}"
        else:
            name = " ".join(self._person_name(country))
        return _Payee(name, self._iban(country), country, "fraud")

    def _mule_payee(self, country: str) -> _Payee:
        """A mule account of this bank in `country` if there is one, else an outside account."""
        rng = self.rng
        local = [m for m in self.mules if m.country == country]
        if local and rng.random() < 0.6:
            m = rng.choice(local)
            return _Payee(m.name, m.id, m.country, "mule")
        return self._payee_abroad(country, company=rng.random() < 0.2)

    # ---- the loop ------------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        heap = self.heap
        out = self.out
        # Start a day early and drop what happens before `start`, so that the stream opens in
        # steady state: episodes already under way, new phones and trips already in progress.
        t_start = self.cfg.start.timestamp()
        t0 = t_start - _WARMUP
        lam = _warp(t0)
        rate = self.rate
        lam += rng.expovariate(rate)
        next_org = _unwarp(lam)
        midnight = (t0 // _DAY) * _DAY
        self._start_day(midnight, t0)
        midnight += _DAY
        prefix = self.tx_prefix
        n = 0
        rnd = rng.random
        log = math.log
        mean_gap = 1.0 / rate
        while True:
            th = heap[0][0] if heap else math.inf
            if th <= next_org:
                if th >= midnight:
                    self._start_day(midnight, midnight)
                    midnight += _DAY
                    continue
                t, _, episode, oneshot = heapq.heappop(heap)
                if episode is not None:
                    nt = next(episode, None)
                    if nt is not None:
                        self._push(max(nt, t), episode)
                elif oneshot is not None:
                    oneshot[0](t, *oneshot[1])
            else:
                if next_org >= midnight:
                    self._start_day(midnight, midnight)
                    midnight += _DAY
                    continue
                t = next_org
                self._organic(t)
                lam -= log(1.0 - rnd()) * mean_gap
                next_org = _unwarp(lam)
            if out:
                if t >= t_start:
                    for record in out:
                        n += 1
                        record["transaction_id"] = f"{prefix}{n:010d}"
                        yield record
                out.clear()

    # ---- calendar ------------------------------------------------------------------------------

    def _start_day(self, midnight: float, not_before: float) -> None:
        rng = self.rng
        d = datetime.fromtimestamp(midnight, UTC)
        last = calendar.monthrange(d.year, d.month)[1]
        days = [d.day] if d.day < last else list(range(d.day, 32))
        for dom in days:
            for kind, p, payload in self.monthly[dom]:
                if kind == "rent":
                    t = midnight + rng.uniform(6, 10) * 3600.0
                elif kind == "dd":
                    t = midnight + rng.uniform(0.1, 6) * 3600.0
                else:
                    t = midnight + rng.uniform(0, 24) * 3600.0
                if t >= not_before:
                    self._push(t, None, (self._calendar_item, (kind, p, payload)))
        for e, employer in enumerate(self.employers):
            if employer[5] and _payday(d.year, d.month, employer[4]) == d.day:
                t = midnight + rng.uniform(1, 5) * 3600.0
                if t >= not_before:
                    self._start(self._ep_payroll(t, e, d))

    def _calendar_item(self, t: float, kind: str, p: _Persona, payload: Any) -> None:
        rng = self.rng
        if kind == "rent":
            assert p.rent is not None
            landlord, amount = p.rent
            pool = _LOCAL_RENT.get(p.country, _RENT) if rng.random() < 0.6 else _RENT
            memo = self._fill(rng.choice(pool), p.country) if rng.random() < 0.9 else ""
            device = self._device(p, t) if rng.random() < 0.5 else None  # standing order or app
            self._transfer(t, p, landlord, amount, memo, 0, "ordinary", device, mcc="6513")
        elif kind == "dd":
            payee, amount, mcc = payload
            amount = round(amount * math.exp(rng.gauss(0, 0.1)), 2)
            memo = f"{payee.name} DD {rng.randrange(10**5, 10**6)}"
            self._transfer(t, p, payee, amount, memo, 0, "ordinary", None, mcc=mcc)
        else:
            m, amount = payload
            self._record(
                t,
                p.id,
                amount,
                m.currency,
                self._descriptor(m),
                _CNP,
                dict(m.wire),
                0,
                "ordinary",
                card=p.card,
            )

    def _ep_payroll(self, t: float, e: int, d: datetime) -> _Episode:
        rng = self.rng
        account, name, country, device, _, staff = self.employers[e]
        short = name.split()[0]
        mon, yy = _MON3[d.month - 1], f"{d.year % 100:02d}"
        currency, fx = _currency(country)
        template = _PAYROLL[e % len(_PAYROLL)]  # each employer has its own format
        for p in staff:
            yield t
            memo = template.format(employer=short, mon=mon, yy=yy, n6=rng.randrange(10**5, 10**6))
            amount = round(p.salary * math.exp(rng.gauss(0, 0.03)) / p.fx * fx, 2)
            new = rng.random() < 0.01  # a new hire
            self._record(
                t,
                account,
                amount,
                currency,
                memo,
                "transfer",
                {"name": p.name, "mcc": "4829", "country": p.country},
                0,
                "payroll",
                counterparty={
                    "name": p.name,
                    "account": p.id,
                    "country": p.country,
                    "new_beneficiary": new,
                },
                device={"id": device, "ip_country": country},
            )
            t += rng.uniform(0.2, 3.0)

    # ---- organic activity --------------------------------------------------------------------

    def _organic(self, t: float) -> None:
        rng = self.rng
        rnd = rng.random
        if rnd() < self.p_fraud:
            self._start_fraud(t)
        cum = self.activity_cum
        p = self.personas[bisect_right(cum, rnd() * cum[-1])]
        travelling = False
        if p.travel_country:
            if t < p.travel_until:
                travelling = True
            else:
                p.travel_country = ""
        elif rng.random() < p.p_trip:
            p.travel_country = rng.choice([c for c in _TRAVEL if c != p.country])
            p.travel_until = t + rng.uniform(3, 14) * _DAY
            travelling = True
        typ = "benign_travel" if travelling else "ordinary"
        if p.new_device and rng.random() < 0.08:
            p.new_device = ""  # the new phone is now just one of the usual devices
        u = rng.random()
        card, atm, transfer, wallet = p.split
        if u < card:
            self._organic_card(t, p, travelling, typ)
        elif u < atm:
            self._organic_atm(t, p, travelling, typ)
        elif u < transfer:
            self._organic_transfer(t, p, typ)
        elif u < wallet:
            self._organic_wallet(t, p, typ)
        else:
            self._special(t, p, typ)

    def _organic_card(self, t: float, p: _Persona, travelling: bool, typ: str) -> None:
        # The hot path (four records in five): plain indexing instead of helper calls.
        rng = self.rng
        rnd = rng.random
        cum = p.cat_cum
        ci = bisect_right(cum, rnd() * cum[-1])
        cat = _CATEGORIES[ci]
        level = p.level
        if ci == _NICHE:
            pool = self.weak if rnd() < 0.3 else self.niche
            m = pool[int(rnd() * len(pool))]
        elif travelling and ci in _LOCAL_CATS and rnd() < 0.85:
            pool = self.by_cc[(p.travel_country, ci)]
            m = pool[int(rnd() * len(pool))]
            if rnd() < 0.05:  # the big legitimate purchase abroad
                level *= rng.uniform(4, 12)
        else:
            typ = "ordinary"
            favs = p.favourites.get(ci)
            if favs is None:
                pool = self.by_cc[(p.country, ci)]
                favs = [rng.choice(pool) for _ in range(rng.choice((1, 2, 3)))]
                p.favourites[ci] = favs
            u = rnd()
            if u < 0.375:
                m = favs[0]
            elif u < 0.75:
                m = favs[int(rnd() * len(favs))]
            else:
                pool = self.by_cc[(p.country, ci)]
                m = pool[int(rnd() * len(pool))]
        amount = round(cat[3] * level * math.exp(cat[4] * _NORMALS[int(rnd() * _NQ)]) * m.fx, 2)
        channel = cat[2]
        rec: dict[str, Any] = {
            "transaction_id": "",
            "account_id": p.id,
            "card_id": p.card,
            "timestamp": self._stamp(t),
            "amount": amount,
            "currency": m.currency,
            "narrative": self._descriptor(m) if m.ref else m.descriptor,
            "channel": channel,
            "merchant": dict(m.wire),
        }
        fraud = 0
        if channel == _CNP:
            if rnd() < 0.8:
                device = self._device(p, t)
                rec["device"] = device
                if p.new_device and device["id"] == p.new_device:
                    typ = "benign_new_device"
        elif self.compromised:
            window = self.compromised.get(m.id)
            if window is not None:
                if t > window[1]:
                    del self.compromised[m.id]
                elif t >= window[0]:
                    fraud, typ = 1, "compromised_merchant"
        rec["metadata"] = {"is_fraud": fraud, "typology": typ}
        self.out.append(rec)

    def _organic_atm(self, t: float, p: _Persona, travelling: bool, typ: str) -> None:
        rng = self.rng
        country = p.travel_country if travelling and rng.random() < 0.8 else p.country
        if country == p.country:
            typ = "ordinary"
        currency, fx = _currency(country)
        amount = (
            float(round(math.exp(rng.gauss(math.log(60.0), 0.6)) * p.level * fx / 10) * 10) or 10.0
        )
        bank = rng.choice(_ATM_BANKS)
        city = rng.choice(_COUNTRIES[country][3])
        name = f"{bank} {city}"
        self._record(
            t,
            p.id,
            amount,
            currency,
            f"ATM WDL {name} {rng.randrange(1000, 10000)}",
            _ATM,
            {"name": name, "mcc": "6011", "country": country},
            0,
            typ,
            card=p.card,
        )

    def _organic_transfer(self, t: float, p: _Persona, typ: str) -> None:
        rng = self.rng
        payee = rng.choice(p.payees)
        kind = payee.kind
        typ = "benign_travel" if typ == "benign_travel" else "ordinary"
        family = None
        if kind == "self":
            r = rng.random()
            if r < 0.35:
                memo, family = self._memo("savings", 0, p.country)
                if family in _ALARMING:
                    typ = "benign_alarming"
            else:
                memo = rng.choice(_SAVINGS_BENIGN) if r < 0.65 else rng.choice(_BLAND)
            amount = _money(rng, math.exp(rng.gauss(math.log(150.0), 0.9)) * p.level * p.fx, 0.2)
        elif kind == "exchange":
            memo = self._fill(rng.choice(_CRYPTO_BENIGN), p.country)
            amount = _money(rng, math.exp(rng.gauss(math.log(120.0), 0.8)) * p.level * p.fx, 0.3)
            typ = "benign_crypto"
        elif kind == "family_abroad":
            memo = self._fill(rng.choice(_DIASPORA_MEMOS), payee.country)
            amount = _money(rng, math.exp(rng.gauss(math.log(200.0), 0.6)) * p.level * p.fx, 0.15)
            if "urgent" in memo or "hospital" in memo:
                typ = "benign_urgent"
        else:
            r = rng.random()
            if r < 0.25:
                story = rng.weighted(_BENIGN_STORIES, _BENIGN_WEIGHTS)
                memo, family = self._memo(story, 0, p.country)
                if story == "urgent":
                    typ = "benign_urgent"
                elif family in _ALARMING:
                    typ = "benign_alarming"
            elif r < 0.30:
                memo = self._fill(rng.choice(_URGENT_BENIGN), p.country)
                typ = "benign_urgent"
            elif r < 0.70:
                local = _LOCAL_FAMILY.get(p.country)
                pool = local if local is not None and rng.random() < 0.5 else _FAMILY
                memo = self._fill(rng.choice(pool), p.country)
            else:
                memo = self._fill(rng.choice(_BLAND), p.country)
            amount = _money(rng, math.exp(rng.gauss(math.log(40.0), 0.9)) * p.level * p.fx, 0.45)
        device = self._device(p, t)
        if p.new_device and device["id"] == p.new_device:
            typ = "benign_new_device"
        if family is None:
            memo = _case(rng, memo)
        self._transfer(t, p, payee, max(amount, 1.0), memo, 0, typ, device, family=family)

    def _organic_wallet(self, t: float, p: _Persona, typ: str) -> None:
        rng = self.rng
        if p.crypto and rng.random() < 0.7:
            name, cc = rng.choice(_CRYPTO_EXCHANGES)
            mcc = "6051"
            typ = "benign_crypto"
            amount = _money(rng, math.exp(rng.gauss(math.log(100.0), 0.9)) * p.level * p.fx, 0.3)
        elif rng.random() < 0.04:  # a one-off crypto purchase by a non-hobbyist
            name, cc = rng.choice(_CRYPTO_EXCHANGES)
            mcc = "6051"
            typ = "benign_crypto"
            amount = _money(rng, math.exp(rng.gauss(math.log(80.0), 0.7)) * p.fx, 0.3)
        else:
            name, cc = rng.choice(_WALLETS)
            mcc = "6540"
            amount = _money(rng, math.exp(rng.gauss(math.log(50.0), 0.8)) * p.level * p.fx, 0.1)
        device = self._device(p, t)
        if p.new_device and device["id"] == p.new_device:
            typ = "benign_new_device"
        self._record(
            t,
            p.id,
            amount,
            p.currency,
            f"{name} {rng.randrange(10**7, 10**8)}",
            "wallet_topup",
            {"name": name, "mcc": mcc, "country": cc},
            0,
            typ,
            device=device,
        )

    def _special(self, t: float, p: _Persona, typ: str) -> None:
        """Rare legitimate events that look like fraud."""
        rng = self.rng
        r = rng.random()
        if r < _P_BURST:  # a burst of tiny online purchases (in-app, parking, tickets)
            self._start(self._ep_benign_burst(t, p))
        elif r < 0.30:  # a new phone
            if not p.new_device:
                dev = self._hex_id("dev-")
                p.new_device = dev
                p.devices.append(dev)
                if len(p.devices) > 6:
                    del p.devices[0]
            self._organic_transfer(t, p, typ)
        elif r < 0.75:  # a new payee: landlord, tradesman, marketplace seller, family abroad
            abroad = rng.random() < 0.15
            country = rng.choice(_DIASPORA) if abroad else p.country
            if rng.random() < 0.3:
                name = f"{rng.choice(_WORDS)} {rng.choice(('BUILDERS', 'PLUMBING', 'LETTINGS', 'PROPERTY', 'ELECTRICAL', 'MOTORS'))} {_COMPANY_SUFFIX.get(country, 'LTD')}"
            else:
                name = " ".join(self._person_name(country))
            payee = _Payee(name, self._iban(country), country, "new")
            if rng.random() < 0.5:
                p.payees.append(payee)
                if len(p.payees) > 12:
                    del p.payees[0]
            pool: tuple[str, ...]
            if abroad:
                pool, median = _DIASPORA_MEMOS, 400.0
            elif rng.random() < 0.25:  # a car, a deposit, a builder: big sums to strangers
                pool, median = _BIG_PAYEE_BENIGN, 2500.0
            else:
                pool, median = _NEW_PAYEE_BENIGN, 500.0
            family = None
            if not abroad and pool is _NEW_PAYEE_BENIGN and rng.random() < 0.3:
                memo, family = self._memo("purchase", 0, p.country)
            else:
                memo = _case(rng, self._fill(rng.choice(pool), country))
            amount = _money(rng, math.exp(rng.gauss(math.log(median), 0.8)) * p.level * p.fx, 0.25)
            self._transfer(
                t,
                p,
                payee,
                max(amount, 5.0),
                memo,
                0,
                "benign_new_payee",
                self._device(p, t),
                family=family,
            )
        elif r < 0.90:  # tax office, council, investments, savings: official-sounding and legit
            device = self._device(p, t)
            u = rng.random()
            if u < 0.6:
                memo_t, payee_t, mcc = rng.choice(
                    _OFFICIAL_BENIGN.get(p.country) or _OFFICIAL_BENIGN["*"]
                )
                payee = _Payee(
                    self._fill(payee_t, p.country),
                    self._gov_account(payee_t, p.country),
                    p.country,
                    "gov",
                )
                amount = _money(rng, math.exp(rng.gauss(math.log(600.0), 1.0)) * p.fx, 0.8)
                memo = self._fill(memo_t, p.country)
            else:
                name, cc = rng.choice(_BROKERS)
                payee = _Payee(name, self._gov_account(name, cc), cc, "broker")
                mcc = "6211"
                amount = _money(
                    rng, math.exp(rng.gauss(math.log(300.0), 0.8)) * p.level * p.fx, 0.1
                )
                memo = self._fill(rng.choice(_INVEST_BENIGN), p.country)
            self._transfer(
                t, p, payee, amount, _case(rng, memo), 0, "benign_official", device, mcc=mcc
            )
        else:  # an "urgent" note to someone they know
            payee = rng.choice(p.payees)
            memo = self._fill(rng.choice(_URGENT_BENIGN), p.country)
            amount = _money(rng, math.exp(rng.gauss(math.log(80.0), 0.8)) * p.level * p.fx, 0.4)
            self._transfer(
                t, p, payee, amount, _case(rng, memo), 0, "benign_urgent", self._device(p, t)
            )

    @staticmethod
    @lru_cache(maxsize=4096)
    def _gov_account(name: str, country: str) -> str:
        """A stable account number for a well-known payee (same name, same account)."""
        h = 0
        for ch in name:
            h = (h * 131 + ord(ch)) % 10**14
        return f"{country}00PUBL{h:014d}"

    def _ep_benign_burst(self, t: float, p: _Persona) -> _Episode:
        rng = self.rng
        kind = rng.random()
        if kind < 0.5:
            pool = (
                self.by_cc.get((p.country, _CAT["digital"])) or self.by_cc[("GB", _CAT["digital"])]
            )
            cat_amounts = (0.79, 0.99, 1.99, 2.49, 2.99, 4.99)
        elif kind < 0.8:
            pool = (
                self.by_cc.get((p.country, _CAT["parking"])) or self.by_cc[("GB", _CAT["parking"])]
            )
            pool = pool + (self.by_cc.get((p.country, _CAT["transit"])) or [])
            cat_amounts = (1.2, 1.8, 2.5, 3.4, 0.9, 2.0)
        else:
            pool = self.weak[:] + self.niche[: len(self.weak)]
            cat_amounts = (3.5, 5.0, 8.9, 12.0, 1.5, 6.0)
        m = rng.choice(pool)
        n = rng.randint(3, 8)
        device = self._device(p, t)
        for _ in range(n):
            yield t
            amount = round(rng.choice(cat_amounts) * p.fx, 2)
            self._record(
                t,
                p.id,
                amount,
                m.currency,
                self._descriptor(m),
                _CNP if _CATEGORIES[m.cat][2] == _CNP else _CP,
                dict(m.wire),
                0,
                "benign_burst",
                card=p.card,
                device=device if _CATEGORIES[m.cat][2] == _CNP else None,
            )
            t += rng.expovariate(1 / 90.0)
            if rng.random() < 0.3:
                m = rng.choice(pool)

    # ---- fraud -----------------------------------------------------------------------------------

    def _start_fraud(self, t: float) -> None:
        cum = self.fraud_cum
        name = self.fraud_names[bisect_right(cum, self.rng.random() * cum[-1])]
        self._start(_EPISODES[name](self, t))

    def _victim(self) -> _Persona:
        return self.rng.choice(self.not_mules)

    def _ep_card_testing(self, t: float) -> _Episode:
        """Many tiny card-not-present payments within minutes (or, low and slow, within hours)
        at weakly protected web shops or donation pages, then maybe one big cash-out purchase."""
        rng = self.rng
        v = self._victim()
        t += rng.expovariate(1 / 1200.0)
        if rng.random() < 0.55:
            t = self._at_hours(t, 0, 6)
        r = rng.random()
        if r < 0.6:
            shops = [rng.choice(self.weak) for _ in range(rng.choice((1, 1, 2)))]
        elif r < 0.8:
            shops = []
            for _ in range(rng.choice((1, 2))):
                name = self._obscure_name()
                shops.append(
                    _Merchant(
                        f"M{self.next_mid:06d}",
                        name,
                        "5999",
                        rng.choice(_OBSCURE_CC),
                        _CAT["niche_web"],
                        name,
                        False,
                    )
                )
                self.next_mid += 1
        else:
            shops = [rng.choice(self.by_cc[(rng.choice(_HOME), _CAT["charity"])])]
        device: dict[str, str] | None = None
        if rng.random() < 0.5:
            ip = v.country if rng.random() < 0.35 else rng.choice(_FRAUD_IP)
            device = {"id": self._hex_id("dev-"), "ip_country": ip}
        gap = 25.0 if rng.random() < 0.75 else 900.0  # a burst, or "low and slow" testing
        for _ in range(rng.randint(5, 19)):
            yield t
            m = rng.choice(shops)
            u = rng.random()
            if u < 0.3:
                base = rng.randint(1, 99) / 100.0
            elif u < 0.5:
                base = 1.0
            else:
                base = round(rng.uniform(0.5, 3.0), 2)
            self._record(
                t,
                v.id,
                round(base * m.fx, 2) or 0.01,
                m.currency,
                self._descriptor(m),
                _CNP,
                dict(m.wire),
                1,
                "card_testing",
                card=v.card,
                device=device,
            )
            t += rng.expovariate(1 / gap) + 1.0
        if rng.random() < 0.35:
            t += rng.uniform(600, 3600)
            yield t
            ci = _CAT["gift_card"] if rng.random() < 0.5 else _CAT["electronics"]
            cc = rng.choice(_HOME)
            m = rng.choice(self.by_cc[(cc, ci)])
            amount = round(rng.uniform(150, 900) * m.fx, 2)
            self._record(
                t,
                v.id,
                amount,
                m.currency,
                self._descriptor(m),
                _CNP,
                dict(m.wire),
                1,
                "card_testing",
                card=v.card,
                device=device,
            )

    def _ep_account_takeover(self, t: float) -> _Episode:
        """A new device and IP country (or remote access to the victim's own phone), maybe a small
        probe, then transfers to a new beneficiary, often abroad."""
        rng = self.rng
        v = self._victim()
        t += rng.expovariate(1 / 1800.0)
        if rng.random() < 0.4:
            t = self._at_hours(t, 0, 6)
        if rng.random() < 0.2:  # remote access to the victim's own phone: a known device
            device = {"id": v.devices[0], "ip_country": v.country}
        else:
            ip = v.country if rng.random() < 0.35 else rng.choice(_FRAUD_IP)
            device = {"id": self._hex_id("dev-"), "ip_country": ip}
        if rng.random() < 0.4:  # a small probe first
            yield t
            name, cc = rng.choice(_WALLETS)
            self._record(
                t,
                v.id,
                _money(rng, rng.uniform(1, 30) * v.fx, 0.4),
                v.currency,
                f"{name} {rng.randrange(10**7, 10**8)}",
                "wallet_topup",
                {"name": name, "mcc": "6540", "country": cc},
                1,
                "account_takeover",
                device=device,
            )
            t += rng.uniform(120, 1800)
        abroad = rng.random() < 0.65
        country = rng.choice(_FRAUD_CP) if abroad else v.country
        payee = self._payee_abroad(country, company=rng.random() < 0.35)
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            yield t
            amount = _money(rng, math.exp(rng.gauss(math.log(1400.0), 0.6)) * v.level * v.fx, 0.25)
            memo = self._fill(rng.choice(_ATO_MEMOS), country)
            self._transfer(t, v, payee, amount, _case(rng, memo), 1, "account_takeover", device)
            t += rng.uniform(60, 1500)

    def _ep_scam(self, t: float) -> _Episode:
        """Authorised push payments: the victim pays, from their own phone, what a scammer says."""
        rng = self.rng
        v = self._victim()
        kind = rng.weighted(
            (
                "tax",
                "safe_account",
                "investment",
                "family_impersonation",
                "romance",
                "advance_fee",
                "gift_card",
            ),
            (0.14, 0.18, 0.24, 0.12, 0.1, 0.1, 0.12),
        )
        t = self._at_hours(t + rng.expovariate(1 / 3600.0), 7, 22)
        coached = rng.random() < 0.25
        device = self._device(v, t)
        if kind == "gift_card":
            pool = self.by_cc[(v.country, _CAT["gift_card"])]
            for _ in range(rng.randint(2, 4)):
                yield t
                m = rng.choice(pool)
                face = rng.choice((50, 100, 100, 150, 200, 250))  # in EUR-ish units
                amount = float(max(10, round(face * m.fx / 10) * 10))
                self._record(
                    t,
                    v.id,
                    amount,
                    m.currency,
                    self._descriptor(m),
                    _CNP,
                    dict(m.wire),
                    1,
                    "scam",
                    card=v.card,
                    device=device,
                )
                t += rng.uniform(120, 900)
            return
        if kind in ("tax", "safe_account", "family_impersonation"):
            payee = self._mule_payee(v.country)
            n = rng.choice((1, 1, 2, 2, 3)) if kind == "safe_account" else rng.choice((1, 1, 1, 2))
            median = {"tax": 900.0, "safe_account": 2500.0, "family_impersonation": 500.0}[kind]
            gap = (300.0, 1800.0)
        elif kind == "investment":
            if rng.random() < 0.5:  # to the "platform" through a real crypto exchange
                name, cc = rng.choice(_CRYPTO_EXCHANGES)
                for _ in range(rng.randint(1, 4)):
                    yield t
                    amount = _money(rng, math.exp(rng.gauss(math.log(1200.0), 0.7)) * v.fx, 0.2)
                    self._record(
                        t,
                        v.id,
                        amount,
                        v.currency,
                        f"{name} {rng.randrange(10**7, 10**8)}",
                        "wallet_topup",
                        {"name": name, "mcc": "6051", "country": cc},
                        1,
                        "scam",
                        device=self._device(v, t),
                    )
                    t = self._at_hours(t + rng.uniform(1, 6) * _DAY, 7, 22)
                return
            payee = self._payee_abroad(rng.choice(_FRAUD_CP), company=True)
            n = rng.randint(1, 3)
            median = 1500.0
            gap = (_DAY, 6 * _DAY)
        else:  # romance, advance fee
            payee = self._payee_abroad(rng.choice(_FRAUD_CP), company=rng.random() < 0.2)
            n = rng.choice((1, 1, 2))
            median = 700.0
            gap = (_DAY, 8 * _DAY)
        for _ in range(n):
            yield t
            family = None
            if coached and rng.random() < 0.9:
                memo = _case(rng, self._fill(rng.choice(_COACHED), v.country))
            else:
                memo, family = self._memo(kind, 1, v.country)
            amount = _money(rng, math.exp(rng.gauss(math.log(median), 0.7)) * v.level * v.fx, 0.2)
            self._transfer(t, v, payee, amount, memo, 1, "scam", self._device(v, t), family=family)
            t = t + rng.uniform(*gap)
            if gap[0] >= _DAY:
                t = self._at_hours(t, 7, 22)

    def _ep_quiet_scam(self, t: float) -> _Episode:
        """An authorised push payment that looks like the account's own: its usual device and
        country, an amount in its usual range, by day, to a domestic personal account (one it has
        paid before in one case in three, and a repeat payment to the same payee is known by then).
        Only the memo tells."""
        rng = self.rng
        v = self._victim()
        story = rng.weighted(_QUIET_STORIES, _QUIET_WEIGHTS)
        if rng.random() < 0.35 and any(q.kind == "friend" for q in v.payees):
            payee = rng.choice([q for q in v.payees if q.kind == "friend"])
        elif story == "invoice_redirect":
            name = f"{rng.choice(_WORDS)} {rng.choice(_EMPLOYER_KIND)} {_COMPANY_SUFFIX.get(v.country, 'LTD')}"
            payee = _Payee(name, self._iban(v.country), v.country, "fraud")
        else:
            payee = _Payee(
                " ".join(self._person_name(v.country)), self._iban(v.country), v.country, "fraud"
            )
        t = self._at_hours(t + rng.expovariate(1 / 3600.0), 8, 21)
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            yield t
            memo, family = self._memo(story, 1, v.country)
            amount = _money(rng, math.exp(rng.gauss(math.log(60.0), 0.9)) * v.level * v.fx, 0.45)
            device = {"id": v.devices[0], "ip_country": v.country}
            self._transfer(
                t, v, payee, max(amount, 1.0), memo, 1, "quiet_scam", device, family=family
            )
            t = self._at_hours(t + rng.uniform(0.5, 5) * _DAY, 8, 21)

    def _ep_mule(self, t: float) -> _Episode:
        """Money in from many accounts, then out again within hours to new beneficiaries."""
        rng = self.rng
        mule = rng.choice(self.mules)
        me = _Payee(mule.name, mule.id, mule.country, "mule")
        received = 0.0  # in EUR
        for _ in range(rng.randint(3, 9)):
            t += rng.expovariate(1 / 2400.0)
            yield t
            sender = self._victim()
            eur = math.exp(rng.gauss(math.log(350.0), 0.7))
            received += eur
            memo = self._fill(rng.choice(_MULE_IN), mule.country)
            self._transfer(
                t,
                sender,
                me,
                _money(rng, eur * sender.fx, 0.3),
                _case(rng, memo),
                1,
                "mule",
                self._device(sender, t),
            )
        t += rng.uniform(600, 3 * 3600) if rng.random() < 0.5 else rng.uniform(3, 18) * 3600
        handler = (
            {"id": self._hex_id("dev-"), "ip_country": rng.choice((mule.country, *_FRAUD_IP))}
            if rng.random() < 0.3
            else None
        )
        j = rng.randint(2, 5)
        remaining = received * rng.uniform(0.85, 0.95)
        for k in range(j):
            yield t
            part = remaining / (j - k) * (rng.uniform(0.7, 1.3) if k < j - 1 else 1.0)
            remaining -= part
            device = handler or self._device(mule, t)
            r = rng.random()
            if r < 0.6:
                country = rng.choice(_FRAUD_CP) if rng.random() < 0.6 else mule.country
                payee = self._payee_abroad(country, company=rng.random() < 0.3)
                memo = self._fill(rng.choice(_MULE_OUT), country)
                self._transfer(
                    t,
                    mule,
                    payee,
                    _money(rng, part * mule.fx, 0.3),
                    _case(rng, memo),
                    1,
                    "mule",
                    device,
                )
            elif r < 0.8:
                name, cc = rng.choice(_CRYPTO_EXCHANGES)
                self._record(
                    t,
                    mule.id,
                    round(part * mule.fx, 2),
                    mule.currency,
                    f"{name} {rng.randrange(10**7, 10**8)}",
                    "wallet_topup",
                    {"name": name, "mcc": "6051", "country": cc},
                    1,
                    "mule",
                    device=device,
                )
            else:
                amount = float(min(500, max(20, round(part / 20) * 20))) * mule.fx
                bank = rng.choice(_ATM_BANKS)
                city = rng.choice(_COUNTRIES[mule.country][3])
                name = f"{bank} {city}"
                self._record(
                    t,
                    mule.id,
                    round(amount, 0),
                    mule.currency,
                    f"ATM WDL {name} {rng.randrange(1000, 10000)}",
                    _ATM,
                    {"name": name, "mcc": "6011", "country": mule.country},
                    1,
                    "mule",
                    card=mule.card,
                )
            t += rng.uniform(120, 2400)

    def _ep_compromised_merchant(self, t: float) -> _Episode:
        """A terminal whose card payments are fraudulent (skimmed or cloned) for a while."""
        rng = self.rng
        m = rng.choice(self.cp_merchants)
        start = t + rng.uniform(0, 6 * 3600.0)
        end = start + rng.uniform(6, 36) * 3600.0
        self.compromised[m.id] = (start, end)
        customers = self.by_country.get(m.country) or self.personas
        n = rng.randint(4, 16)
        times = sorted(rng.uniform(start, end) for _ in range(n))
        for tt in times:
            yield tt
            p = rng.choice(customers)
            amount = self._amount(m.cat, p.level * rng.uniform(1.0, 1.8), m.fx)
            self._record(
                tt,
                p.id,
                amount,
                m.currency,
                self._descriptor(m),
                _CP,
                dict(m.wire),
                1,
                "compromised_merchant",
                card=p.card,
            )


# the benign stories of memos to friends and family (savings go to the account's own payee)
_BENIGN_STORIES = (
    "social", "household", "purchase", "family_support", "urgent", "work_jokes", "crypto_hobby",
    "tax_real", "refund_real", "investing",
)  # fmt: skip
_BENIGN_WEIGHTS = (0.28, 0.17, 0.11, 0.1, 0.08, 0.06, 0.06, 0.05, 0.05, 0.04)
_ALARMING = frozenset(f.id for f in memos.BENIGN_FAMILIES if f.alarming)

# the stories of quiet scams, and how often each is told
_QUIET_STORIES = (
    "safe_account", "tax", "investment", "family_impersonation", "romance", "advance_fee",
    "invoice_redirect", "refund",
)  # fmt: skip
_QUIET_WEIGHTS = (0.18, 0.12, 0.16, 0.16, 0.1, 0.1, 0.1, 0.08)

# mean records per episode (used to calibrate the fraud rate)
_EPISODE_MEAN: tuple[tuple[str, float], ...] = (
    ("card_testing", 12.0 + 0.35),
    ("account_takeover", 0.4 + 1.8),
    ("scam", 1.8),
    ("quiet_scam", 1.6),
    ("mule", 6.0 + 3.5),
    ("compromised_merchant", 10.0 + 5.5),  # planned + ordinary payments caught in the window
)
_EPISODES: dict[str, Callable[[_Simulator, float], _Episode]] = {
    "card_testing": _Simulator._ep_card_testing,
    "account_takeover": _Simulator._ep_account_takeover,
    "scam": _Simulator._ep_scam,
    "quiet_scam": _Simulator._ep_quiet_scam,
    "mule": _Simulator._ep_mule,
    "compromised_merchant": _Simulator._ep_compromised_merchant,
}


def fill_template(rng: _Rng, template: str, country: str = "GB") -> str:
    """Fill the slots of a template (names from `country`) with `rng`'s numbers."""
    if "{" not in template:
        return template

    def slot(m: re.Match[str]) -> str:
        key = m.group(1)
        if key[0] == "n" and key[1:].isdigit():
            k = int(key[1:])
            return str(rng.randrange(10 ** (k - 1), 10**k))
        if key == "city":
            return rng.choice(_COUNTRIES.get(country, _COUNTRIES["GB"])[3])
        if key == "first":
            return rng.choice(_FIRST.get(country, _FIRST["GB"])).title()
        if key == "last":
            return rng.choice(_LAST.get(country, _LAST["GB"])).title()
        if key == "month":
            return rng.choice(_MONTHS)
        if key == "mon":
            return rng.choice(_MON3)
        if key == "year":
            return str(rng.choice((2022, 2023, 2024)))
        if key == "yy":
            return str(rng.choice((23, 24)))
        if key == "street":
            return rng.choice(_STREETS)
        if key == "word":
            return rng.choice(_WORDS)
        if key == "cc":
            return country if country != "GB" else "UK"
        if key == "L2":
            return chr(65 + rng.randrange(26)) + chr(65 + rng.randrange(26))
        if key in _SCAM_SLOTS:
            local = _SCAM_SLOTS_LOCAL.get(key, {}).get(country)
            pool = local if local is not None and rng.random() < 0.7 else _SCAM_SLOTS[key]
            return fill_template(rng, rng.choice(pool), country)
        if "|" in key:
            return rng.choice(key.split("|"))
        extra = memos.HELDOUT_SLOTS.get(key) or memos.EXTRA_SLOTS.get(key)
        if extra is not None:
            return rng.choice(extra)
        return key

    text = _ANY_SLOT_RE.sub(slot, template)
    while "{" in text:  # alternatives that held slots: the inner ones were filled first
        filled = _ANY_SLOT_RE.sub(slot, text)
        if filled == text:
            break
        text = filled
    return text


class MemoWriter:
    """Memos written the way the generator writes them (its slots, its casing), from a seeded
    random stream of its own: the narrative probe's twins (`fraudstream/model/probe.py`)."""

    def __init__(self, seed: int) -> None:
        self.rng = _Rng(seed)

    def write(self, family: memos.MemoFamily, country: str) -> str:
        template = self.rng.choice(family.templates)
        return _case(self.rng, fill_template(self.rng, template, country))

    def memo(self, label: int, country: str, split: MemoSplit) -> tuple[str, memos.MemoFamily]:
        """A memo of a story of this label, drawn as often as the generator tells it (quiet
        scams' stories; benign memos to friends and family), in the language an account holder
        of `country` would write it in (their own or English, as the generator does)."""
        rng = self.rng
        stories, weights = (
            (_QUIET_STORIES, _QUIET_WEIGHTS) if label else (_BENIGN_STORIES, _BENIGN_WEIGHTS)
        )
        story = rng.weighted(stories, weights)
        lang = memos.COUNTRY_LANGUAGE.get(country, "en")
        if lang != "en" and rng.random() < 0.5:
            lang = "en"
        family = rng.choice(memos.for_story(story, lang, split, label))
        return self.write(family, country), family


def _cumulate(weights: list[float]) -> list[float]:
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _money(rng: _Rng, x: float, cents: float) -> float:
    """An amount as people choose it: exact to the cent with probability `cents`, else round."""
    if rng.random() < cents:
        return round(max(x, 0.01), 2)
    step = 1.0 if x < 20 else 5.0 if x < 200 else 10.0 if x < 2000 else 50.0
    return max(step, round(x / step) * step)


def _case(rng: _Rng, text: str) -> str:
    """People type memos in every case."""
    r = rng.random()
    if r < 0.5:
        return text
    if r < 0.78:
        return text.lower()
    if r < 0.92:
        return text.upper()
    return text.capitalize()


def _payday(year: int, month: int, dom: int) -> int:
    """The day salaries arrive: `dom` (clipped to the month), moved back to Friday at weekends."""
    last = calendar.monthrange(year, month)[1]
    day = min(dom, last)
    wd = calendar.weekday(year, month, day)
    if wd >= 5:
        day -= wd - 4
        if day < 1:
            day += 3  # no Friday before it in this month: pay on the Monday instead
    return day
