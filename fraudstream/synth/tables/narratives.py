"""Memos of ordinary payments, of the benign look-alikes, of mules and account takeovers, and
the stories told in memos to friends and family and by quiet scams."""

from __future__ import annotations

from fraudstream.synth import memos

# Ordinary memos, benign look-alikes and scam paraphrases share vocabulary on purpose: no single
# token separates fraud from the rest.

# fmt: off
BLAND = ("", "", "payment", "transfer", "invoice {n4}", "INV-{n5}", "ref {n6}", "{first} {last}", "loan", "savings", "thanks", "goods", "services", "deposit", "balance", "x", "money", "repayment", "{month}", "as agreed", "payment {month}", "fee", "order {n5}", "cash", "see email", "gift", "family", "holiday", "car", "{first}", "business payment", "consulting fee", "payment for services", "school fees", "loan repayment", "invoice {n4} services")
FAMILY = ("for mum's birthday", "rent split {month}", "dinner split", "birthday money", "pocket money", "gas bill share", "holiday money", "thanks for lunch", "xmas present", "wedding gift", "for the kids", "{first} bday", "bills {month}", "petrol money", "football subs", "your half of the tickets", "takeaway", "thanks for last night", "cinema", "for dad", "groceries", "netflix share", "phone bill", "car insurance share", "flat stuff", "cleaner {month}", "babysitting", "school trip", "uni money", "happy birthday!", "brunch", "pub", "taxi", "bbq stuff", "money I owe you", "paying you back", "loan repayment {month}", "for the flights", "hen do", "stag do deposit", "secret santa", "gym split", "for grandma", "weekly shop", "pizza", "festival fund", "uber home", "tickets", "{first} {month}")
DIASPORA_MEMOS = ("for mama", "family support", "school fees", "medicine for dad", "house building {month}", "for the family", "mama {month}", "hospital bill for dad", "for grandma", "dla mamy", "monthly support", "for my brother", "wedding contribution", "land payment", "church offering", "for the kids school", "{first} upkeep", "urgent - dad hospital")
URGENT_BENIGN = ("urgent - pay you back friday", "URGENT rent top up", "sorry urgent car repair", "urgent vet bill thanks!!", "pay asap pls - concert tix", "need this back urgent lol", "urgent boiler fix", "urgent - train ticket home", "asap for the deposit", "URGENT: mum's flowers", "urgent, pay back next week", "sorry its urgent - phone repair", "for the urgent dentist appt", "URGENT!! festival tickets", "emergency plumber split", "today pls - taxi home", "urgent - lost my wallet, pay you back", "new phone, urgent top up x", "pay today pls for the deposit", "urgent bill - thanks {first}")
CRYPTO_BENIGN = ("BTC DCA", "monthly crypto buy", "eth top up", "bitcoin savings", "crypto investment monthly", "coinbase top up", "kraken deposit", "sats stack {month}", "crypto", "dca {month}", "ETH staking top up", "btc", "USDC for trading", "crypto portfolio top up", "investment - crypto", "buy the dip", "bitcoin {month}", "crypto savings pot")
OFFICIAL_BENIGN: dict[str, tuple[tuple[str, str, str], ...]] = {
    # (memo, payee, mcc)
    "GB": (("HMRC SELF ASSESSMENT {n10}K", "HMRC SHIPLEY", "9311"), ("HMRC PAYE {n6}", "HMRC CUMBERNAULD", "9311"), ("tax return balance {year}", "HMRC SHIPLEY", "9311"), ("HMRC tax bill ref {n10}K", "HMRC SHIPLEY", "9311"), ("DVLA VEHICLE TAX", "DVLA", "9399"), ("TV LICENCE {n8}", "TV LICENSING", "9399"), ("council tax {month}", "COUNCIL TAX {city}", "9311"), ("student loan overpayment", "STUDENT LOANS CO", "9399")),
    "DE": (("Finanzamt Steuernummer {n3}/{n5}", "FINANZAMT {city}", "9311"), ("Einkommensteuer {year} Nachzahlung", "FINANZAMT {city}", "9311"), ("Rundfunkbeitrag", "ARD ZDF BEITRAGSSERVICE", "9399"), ("Kfz-Steuer", "BUNDESKASSE", "9311")),
    "FR": (("DGFIP IMPOT {n10}", "DGFIP", "9311"), ("taxe fonciere {year}", "DGFIP", "9311"), ("amende stationnement {n6}", "ANTAI", "9399")),
    "*": (("tax payment {year}", "TAX OFFICE {city}", "9311"), ("municipal tax {month}", "MUNICIPALITY {city}", "9311"), ("vehicle tax", "TAX OFFICE {city}", "9311")),
}
INVEST_BENIGN = ("ISA top up", "stocks and shares ISA", "investment account top up", "pension contribution", "monthly investment", "index fund {month}", "investment ISA {year}")
SAVINGS_BENIGN = ("transfer to my savings account", "savings transfer", "moving money to my other account", "savings pot", "to savings", "rainy day fund", "bank transfer to savings", "move to joint account", "emergency fund", "safe keeping - savings", "secure savings top up")
NEW_PAYEE_BENIGN = ("rent {month} - new flat", "deposit + first month rent", "security deposit {n2} {street}", "holding deposit", "plumber invoice {n3}", "kitchen deposit", "{first} - dinner", "concert tickets", "wedding gift", "sofa from marketplace", "bike - thanks", "builder deposit {street}", "electrician invoice {n4}", "tutoring {month}", "dog walker {month}", "nursery fees {month}", "first rent payment", "for the car - as agreed", "ps5 - collected", "removal van", "new landlord rent {month}", "cleaner", "photography deposit", "wedding venue deposit", "invoice {n4}", "deposit", "{first} {last}", "tickets", "new account details - rent {month}", "roof repair deposit", "iphone 13 as agreed", "puppy deposit", "macbook", "concert tickets x2", "festival tickets", "laptop", "watch", "airpods", "ticket resale", "for the flat", "property deposit", "consulting fee", "payment for services", "x", "thanks", "as discussed", "goods")
BIG_PAYEE_BENIGN = ("for the car - as agreed", "car deposit {first}", "deposit + first month rent", "builder deposit {street}", "kitchen fitting stage {n1}", "camper van deposit", "wedding venue deposit", "house deposit top up", "solicitor completion {n4}", "property deposit", "holiday let deposit", "loan to {first}", "van purchase", "{first} {last}", "invoice {n4}", "deposit", "roof repair {street}", "car")
RENT = ("rent {month}", "rent flat {n2}", "{month} rent", "rent", "rent {n2} {street}", "rent split {month}", "RENT {mon}")
# memos in the account holder's language (they write in English about half the time)
LOCAL_FAMILY: dict[str, tuple[str, ...]] = {
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
LOCAL_RENT: dict[str, tuple[str, ...]] = {
    "DE": ("Miete {month}", "Miete", "Miete Wohnung {n2}", "Warmmiete {month}"),
    "FR": ("loyer {month}", "loyer", "loyer appartement {n2}"),
    "ES": ("alquiler {month}", "alquiler", "alquiler piso {n2}"),
    "IT": ("affitto {month}", "affitto", "canone affitto {month}"),
    "PT": ("renda {month}", "renda casa", "renda"),
    "PL": ("czynsz {month}", "czynsz", "najem {month}"),
    "NL": ("huur {month}", "huur", "huur appartement {n2}"),
}
PAYROLL = ("SALARY {employer} {mon}", "{employer} PAYROLL {n6}", "WAGES {mon}{yy}", "SALARY", "{employer} SAL {mon}", "PAY {mon} {yy}")
MULE_IN = ("ps5 deposit", "iphone 14 pro as agreed", "concert tickets x2", "puppy deposit", "car deposit {first}", "rent deposit viewing", "for the macbook", "ticket resale", "loan", "invoice {n4}", "{first}", "investment", "deposit", "as discussed", "goods", "payment {n4}", "holiday let deposit", "festival tickets", "laptop", "camper van deposit", "iphone", "bike", "watch deposit", "airpods x3", "{first} {last}", "", "thanks", "for the flat", "trading account", "x")
MULE_OUT = ("", "", "x", "ok", "payment", "inv {n4}", "{first}", "loan", "thanks", "goods", "services", "transfer", "{first} {last}", "business", "consulting {n3}", "supplies", "invoice {n4}", "savings")
ATO_MEMOS = ("", "payment", "transfer", "invoice {n4}", "INV-{n5}", "business payment", "savings transfer", "loan repayment", "consulting fee", "property deposit", "family support", "investment", "payment for services", "school fees", "{first} {last}", "rent", "deposit", "goods", "ref {n6}", "urgent payment")
# fmt: on

# the benign stories of memos to friends and family (savings go to the account's own payee)
BENIGN_STORIES = (
    "social", "household", "purchase", "family_support", "urgent", "work_jokes", "crypto_hobby",
    "tax_real", "refund_real", "investing",
)  # fmt: skip
BENIGN_WEIGHTS = (0.28, 0.17, 0.11, 0.1, 0.08, 0.06, 0.06, 0.05, 0.05, 0.04)
ALARMING = frozenset(f.id for f in memos.BENIGN_FAMILIES if f.alarming)

# the stories of quiet scams, and how often each is told
QUIET_STORIES = (
    "safe_account", "tax", "investment", "family_impersonation", "romance", "advance_fee",
    "invoice_redirect", "refund",
)  # fmt: skip
QUIET_WEIGHTS = (0.18, 0.12, 0.16, 0.16, 0.1, 0.1, 0.1, 0.08)
