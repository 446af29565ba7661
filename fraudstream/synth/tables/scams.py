"""Scam memos: a small grammar (`SCAM_TEMPLATES`, filled from the slot lists, then cased)."""

from __future__ import annotations

import re

# fmt: off
# Scam memos: a small grammar. Each template is filled from the slot lists below, then cased.
SCAM_SLOTS: dict[str, tuple[str, ...]] = {
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
SCAM_SLOTS_LOCAL: dict[str, dict[str, tuple[str, ...]]] = {
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
COACHED = ("family", "holiday", "gift", "car", "loan to friend", "savings", "house deposit", "paying back a friend", "buying a car", "home improvements", "invoice {n4}", "", "{first} {last}", "wedding", "for my son")

# fmt: on

_SLOT_RE = re.compile(r"\{(\w+)\}")


def scam_paraphrase_count() -> tuple[int, int]:
    """(number of scam memo templates, number of distinct fillings before casing and numbers)."""
    templates = [t for ts in SCAM_TEMPLATES.values() for t in ts]
    total = 0
    for t in templates:
        n = 1
        for slot in _SLOT_RE.findall(t):
            local = max((len(v) for v in SCAM_SLOTS_LOCAL.get(slot, {}).values()), default=0)
            n *= len(SCAM_SLOTS[slot]) + local if slot in SCAM_SLOTS else 1
        total += n
    return len(templates), total
