"""Countries, currencies, names and places."""

from __future__ import annotations

# fmt: off
# country -> (currency, units per EUR, share of home accounts, cities)
COUNTRIES: dict[str, tuple[str, float, float, tuple[str, ...]]] = {
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
HOME = tuple(c for c, v in COUNTRIES.items() if v[2] > 0)
TRAVEL = tuple(COUNTRIES)
# currency of countries that only appear as counterparties, IP addresses or web shops
FX_EXTRA: dict[str, tuple[str, float]] = {
    "HK": ("HKD", 8.4), "CN": ("CNY", 7.8), "CY": ("EUR", 1.0), "LT": ("EUR", 1.0),
    "EE": ("EUR", 1.0), "SG": ("SGD", 1.45), "CH": ("CHF", 0.95), "SE": ("SEK", 11.4),
}

FIRST: dict[str, tuple[str, ...]] = {
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
LAST: dict[str, tuple[str, ...]] = {
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
DIASPORA = ("PL", "RO", "IN", "PK", "NG", "PH", "PT", "IE", "ES", "IT", "TR", "UA", "GH")
# countries of fraudulent beneficiaries and fraudsters' IP addresses (overlapping the above)
FRAUD_CP = ("NG", "GH", "RO", "LT", "UA", "HK", "CN", "AE", "TR", "CY", "GB", "US", "PL")
FRAUD_IP = ("NG", "RO", "UA", "RU", "VN", "BR", "ID", "TR", "CN", "NL", "US", "DE", "LT")
VPN_IP = ("NL", "US", "CH", "SE", "DE", "GB", "IE")

MONTHS = (
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
MON3 = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
STREETS = ("HIGH ST", "MILL LANE", "STATION RD", "CHURCH ST", "PARK AVE", "VICTORIA RD", "KING ST", "GREEN LANE")
# fmt: on


def currency_of(country: str) -> tuple[str, float]:
    c = COUNTRIES.get(country)
    if c is not None:
        return c[0], c[1]
    return FX_EXTRA.get(country, ("EUR", 1.0))
