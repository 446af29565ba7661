"""Card spend categories and MCCs, merchant names, and the payees of the calendar."""

from __future__ import annotations

# fmt: off
# Card spend categories: name, MCCs, channel, median amount in EUR, log-sd, weight in spend mix.
CP, CNP, ATM = "card_present", "card_not_present", "atm"
CATEGORIES: tuple[tuple[str, tuple[str, ...], str, float, float, float], ...] = (
    ("grocery", ("5411",), CP, 32.0, 0.75, 24.0),
    ("convenience", ("5499",), CP, 9.0, 0.6, 7.0),
    ("restaurant", ("5812",), CP, 34.0, 0.55, 7.0),
    ("fastfood", ("5814",), CP, 11.0, 0.45, 7.0),
    ("coffee", ("5814",), CP, 4.8, 0.35, 7.0),
    ("bar", ("5813",), CP, 24.0, 0.6, 4.0),
    ("fuel", ("5541", "5542"), CP, 58.0, 0.35, 5.0),
    ("transit", ("4111",), CP, 3.2, 0.5, 6.0),
    ("rideshare", ("4121",), CNP, 15.0, 0.5, 4.0),
    ("food_delivery", ("5814",), CNP, 27.0, 0.4, 4.0),
    ("marketplace", ("5999", "5942", "5311"), CNP, 28.0, 0.9, 7.0),
    ("niche_web", ("5999", "5969", "5945", "5977"), CNP, 24.0, 0.8, 2.2),
    ("digital", ("5818", "5815", "5816"), CNP, 4.0, 0.7, 3.0),
    ("pharmacy", ("5912",), CP, 13.0, 0.6, 3.0),
    ("clothing", ("5651", "5691"), CP, 52.0, 0.6, 3.0),
    ("electronics", ("5732",), CP, 140.0, 1.0, 1.0),
    ("home", ("5200", "5712"), CP, 45.0, 0.8, 2.0),
    ("entertainment", ("7832", "7922"), CP, 22.0, 0.5, 2.0),
    ("airline", ("4511",), CNP, 190.0, 0.7, 0.5),
    ("hotel", ("7011",), CP, 140.0, 0.6, 0.4),
    ("charity", ("8398",), CNP, 12.0, 0.7, 0.5),
    ("gift_card", ("5999",), CNP, 35.0, 0.5, 0.25),
    ("jewellery", ("5944",), CP, 400.0, 0.8, 0.1),
    ("parking", ("7523",), CNP, 4.0, 0.5, 1.5),
    ("vending", ("5999",), CP, 1.8, 0.4, 0.8),
)
CAT = {c[0]: i for i, c in enumerate(CATEGORIES)}
NICHE = CAT["niche_web"]
# categories a traveller buys from locally
LOCAL_CATS = frozenset(CAT[c] for c in ("grocery", "convenience", "restaurant", "fastfood", "coffee", "bar", "fuel", "transit", "pharmacy", "clothing", "entertainment", "hotel", "jewellery", "electronics", "vending"))

# Merchant name templates by category and country ("*" for any country). Slots: {n3}.. digits,
# {city}, {cc}, {word}. A trailing "|ref" marks descriptors that carry a per-purchase reference.
BRANDS: dict[str, dict[str, tuple[str, ...]]] = {
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
WORDS = ("OAK", "RIVER", "GOLDEN", "ROYAL", "OLD", "GREEN", "BLUE", "LION", "ROSE", "STAR", "SUNNY", "URBAN", "NORTH", "HARBOUR", "MOON", "MAPLE", "CROWN", "SILVER", "LUCKY", "CORNER")

# Obscure web shops: the legitimate long tail of e-commerce, and where card testers go.
OBSCURE_PRE = ("SP * ", "SQ *", "PAY*", "SHOPIFY*", "WWW.", "", "", "PP*", "IZ *", "ZTL*", "CKO*", "STRIPE*")
OBSCURE_SYL = ("KLO", "VEN", "TA", "BRI", "ZA", "MOR", "LUX", "NOVA", "QUI", "RA", "DEX", "PIX", "SOL", "VIA", "KRA", "FEN", "ORA", "TEK", "ZEN", "MIO", "LUM", "GRO", "VEX", "NIK")
OBSCURE_SUF = ("SHOP", "STORE", "STUDIO", "LTD", ".COM", "ONLINE", "DIGITAL", "GOODS", "CO", "MART", "SUPPLY", "LAB", ".IO", "TRADING")
OBSCURE_CC = ("GB", "US", "US", "HK", "CN", "NL", "LT", "EE", "CY", "DE", "IE", "SG")

CRYPTO_EXCHANGES = (("COINBASE UK LTD", "GB"), ("KRAKEN.COM", "US"), ("BINANCE", "LT"), ("BITSTAMP", "LU"), ("CRYPTO.COM", "MT"), ("BITPANDA", "AT"))
WALLETS = (("PAYPAL *TOPUP", "GB"), ("REVOLUT*TOPUP", "LT"), ("WISE PAYMENTS LTD", "GB"), ("SKRILL", "GB"), ("N26 TOPUP", "DE"), ("CURVE *TOPUP", "GB"))
BROKERS = (("VANGUARD ISA", "GB"), ("TRADING 212", "GB"), ("HARGREAVES LANSDOWN", "GB"), ("TRADE REPUBLIC", "DE"), ("DEGIRO", "NL"), ("ETORO", "CY"))
REF_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 characters
BANK_CODES = ("BARC", "HSBC", "LOYD", "NWBK", "MIDL", "SRLG", "MONZ", "REVO", "COBA", "DEUT", "BNPA", "SOGE", "INGB", "RABO", "ABNA", "CAIX", "BSCH", "UNCR", "BCIT", "PKOP", "AIBK", "BOFI", "CGDI", "NTSB", "CHAS", "WFBI", "BCRO", "BTRL", "ZENI", "GTBI", "HBUK", "LITA")
ATM_BANKS = ("BARCLAYS", "HSBC", "LLOYDS BANK", "SANTANDER", "NATWEST", "SPARKASSE", "BNP PARIBAS", "ING", "CAIXABANK", "INTESA SP", "PKO BP", "CHASE", "EURONET", "CARDTRONICS")

# Calendar payees
UTILITIES: dict[str, tuple[tuple[str, str], ...]] = {
    "GB": (("BRITISH GAS", "4900"), ("OCTOPUS ENERGY", "4900"), ("THAMES WATER", "4900"), ("EE LIMITED", "4814"), ("VODAFONE LTD", "4814"), ("SKY DIGITAL", "4899"), ("COUNCIL TAX {city}", "9311"), ("AVIVA INSURANCE", "6300"), ("VIRGIN MEDIA", "4899")),
    "DE": (("STADTWERKE {city}", "4900"), ("TELEKOM DEUTSCHLAND", "4814"), ("VODAFONE GMBH", "4814"), ("ALLIANZ VERSICHERUNG", "6300"), ("RUNDFUNK ARD ZDF", "9399"), ("E.ON ENERGIE", "4900")),
    "FR": (("EDF", "4900"), ("ORANGE SA", "4814"), ("SFR", "4814"), ("ENGIE", "4900"), ("AXA FRANCE", "6300"), ("FREE MOBILE", "4814")),
    "*": (("ENERGY {city}", "4900"), ("WATER {city}", "4900"), ("VODAFONE", "4814"), ("ORANGE", "4814"), ("ALLIANZ", "6300"), ("MUNICIPALITY {city}", "9311")),
}
SUBSCRIPTIONS = (("NETFLIX.COM", "4899", "US"), ("SPOTIFY P{n6}", "5815", "SE"), ("DISNEY PLUS", "4899", "NL"), ("AMAZON PRIME*|ref", "5968", "LU"), ("APPLE.COM/BILL", "5818", "IE"), ("PUREGYM {n4}", "7997", "GB"), ("GOOGLE *YouTubePremium", "5815", "IE"), ("MICROSOFT*365", "5734", "IE"), ("AUDIBLE*|ref", "5968", "LU"), ("DROPBOX*{n6}", "5734", "IE"), ("HELLOFRESH", "5499", "DE"), ("PATREON* MEMBERSHIP", "5818", "US"))
EMPLOYER_WORDS = ("ACME", "NORTHWIND", "BRIGHTPATH", "HARBOUR", "KESTREL", "MERIDIAN", "PINNACLE", "RIVERSIDE", "SUMMIT", "VERTEX", "ORCHARD", "CASTLE", "BEACON", "FALCON", "LINDEN")
EMPLOYER_KIND = ("LOGISTICS", "HEALTHCARE", "SOLUTIONS", "RETAIL", "CONSULTING", "ENGINEERING", "HOSPITALITY", "SCHOOLS TRUST", "FOODS", "SOFTWARE", "COUNCIL", "NHS TRUST")
COMPANY_SUFFIX = {"GB": "LTD", "IE": "LTD", "DE": "GMBH", "FR": "SAS", "NL": "BV", "ES": "SL", "IT": "SRL", "PT": "LDA", "PL": "SP ZOO", "US": "LLC", "RO": "SRL", "LT": "UAB", "CY": "LTD", "HK": "LIMITED", "AE": "FZE", "TR": "AS", "NG": "LTD", "GH": "LTD", "CN": "CO LTD", "UA": "TOV"}
SHELL_WORDS = ("GLOBAL", "PRIME", "CAPITAL", "TRADE", "ALPHA", "UNITED", "ASSET", "FUTURE", "DIGITAL", "EURO", "ATLAS", "NOVA", "FIRST", "SECURE")
SHELL_KIND = ("TRADING", "HOLDINGS", "INVEST", "SERVICES", "CONSULTING", "IMPEX", "LOGISTICS", "VENTURES", "PAYMENTS", "MARKETS")
# fmt: on
