#!/usr/bin/env python3
"""Generates the record files of sandbox-data/ (owners.json ... policies.json).

Deterministic: the same script always writes the same bytes, so a diff of the JSON files shows
exactly what a change to this script did. The manifest (collections.json) and the scenarios
(scenarios.json) are written by hand, not by this script; the magic values below must stay in
step with scenarios.json (the test suite checks that they do: every static declined quote is
declined by a magic value, every record could have been created through the API).

The data is a snapshot as of 2026-10-31: three months (August to October 2026) of bank data
for twelve account holders in Germany, France, the Netherlands and the United Kingdom, their
payment orders and monthly statements, and an insurer's products, quotes and policies.

Money is always an integer in minor units (cents, pence). Dates are "YYYY-MM-DD" strings,
`created` is Unix seconds (UTC).

Usage: python3 sandbox-data/tools/generate.py   (writes next to this folder's parent)
"""

import calendar
import datetime as dt
import json
import os
import random
from decimal import Decimal, ROUND_HALF_UP

OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = random.Random(20261031)

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
used_ids = set()


def new_id(prefix):
    while True:
        candidate = prefix + "".join(rng.choice(BASE62) for _ in range(14))
        if candidate not in used_ids:
            used_ids.add(candidate)
            return candidate


def unix(day, hour=9, minute=0):
    return int(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone.utc).timestamp())


def d(s):
    return dt.date.fromisoformat(s)


# ---------------------------------------------------------------------------------------------
# IBANs (ISO 13616: check digits = 98 - (BBAN + country + "00" as digits) mod 97)


def iban_check_digits(country, bban):
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return "%02d" % (98 - int(digits) % 97)


def make_iban(country, bban):
    iban = country + iban_check_digits(country, bban) + bban
    assert iban_valid(iban), iban
    return iban


def iban_valid(iban):
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def iban_de(blz):
    return make_iban("DE", blz + digits(10))


def iban_fr(bank, branch):
    account = digits(11)
    # French RIB key: 97 - ((89 * bank + 15 * branch + 3 * account) mod 97).
    key = 97 - ((89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97)
    return make_iban("FR", bank + branch + account + "%02d" % key)


def iban_nl(bank):
    # Dutch account numbers pass the "elfproef": sum of digit * weight (10..1) is divisible by 11.
    while True:
        number = "0" + digits(9)
        if sum(int(c) * w for c, w in zip(number, range(10, 0, -1))) % 11 == 0:
            return make_iban("NL", bank + number)


def iban_gb(bank, sort_code):
    return make_iban("GB", bank + sort_code + digits(8))


BANKS = {
    "DE": [("10070000", "DEUTDEBBXXX"), ("37040044", "COBADEFFXXX"), ("50010517", "INGDDEFFXXX"),
           ("70150000", "SSKMDEMMXXX"), ("20050550", "HASPDEHHXXX")],
    "FR": [("30004", "00828", "BNPAFRPPXXX"), ("30003", "03620", "SOGEFRPPXXX"), ("20041", "01007", "PSSTFRPPLYO")],
    "NL": [("ABNA", "ABNANL2A"), ("INGB", "INGBNL2A"), ("RABO", "RABONL2U")],
    "GB": [("NWBK", "601613", "NWBKGB2L"), ("BARC", "200000", "BARCGB22"), ("LOYD", "309634", "LOYDGB2L")],
}
BANK_NAMES = {
    "DE": ["Deutsche Bank", "Commerzbank", "ING", "Stadtsparkasse München", "Hamburger Sparkasse"],
    "FR": ["BNP Paribas", "Société Générale", "La Banque Postale"],
    "NL": ["ABN AMRO", "ING", "Rabobank"],
    "GB": ["NatWest", "Barclays", "Lloyds Bank"],
}


def account_iban(country, bank_index):
    bank = BANKS[country][bank_index]
    if country == "DE":
        return iban_de(bank[0]), bank[1]
    if country == "FR":
        return iban_fr(bank[0], bank[1]), bank[2]
    if country == "NL":
        return iban_nl(bank[0]), bank[1]
    return iban_gb(bank[0], bank[1]), bank[2]


def any_iban(country):
    return account_iban(country, rng.randrange(len(BANKS[country])))[0]


# ---------------------------------------------------------------------------------------------
# Owners and accounts

OWNERS = [
    # country, type, name, email, phone, date of birth / registration, line1, postal code, city
    ("DE", "individual", "Lena Hoffmann", "lena.hoffmann@example.com", "+49 30 5557 2184", "1991-04-17",
     "Kastanienallee 12", "10435", "Berlin"),
    ("DE", "individual", "Jonas Weber", "jonas.weber@example.net", "+49 89 5550 7731", "1985-11-02",
     "Leopoldstraße 88", "80802", "München"),
    ("DE", "business", "Schreinerei Albrecht GmbH", "buchhaltung@schreinerei-albrecht.example", "+49 221 555 40 12",
     "HRB 81234 Köln", "Venloer Straße 201", "50823", "Köln"),
    ("DE", "individual", "Miriam Yilmaz", "miriam.yilmaz@example.org", "+49 40 5551 9022", "1979-06-30",
     "Osterstraße 45", "20259", "Hamburg"),
    ("FR", "individual", "Camille Martin", "camille.martin@example.com", "+33 4 55 50 12 87", "1994-02-08",
     "14 rue de la République", "69002", "Lyon"),
    ("FR", "individual", "Hugo Lefebvre", "hugo.lefebvre@example.fr", "+33 1 55 50 43 19", "1988-09-21",
     "27 rue Oberkampf", "75011", "Paris"),
    ("FR", "business", "Boulangerie Roux SARL", "contact@boulangerie-roux.example", "+33 5 55 50 77 02",
     "RCS Bordeaux 812 345 678", "8 cours Victor Hugo", "33000", "Bordeaux"),
    ("NL", "individual", "Sanne de Vries", "sanne.devries@example.nl", "+31 30 555 0148", "1996-12-03",
     "Oudegracht 150", "3511 AZ", "Utrecht"),
    ("NL", "individual", "Daan Jansen", "daan.jansen@example.com", "+31 20 555 0391", "1982-03-14",
     "Prinsengracht 402", "1016 JB", "Amsterdam"),
    ("NL", "business", "Van Dijk Logistiek B.V.", "finance@vandijk-logistiek.example", "+31 10 555 0277",
     "KvK 24312345", "Waalhaven Z.z. 19", "3089 JH", "Rotterdam"),
    ("GB", "individual", "Oliver Bennett", "oliver.bennett@example.co.uk", "+44 7700 900412", "1990-07-25",
     "42 Deansgate", "M3 2EG", "Manchester"),
    ("GB", "individual", "Priya Sharma", "priya.sharma@example.co.uk", "+44 7700 900871", "1987-01-11",
     "18 Camden High Street", "NW1 0JH", "London"),
]

# owner index, account name, type, bank index, opening balance on 2026-08-01 (minor units), opened on
ACCOUNTS = [
    (0, "Girokonto", "current", 0, 284_512, "2014-05-02"),
    (0, "Tagesgeld", "savings", 0, 1_250_000, "2019-01-15"),
    (1, "Girokonto", "current", 3, 192_377, "2009-10-01"),
    (2, "Geschäftskonto", "business_current", 1, 3_845_090, "2017-03-20"),
    (3, "Girokonto", "current", 4, 341_020, "2021-02-11"),
    (3, "Girokonto (alt)", "current", 2, 48_630, "2003-08-04"),
    (4, "Compte courant", "current", 0, 163_845, "2016-09-12"),
    (4, "Livret A", "savings", 0, 870_000, "2016-09-12"),
    (5, "Compte courant", "current", 1, 227_410, "2012-06-01"),
    (6, "Compte professionnel", "business_current", 2, 2_268_715, "2018-11-05"),
    (7, "Betaalrekening", "current", 1, 139_956, "2018-01-22"),
    (7, "Spaarrekening", "savings", 1, 640_000, "2018-01-22"),
    (8, "Betaalrekening", "current", 0, 410_583, "2007-04-30"),
    (9, "Zakelijke rekening", "business_current", 2, 5_912_340, "2015-07-01"),
    (10, "Current Account", "current", 0, 215_066, "2013-02-18"),
    (10, "Instant Saver", "savings", 0, 500_000, "2020-08-03"),
    (11, "Current Account", "current", 1, 176_904, "2011-12-09"),
]
CLOSED_ACCOUNT = 5  # Miriam's old account: emptied and closed on 2026-08-14
CLOSED_ON = d("2026-08-14")

CURRENCY = {"DE": "EUR", "FR": "EUR", "NL": "EUR", "GB": "GBP"}

owners = []
for i, (country, kind, name, email, phone, extra, line1, postal, city) in enumerate(OWNERS):
    created = d("2026-07-01") + dt.timedelta(days=i)
    owners.append({
        "id": new_id("own_"),
        "object": "owner",
        "livemode": False,
        "created": unix(created, 8, 5 * i),
        "type": kind,
        "name": name,
        "email": email,
        "phone": phone,
        "date_of_birth": extra if kind == "individual" else None,
        "company_registration": extra if kind == "business" else None,
        "address": {"line1": line1, "postal_code": postal, "city": city, "country": country},
        "country": country,
        "kyc_status": "verified",
    })

accounts = []
for i, (owner_index, name, kind, bank_index, opening, opened_on) in enumerate(ACCOUNTS):
    owner = owners[owner_index]
    country = owner["country"]
    iban, bic = account_iban(country, bank_index)
    accounts.append({
        "id": new_id("ba_"),
        "object": "account",
        "livemode": False,
        "created": unix(d("2026-07-20"), 7, i),
        "owner_id": owner["id"],
        "name": name,
        "type": kind,
        "iban": iban,
        "bic": bic,
        "bank_name": BANK_NAMES[country][bank_index],
        "currency": CURRENCY[country],
        "country": country,
        "opened_on": opened_on,
        "status": "open",
        "closed_on": None,
        "balance": opening,  # replaced by the closing balance below
        "balance_date": "2026-10-31",
    })

# ---------------------------------------------------------------------------------------------
# Counterparties: fixed per name, so the same merchant always has the same IBAN.

COUNTERPARTIES = {}


def counterparty(country, name):
    key = (country, name)
    if key not in COUNTERPARTIES:
        COUNTERPARTIES[key] = {"name": name, "iban": any_iban(country)}
    return dict(COUNTERPARTIES[key])


LOCAL = {
    "DE": {
        "employer": ["Nordlicht Software GmbH", "Klinikum Isar gGmbH", "Hanse Medien AG"],
        "landlord": ["Wohnbau Spree eG", "Hausverwaltung Brandt KG", "Alster Immobilien GmbH"],
        "utility": "Stadtwerke Energie GmbH", "telecom": "Funknetz Mobil GmbH", "transport": "Verkehrsverbund Ticketservice",
        "insurer": "Rheinland Versicherung AG",
        "grocery": ["Marktfrisch Supermarkt", "BioHof Laden", "Discount Center Mitte"],
        "dining": ["Trattoria Da Marco", "Café Kranich", "Imbiss am Markt"],
        "shopping": ["Buchhandlung Seitenweise", "Sportwelt Outlet", "Elektro Kaufhaus"],
        "health": "Apotheke am Rathaus", "atm": "Geldautomat Sparkasse",
        "salary": "Gehalt {m} 2026", "rent": "Miete {m} 2026 Wohnung", "utility_text": "Abschlag Strom/Gas {m}",
        "telecom_text": "Mobilfunk Rechnung {m}", "transport_text": "Deutschlandticket {m}", "insurance_text": "Beitrag Hausrat/Haftpflicht {m}",
        "card": "Kartenzahlung {d}", "savings": "Sparen {m}", "cash": "Bargeldauszahlung",
    },
    "FR": {
        "employer": ["Atelier Numérique SAS", "Hôpital Saint-Clair", "Lumière Conseil SA"],
        "landlord": ["Foncia Gestion Lyon", "SCI Les Tilleuls", "Cabinet Moreau Immobilier"],
        "utility": "Énergie Rhône SA", "telecom": "Télécom Horizon", "transport": "TCL Abonnement",
        "insurer": "Mutuelle Atlantique",
        "grocery": ["Supermarché Le Panier", "Biocoop Croix-Rousse", "Marché Frais Express"],
        "dining": ["Brasserie du Port", "Le Petit Bouchon", "Crêperie Sainte-Anne"],
        "shopping": ["Librairie des Arts", "Décathlon Confluence", "Fnac Bellecour"],
        "health": "Pharmacie Centrale", "atm": "Distributeur BNP",
        "salary": "Salaire {m} 2026", "rent": "Loyer {m} 2026", "utility_text": "Prélèvement électricité {m}",
        "telecom_text": "Forfait mobile {m}", "transport_text": "Abonnement transports {m}", "insurance_text": "Cotisation mutuelle {m}",
        "card": "Paiement carte {d}", "savings": "Virement épargne {m}", "cash": "Retrait DAB",
    },
    "NL": {
        "employer": ["Polder Data B.V.", "Gemeente Utrecht", "Zeewind Energie N.V."],
        "landlord": ["Woonstichting De Linie", "Grachtenpand Verhuur B.V.", "Vesteda Wonen"],
        "utility": "Energie Direct Nederland", "telecom": "Mobiel Netwerk B.V.", "transport": "OV-Chipkaart Automatisch",
        "insurer": "Zilveren Polis Verzekeringen",
        "grocery": ["Albertine Supermarkt", "Versmarkt Jansen", "Biologisch Buurtwinkel"],
        "dining": ["Eetcafé De Gouden Leeuw", "Pizzeria Napoli", "Broodjeszaak Het Hoekje"],
        "shopping": ["Boekhandel Het Kanaal", "Fietsenwinkel Snel", "Blokker Centrum"],
        "health": "Apotheek Oudegracht", "atm": "Geldmaat",
        "salary": "Salaris {m} 2026", "rent": "Huur {m} 2026", "utility_text": "Termijnbedrag energie {m}",
        "telecom_text": "Abonnement mobiel {m}", "transport_text": "Reiskosten OV {m}", "insurance_text": "Premie zorgverzekering {m}",
        "card": "Betaalautomaat {d}", "savings": "Naar spaarrekening {m}", "cash": "Geldopname",
    },
    "GB": {
        "employer": ["Northern Rail Analytics Ltd", "Camden Health Partners LLP", "Pennine Engineering plc"],
        "landlord": ["Deansgate Lettings Ltd", "Regent Property Management", "Thameside Homes"],
        "utility": "Octave Energy Ltd", "telecom": "Brightwave Mobile", "transport": "TfL Travel Charge",
        "insurer": "Albion Mutual Insurance",
        "grocery": ["Greengrocer & Co", "Hartley's Supermarket", "Corner Fresh Market"],
        "dining": ["The Crown & Anchor", "Spice Route Kitchen", "Northern Quarter Coffee"],
        "shopping": ["Waterstones Deansgate", "Outdoor Supply Co", "Currys Electrical"],
        "health": "Boots Pharmacy", "atm": "LINK Cash Machine",
        "salary": "Salary {m} 2026", "rent": "Rent {m} 2026", "utility_text": "Energy direct debit {m}",
        "telecom_text": "Mobile bill {m}", "transport_text": "Travel charges {m}", "insurance_text": "Home insurance {m}",
        "card": "Card payment {d}", "savings": "Transfer to savings {m}", "cash": "Cash withdrawal",
    },
}

MONTH_NAMES = {
    "DE": {8: "August", 9: "September", 10: "Oktober"},
    "FR": {8: "août", 9: "septembre", 10: "octobre"},
    "NL": {8: "augustus", 9: "september", 10: "oktober"},
    "GB": {8: "August", 9: "September", 10: "October"},
}

MONTHS = [(2026, 8), (2026, 9), (2026, 10)]

# Each planned entry: (date, account index, amount, category, counterparty, description, via payment order?)
planned = []


def plan(day, account_index, amount, category, cp, description, by_order=False):
    planned.append((day, account_index, amount, category, cp, description, by_order))


def in_month(year, month, day):
    return dt.date(year, month, min(day, 28 if month == 2 else 30))


def rand_amount(low, high):
    return rng.randint(low, high)


savings_of = {}
for i, (owner_index, _name, kind, *_rest) in enumerate(ACCOUNTS):
    if kind == "savings":
        savings_of[owner_index] = i

for i, (owner_index, _name, kind, *_rest) in enumerate(ACCOUNTS):
    owner = owners[owner_index]
    country = owner["country"]
    loc = LOCAL[country]
    months = MONTH_NAMES[country]
    if i == CLOSED_ACCOUNT:
        # The old account is emptied into the new one and closed.
        plan(d("2026-08-03"), i, -rand_amount(300, 900), "fees", {"name": accounts[i]["bank_name"], "iban": None},
             "Kontoführungsentgelt Juli 2026")
        plan(d("2026-08-07"), i, -rand_amount(2_500, 5_500), "groceries",
             counterparty(country, loc["grocery"][0]), loc["card"].format(d="07.08."))
        # The final transfer and closure are added after balances are known.
        continue
    if kind == "savings":
        # Credits come from the owner's current account (internal transfers below); interest is
        # paid by the bank itself (no counterparty IBAN), computed once balances are known.
        bank = {"name": accounts[i]["bank_name"], "iban": None}
        text = {"DE": "Zinsen Q3 2026", "FR": "Intérêts T3 2026", "NL": "Rente Q3 2026", "GB": "Interest paid Q3 2026"}
        plan(d("2026-09-30"), i, 0, "interest", bank, text[country])
        continue
    if kind == "business_current":
        customers = {
            "DE": ["Familie Krüger", "Architekturbüro Lang", "Hotel Domblick GmbH", "Praxis Dr. Seidel"],
            "FR": ["Café des Quais", "Hôtel Saint-Pierre", "Restaurant L'Écluse", "Épicerie Fine Dubois"],
            "NL": ["Bloemenveiling Westland", "Havenbedrijf Kade 7", "Tuinder Bakker", "Groothandel Oost B.V."],
        }[country]
        suppliers = {
            "DE": [("Holzhandel Rhein GmbH", "Rechnung Holzlieferung"), ("Beschläge Meyer KG", "Beschläge und Schrauben"),
                   ("Werkzeugverleih Köln", "Maschinenmiete")],
            "FR": [("Minoterie du Sud-Ouest", "Farine T65 livraison"), ("Laiterie Garonne", "Beurre et crème"),
                   ("Emballages Aquitaine", "Sacs et boîtes")],
            "NL": [("Brandstof Noord B.V.", "Diesel tankpassen"), ("Trucks & Trailers Service", "Onderhoud vrachtwagens"),
                   ("Havengelden Rotterdam", "Kadegelden")],
        }[country]
        payroll = {"DE": ("Lohn- und Gehaltszahlungen", "Löhne {m}"), "FR": ("Virement groupé salaires", "Salaires {m}"),
                   "NL": ("Salarisbetalingen", "Salarissen {m}")}[country]
        invoice = {"DE": "Rechnung", "FR": "Facture", "NL": "Factuur"}[country]
        tax = {"DE": ("Finanzamt Köln-West", "Umsatzsteuer-Voranmeldung"),
               "FR": ("DGFiP Bordeaux", "TVA acompte"),
               "NL": ("Belastingdienst", "Omzetbelasting aangifte")}[country]
        for year, month in MONTHS:
            m = months[month]
            for n, customer in enumerate(rng.sample(customers, 3)):
                plan(in_month(year, month, 4 + 8 * n), i, rand_amount(180_000, 960_000), "sales",
                     counterparty(country, customer), f"{invoice} {year}-{month:02d}{n + 1:02d}")
            for n, (supplier, text) in enumerate(suppliers):
                plan(in_month(year, month, 6 + 7 * n), i, -rand_amount(40_000, 310_000), "suppliers",
                     counterparty(country, supplier), f"{text} {m}", by_order=True)
            # A batch booking: one debit for all salaries, no single counterparty account.
            plan(in_month(year, month, 27), i, -rand_amount(900_000, 1_400_000), "payroll",
                 {"name": payroll[0], "iban": None}, payroll[1].format(m=m))
            plan(in_month(year, month, 10), i, -rand_amount(120_000, 260_000), "taxes",
                 counterparty(country, tax[0]), f"{tax[1]} {m}", by_order=True)
        continue
    # Individuals' current accounts.
    employer = counterparty(country, rng.choice(loc["employer"]))
    landlord = counterparty(country, rng.choice(loc["landlord"]))
    salary = rand_amount(285_000, 460_000)
    rent = rand_amount(78_000, 139_000)
    savings = savings_of.get(owner_index)
    for year, month in MONTHS:
        m = months[month]
        plan(in_month(year, month, 1), i, -rent, "rent", landlord, loc["rent"].format(m=m), by_order=True)
        plan(in_month(year, month, 3), i, -rand_amount(1_990, 4_990), "telecom", counterparty(country, loc["telecom"]),
             loc["telecom_text"].format(m=m))
        plan(in_month(year, month, 5), i, -rand_amount(6_500, 14_500), "utilities", counterparty(country, loc["utility"]),
             loc["utility_text"].format(m=m))
        plan(in_month(year, month, 2), i, -rand_amount(4_900, 8_600), "transport", counterparty(country, loc["transport"]),
             loc["transport_text"].format(m=m))
        plan(in_month(year, month, 15), i, -rand_amount(1_800, 4_200), "insurance", counterparty(country, loc["insurer"]),
             loc["insurance_text"].format(m=m))
        for day in sorted(rng.sample(range(6, 28), 3)):
            shop = rng.choice(loc["grocery"])
            plan(in_month(year, month, day), i, -rand_amount(1_850, 11_900), "groceries", counterparty(country, shop),
                 loc["card"].format(d=f"{day:02d}.{month:02d}." if country != "GB" else f"{day:02d}/{month:02d}"))
        day = rng.randrange(8, 27)
        plan(in_month(year, month, day), i, -rand_amount(1_400, 7_800), "dining",
             counterparty(country, rng.choice(loc["dining"])),
             loc["card"].format(d=f"{day:02d}.{month:02d}." if country != "GB" else f"{day:02d}/{month:02d}"))
        if rng.random() < 0.6:
            day = rng.randrange(9, 26)
            plan(in_month(year, month, day), i, -rand_amount(1_500, 18_900), "shopping",
                 counterparty(country, rng.choice(loc["shopping"])),
                 loc["card"].format(d=f"{day:02d}.{month:02d}." if country != "GB" else f"{day:02d}/{month:02d}"))
        if rng.random() < 0.35:
            plan(in_month(year, month, rng.randrange(10, 24)), i, -rand_amount(600, 4_500), "health",
                 counterparty(country, loc["health"]),
                 loc["card"].format(d=f"{month:02d}/2026"))
        if rng.random() < 0.4:
            plan(in_month(year, month, rng.randrange(6, 26)), i, -rng.choice([5_000, 10_000, 20_000]), "cash",
                 {"name": loc["atm"], "iban": None}, loc["cash"])
        plan(in_month(year, month, 27 if country != "GB" else 28), i, salary, "salary", employer, loc["salary"].format(m=m))
        if savings is not None:
            amount = rng.choice([10_000, 15_000, 20_000, 25_000, 30_000])
            target = accounts[savings]
            plan(in_month(year, month, 28), i, -amount, "transfer",
                 {"name": owner["name"], "iban": target["iban"]}, loc["savings"].format(m=m), by_order=True)
            plan(in_month(year, month, 28), savings, amount, "transfer",
                 {"name": owner["name"], "iban": accounts[i]["iban"]}, loc["savings"].format(m=m))

# Miriam moves the old account's remaining balance to her new account and closes it.
old = CLOSED_ACCOUNT
balance_old = ACCOUNTS[old][4] + sum(p[2] for p in planned if p[1] == old)
plan(CLOSED_ON, old, -balance_old, "transfer", {"name": "Miriam Yilmaz", "iban": accounts[4]["iban"]},
     "Kontoauflösung Übertrag Restguthaben")
plan(CLOSED_ON, 4, balance_old, "transfer", {"name": "Miriam Yilmaz", "iban": accounts[old]["iban"]},
     "Kontoauflösung Übertrag Restguthaben")
accounts[old]["status"] = "closed"
accounts[old]["closed_on"] = CLOSED_ON.isoformat()

planned.sort(key=lambda p: (p[0], p[1], 0 if p[2] > 0 else 1, p[5]))


def balance_before(account_index, day):
    total = ACCOUNTS[account_index][4]
    for p in planned:
        if p[1] == account_index and p[0] < day:
            total += p[2]
    return total


for n, p in enumerate(planned):
    if p[3] == "interest":
        quarter_rate = Decimal("0.0045")  # 1.8 % a year, paid quarterly
        amount = int((Decimal(balance_before(p[1], p[0])) * quarter_rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        planned[n] = (p[0], p[1], amount) + p[3:]

# ---------------------------------------------------------------------------------------------
# Transactions (file order: booking date, then account, credits before debits), running balances

transactions = []
running = {i: a[4] for i, a in enumerate(ACCOUNTS)}
order_candidates = []
per_day_seq = {}
for day, account_index, amount, category, cp, description, by_order in planned:
    account = accounts[account_index]
    running[account_index] += amount
    seq = per_day_seq.get(day, 0)
    per_day_seq[day] = seq + 1
    tx = {
        "id": new_id("tx_"),
        "object": "transaction",
        "livemode": False,
        "created": unix(day, 6, 0) + 37 * seq,
        "account_id": account["id"],
        "booking_date": day.isoformat(),
        "value_date": day.isoformat(),
        "amount": amount,
        "currency": account["currency"],
        "credit_debit": "credit" if amount > 0 else "debit",
        "counterparty": cp,
        "category": category,
        "description": description,
        "status": "booked",
        "balance_after": running[account_index],
    }
    transactions.append(tx)
    if by_order:
        order_candidates.append(tx)

for i, account in enumerate(accounts):
    account["balance"] = running[i]
    assert account["balance"] >= 0, (account["name"], account["balance"])
assert accounts[CLOSED_ACCOUNT]["balance"] == 0

# ---------------------------------------------------------------------------------------------
# Statements: one per account and month (the closed account's last one is August)

statements = []
for (year, month) in MONTHS:
    start = dt.date(year, month, 1)
    end = (dt.date(year, month + 1, 1) if month < 12 else dt.date(year + 1, 1, 1)) - dt.timedelta(days=1)
    for i, account in enumerate(accounts):
        if account["status"] == "closed" and start > CLOSED_ON:
            continue
        txs = [t for t in transactions if t["account_id"] == account["id"] and start.isoformat() <= t["booking_date"] <= end.isoformat()]
        opening = ACCOUNTS[i][4] + sum(t["amount"] for t in transactions
                                        if t["account_id"] == account["id"] and t["booking_date"] < start.isoformat())
        credits = sum(t["amount"] for t in txs if t["amount"] > 0)
        debits = -sum(t["amount"] for t in txs if t["amount"] < 0)
        sid = new_id("stmt_")
        issued = end + dt.timedelta(days=1)
        statements.append({
            "id": sid,
            "object": "statement",
            "livemode": False,
            "created": unix(issued, 3, i),
            "account_id": account["id"],
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "currency": account["currency"],
            "opening_balance": opening,
            "closing_balance": opening + credits - debits,
            "total_credits": credits,
            "total_debits": debits,
            "transaction_count": len(txs),
            "document": {
                "filename": f"statement-{year}-{month:02d}-{account['iban'][-4:]}.pdf",
                "content_type": "application/pdf",
                "size_bytes": 38_000 + 1_150 * len(txs) + rng.randrange(0, 900),
                "url": f"https://documents.sandbox.example/statements/{sid}.pdf",
            },
        })

# ---------------------------------------------------------------------------------------------
# Payment orders: executed ones produced a debit transaction; some were rejected or cancelled.
# Every order could have been created through the API on its `created` date (execution date
# 0-90 days ahead, currency of the debtor account, debtor account open at the time).

payment_orders = []


def e2e(day):
    return f"E2E-{day.strftime('%Y%m%d')}-{''.join(rng.choice('0123456789ABCDEFGHJKLMNPQRSTUVWXYZ') for _ in range(8))}"


for tx in order_candidates:
    day = d(tx["booking_date"])
    created = day - dt.timedelta(days=rng.choice([1, 2, 3, 5]))
    payment_orders.append({
        "id": new_id("po_"),
        "object": "payment_order",
        "livemode": False,
        "created": unix(created, rng.randrange(7, 20), rng.randrange(0, 60)),
        "debtor_account_id": tx["account_id"],
        "creditor_name": tx["counterparty"]["name"],
        "creditor_iban": tx["counterparty"]["iban"],
        "amount": -tx["amount"],
        "currency": tx["currency"],
        "remittance_information": tx["description"],
        "end_to_end_id": e2e(day),
        "requested_execution_date": day.isoformat(),
        "status": "executed",
        "status_reason": None,
        "transaction_id": tx["id"],
    })

# Rejected and cancelled orders (no transaction). The bank rejected two for lack of funds at
# execution time; the magic creditor IBAN of scenarios.json explains the third. (The magic amount
# 66666 never appears here: the API refuses such an order outright, so none can exist.)
MAGIC_AMOUNT = 66_666
MAGIC_CLOSED_CREDITOR_IBAN = "DE12500105170648489890"
assert iban_valid(MAGIC_CLOSED_CREDITOR_IBAN)
assert all(-tx["amount"] != MAGIC_AMOUNT for tx in order_candidates)
not_executed = [
    (0, "Hausverwaltung Brandt KG", None, 412_880, "Nebenkostennachzahlung 2025", "2026-08-18", "rejected", "insufficient_funds"),
    (2, "Alte Meisterwerkstatt e.K.", MAGIC_CLOSED_CREDITOR_IBAN, 45_000, "Rechnung 2026-311", "2026-09-09", "rejected", "creditor_account_closed"),
    (8, "Cabinet Moreau Immobilier", None, 95_000, "Dépôt de garantie", "2026-09-21", "cancelled", "cancelled_by_debtor"),
    (12, "Fietsenwinkel Snel", None, 129_900, "Bakfiets bestelling 4471", "2026-10-06", "cancelled", "cancelled_by_debtor"),
    (12, "Belastingdienst", None, 1_284_300, "Aanslag inkomstenbelasting 2025", "2026-10-15", "rejected", "insufficient_funds"),
    (16, "Thameside Homes", None, 120_000, "Holding deposit flat 3", "2026-10-22", "cancelled", "cancelled_by_debtor"),
    (14, "Deansgate Lettings Ltd", None, 60_000, "Deposit top-up", "2026-10-29", "cancelled", "cancelled_by_debtor"),
]
for account_index, name, iban, amount, text, day_s, status, reason in not_executed:
    account = accounts[account_index]
    day = d(day_s)
    created = day - dt.timedelta(days=rng.choice([1, 2, 4]))
    payment_orders.append({
        "id": new_id("po_"),
        "object": "payment_order",
        "livemode": False,
        "created": unix(created, rng.randrange(7, 20), rng.randrange(0, 60)),
        "debtor_account_id": account["id"],
        "creditor_name": name,
        "creditor_iban": iban or counterparty(account["country"], name)["iban"],
        "amount": amount,
        "currency": account["currency"],
        "remittance_information": text,
        "end_to_end_id": e2e(day),
        "requested_execution_date": day.isoformat(),
        "status": status,
        "status_reason": reason,
        "transaction_id": None,
    })
payment_orders.sort(key=lambda p: (p["created"], p["id"]))

# ---------------------------------------------------------------------------------------------
# Insurance products. `risk_fields` declares, with the rule language of collections.json, the
# risk details a quote for the product must carry.

DATE = {"type": "string", "format": "date"}


def rule(**kw):
    return kw


PRODUCTS = [
    {
        "name": "Single Trip Travel Insurance", "line": "travel", "base_premium": 2_900, "term_months": 1,
        "description": "Medical expenses, repatriation, cancellation and baggage for one trip of up to 31 days.",
        "coverage_options": [
            {"code": "basic", "name": "Basic", "description": "Medical expenses and repatriation.", "premium_factor": 1.0,
             "sum_insured": 5_000_000, "deductible": 10_000},
            {"code": "comfort", "name": "Comfort", "description": "Basic plus trip cancellation up to 3,000.00.",
             "premium_factor": 1.6, "sum_insured": 10_000_000, "deductible": 5_000},
            {"code": "premium", "name": "Premium", "description": "Comfort plus baggage and no deductible.",
             "premium_factor": 2.4, "sum_insured": 20_000_000, "deductible": 0},
        ],
        "risk_fields": {
            "destination_country": rule(type="string", format="country", required=True),
            "trip_start": rule(type="string", format="date", required=True, min_days_from_today=0, max_days_from_today=365),
            "trip_end": rule(type="string", format="date", required=True, not_before_field="trip_start"),
            "travellers": rule(type="integer", required=True, min=1, max=9),
        },
    },
    {
        "name": "Annual Multi-Trip Travel Insurance", "line": "travel", "base_premium": 8_900, "term_months": 12,
        "description": "Unlimited trips of up to 45 days each within one year.",
        "coverage_options": [
            {"code": "europe", "name": "Europe", "description": "Trips within Europe.", "premium_factor": 1.0,
             "sum_insured": 10_000_000, "deductible": 5_000},
            {"code": "worldwide", "name": "Worldwide", "description": "Trips anywhere in the world.", "premium_factor": 1.75,
             "sum_insured": 20_000_000, "deductible": 5_000},
        ],
        "risk_fields": {
            "travellers": rule(type="integer", required=True, min=1, max=9),
            "residence_country": rule(type="string", format="country", required=True),
        },
    },
    {
        "name": "Home Contents Insurance", "line": "home", "base_premium": 9_600, "term_months": 12,
        "description": "Furniture, electronics and personal belongings against fire, water, storm and theft.",
        "coverage_options": [
            {"code": "basic", "name": "Basic", "description": "Fire, water, storm and burglary.", "premium_factor": 1.0,
             "sum_insured": 4_000_000, "deductible": 25_000},
            {"code": "standard", "name": "Standard", "description": "Basic plus bicycle theft and glass breakage.",
             "premium_factor": 1.35, "sum_insured": 6_500_000, "deductible": 15_000},
            {"code": "plus", "name": "Plus", "description": "Standard plus natural hazards and no deductible.",
             "premium_factor": 1.9, "sum_insured": 10_000_000, "deductible": 0},
        ],
        "risk_fields": {
            "country": rule(type="string", enum=["DE", "FR", "NL"], required=True),
            "postcode": rule(type="string", required=True, min_length=4, max_length=10),
            "living_area_m2": rule(type="integer", required=True, min=10, max=1000),
            "flood_zone": rule(type="string", enum=["zone_1", "zone_2", "zone_3", "zone_4"], required=True),
        },
    },
    {
        "name": "Buildings Insurance", "line": "home", "base_premium": 24_000, "term_months": 12,
        "description": "The building itself against fire, water, storm and hail.",
        "coverage_options": [
            {"code": "standard", "name": "Standard", "description": "Fire, mains water, storm and hail.",
             "premium_factor": 1.0, "sum_insured": 50_000_000, "deductible": 50_000},
            {"code": "plus", "name": "Plus", "description": "Standard plus flood and earthquake.", "premium_factor": 1.45,
             "sum_insured": 80_000_000, "deductible": 25_000},
        ],
        "risk_fields": {
            "country": rule(type="string", enum=["DE", "FR", "NL"], required=True),
            "postcode": rule(type="string", required=True, min_length=4, max_length=10),
            "construction_year": rule(type="integer", required=True, min=1800, max=2100),
            "construction": rule(type="string", enum=["masonry", "concrete", "timber"], required=True),
            "flood_zone": rule(type="string", enum=["zone_1", "zone_2", "zone_3", "zone_4"], required=True),
        },
    },
    {
        "name": "Motor Insurance", "line": "motor", "base_premium": 42_000, "term_months": 12,
        "description": "Third-party liability with optional own-damage cover for private cars.",
        "coverage_options": [
            {"code": "third_party", "name": "Third party", "description": "Liability towards others only.",
             "premium_factor": 0.55, "sum_insured": 10_000_000_000, "deductible": 0},
            {"code": "partial", "name": "Partial cover", "description": "Third party plus theft, fire, glass and storm.",
             "premium_factor": 0.8, "sum_insured": 10_000_000_000, "deductible": 15_000},
            {"code": "comprehensive", "name": "Comprehensive", "description": "Partial cover plus own damage.",
             "premium_factor": 1.0, "sum_insured": 10_000_000_000, "deductible": 30_000},
        ],
        "risk_fields": {
            "vehicle_make": rule(type="string", required=True, min_length=1, max_length=40),
            "vehicle_model": rule(type="string", required=True, min_length=1, max_length=60),
            "first_registration_year": rule(type="integer", required=True, min=1950, max=2100),
            "annual_mileage_km": rule(type="integer", required=True, min=1000, max=100000),
            "driver_date_of_birth": rule(type="string", format="date", required=True, max_days_from_today=-6570),
            "no_claims_years": rule(type="integer", required=True, min=0, max=60),
        },
    },
    {
        "name": "Personal Liability Insurance", "line": "liability", "base_premium": 5_400, "term_months": 12,
        "description": "Damage you cause to others in private life.",
        "coverage_options": [
            {"code": "single", "name": "Single", "description": "The policyholder alone.", "premium_factor": 1.0,
             "sum_insured": 1_000_000_000, "deductible": 0},
            {"code": "family", "name": "Family", "description": "Policyholder, partner and children.",
             "premium_factor": 1.5, "sum_insured": 1_000_000_000, "deductible": 0},
        ],
        "risk_fields": {
            "country": rule(type="string", enum=["DE", "FR", "NL"], required=True),
            "household": rule(type="string", enum=["single", "couple", "family"], required=True),
        },
    },
    {
        "name": "Gadget Insurance (withdrawn)", "line": "gadget", "base_premium": 3_600, "term_months": 12,
        "description": "Withdrawn on 2026-06-30; existing policies run until their end date. New quotes are refused.",
        "status": "withdrawn",
        "coverage_options": [
            {"code": "standard", "name": "Standard", "description": "Accidental damage and theft of one device.",
             "premium_factor": 1.0, "sum_insured": 150_000, "deductible": 5_000},
        ],
        "risk_fields": {
            "device_type": rule(type="string", enum=["phone", "tablet", "laptop"], required=True),
        },
    },
]

insurance_products = []
for i, p in enumerate(PRODUCTS):
    insurance_products.append({
        "id": new_id("ins_"),
        "object": "insurance_product",
        "livemode": False,
        "created": unix(d("2026-01-05") + dt.timedelta(days=i), 10),
        "name": p["name"],
        "line": p["line"],
        "description": p["description"],
        "status": p.get("status", "available"),
        "currency": "EUR",
        "base_premium": p["base_premium"],
        "premium_period": "trip" if p["term_months"] == 1 else "year",
        "term_months": p["term_months"],
        "coverage_options": p["coverage_options"],
        "risk_fields": p["risk_fields"],
    })

# ---------------------------------------------------------------------------------------------
# Quotes and policies. Premium = base_premium x premium_factor of the chosen coverage option,
# rounded half away from zero, as the API computes it. Declined quotes carry a magic risk value
# from scenarios.json; accepted quotes have a policy; the rest expired unaccepted.

HOLDERS = [(o["name"], o["email"], o["date_of_birth"]) for o in owners if o["type"] == "individual"] + [
    ("Matthias Krüger", "m.krueger@example.de", "1975-10-09"),
    ("Élodie Garnier", "elodie.garnier@example.fr", "1999-05-27"),
    ("Pieter Bakker", "pieter.bakker@example.nl", "1968-02-19"),
]
HOME = {"Lena Hoffmann": ("DE", "10435"), "Jonas Weber": ("DE", "80802"), "Miriam Yilmaz": ("DE", "20259"),
        "Camille Martin": ("FR", "69002"), "Hugo Lefebvre": ("FR", "75011"), "Sanne de Vries": ("NL", "3511 AZ"),
        "Daan Jansen": ("NL", "1016 JB"), "Matthias Krüger": ("DE", "50667"), "Élodie Garnier": ("FR", "44000"),
        "Pieter Bakker": ("NL", "9711 LP"), "Oliver Bennett": ("GB", "M3 2EG"), "Priya Sharma": ("GB", "NW1 0JH")}
EU_HOLDERS = [h for h in HOLDERS if HOME[h[0]][0] != "GB"]

MAGIC_DECLINES = {  # risk field -> (magic value, decline reason); mirrors scenarios.json
    "destination_country": ("AQ", "destination_not_covered"),
    "flood_zone": ("zone_4", "flood_risk_too_high"),
    "driver_date_of_birth": ("1900-01-01", "driver_age_outside_underwriting_limits"),
}


def add_months(day, months):
    """The same day `months` later, clamped to the end of a shorter month (as the API computes)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def premium(product, code):
    factor = next(o["premium_factor"] for o in product["coverage_options"] if o["code"] == code)
    return int((Decimal(product["base_premium"]) * Decimal(str(factor))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def make_risk(product, holder, created_day, declined):
    country, postcode = HOME[holder[0]]
    line, name = product["line"], product["name"]
    if name.startswith("Single Trip"):
        start = created_day + dt.timedelta(days=rng.randrange(10, 80))
        return {"destination_country": "AQ" if declined else rng.choice(["IT", "ES", "PT", "GR", "US", "TH", "JP", "NO"]),
                "trip_start": start.isoformat(),
                "trip_end": (start + dt.timedelta(days=rng.randrange(5, 21))).isoformat(),
                "travellers": rng.randrange(1, 5)}
    if name.startswith("Annual"):
        return {"travellers": rng.randrange(1, 5), "residence_country": country}
    if line == "home":
        risk = {"country": country, "postcode": postcode}
        if name.startswith("Home"):
            risk["living_area_m2"] = rng.randrange(38, 160)
        else:
            risk["construction_year"] = rng.randrange(1905, 2022)
            risk["construction"] = rng.choice(["masonry", "masonry", "concrete", "timber"])
        risk["flood_zone"] = "zone_4" if declined else rng.choice(["zone_1", "zone_1", "zone_2", "zone_3"])
        return risk
    if line == "motor":
        make, model = rng.choice([("Volkswagen", "Golf"), ("Renault", "Clio"), ("Peugeot", "308"), ("Toyota", "Corolla"),
                                  ("BMW", "320i"), ("Škoda", "Octavia"), ("Tesla", "Model 3")])
        return {"vehicle_make": make, "vehicle_model": model,
                "first_registration_year": rng.randrange(2012, 2026),
                "annual_mileage_km": rng.choice([8000, 12000, 15000, 20000, 25000]),
                "driver_date_of_birth": "1900-01-01" if declined else holder[2],
                "no_claims_years": rng.randrange(0, 15)}
    return {"country": country, "household": rng.choice(["single", "couple", "family"])}


quotes = []
policies = []
available = [p for p in insurance_products if p["status"] == "available"]
declinable = [p for p in available if p["name"].startswith(("Single Trip", "Home", "Buildings", "Motor"))]
plan_quotes = []
for n in range(34):
    product = available[n % len(available)]
    outcome = "accepted" if n % 3 != 2 else "expired"
    plan_quotes.append((product, outcome))
for n in range(5):
    plan_quotes.append((declinable[n % len(declinable)], "declined"))
rng.shuffle(plan_quotes)

for n, (product, outcome) in enumerate(plan_quotes):
    created_day = d("2026-05-04") + dt.timedelta(days=3 * n + rng.randrange(0, 3))
    holders = EU_HOLDERS if product["line"] in ("home", "liability") else HOLDERS
    holder = holders[rng.randrange(len(holders))]
    code = rng.choice(product["coverage_options"])["code"]
    declined = outcome == "declined"
    risk = make_risk(product, holder, created_day, declined)
    reason = next((MAGIC_DECLINES[k][1] for k, v in risk.items() if k in MAGIC_DECLINES and MAGIC_DECLINES[k][0] == v), None)
    assert (reason is not None) == declined, (product["name"], risk)
    qid = new_id("qt_")
    valid_until = created_day + dt.timedelta(days=30)
    quote = {
        "id": qid,
        "object": "quote",
        "livemode": False,
        "created": unix(created_day, rng.randrange(8, 19), rng.randrange(0, 60)),
        "product_id": product["id"],
        "coverage": code,
        "holder": {"name": holder[0], "email": holder[1], "date_of_birth": holder[2]},
        "risk": risk,
        "premium": None if declined else premium(product, code),
        "currency": product["currency"],
        "term_months": product["term_months"],
        "valid_until": valid_until.isoformat(),
        "status": outcome,
        "decline_reason": reason,
        "policy_id": None,
    }
    quotes.append(quote)
    if outcome == "accepted":
        if product["name"].startswith("Single Trip"):
            start = d(risk["trip_start"])
            accepted_day = created_day + dt.timedelta(days=rng.randrange(0, min(20, (start - created_day).days + 1)))
        else:
            accepted_day = created_day + dt.timedelta(days=rng.randrange(0, 20))
            start = accepted_day + dt.timedelta(days=rng.randrange(0, 31))
        end = add_months(start, product["term_months"]) - dt.timedelta(days=1)
        pid = new_id("pol_")
        quote["policy_id"] = pid
        status = "expired" if end < d("2026-10-31") else "active"
        if status == "active" and rng.random() < 0.12:
            status = "cancelled"
        policies.append({
            "id": pid,
            "object": "policy",
            "livemode": False,
            "created": max(unix(accepted_day, rng.randrange(8, 19), rng.randrange(0, 60)), quote["created"] + 600),
            "quote_id": qid,
            "product_id": product["id"],
            "holder": dict(quote["holder"]),
            "coverage": code,
            "risk": dict(risk),
            "premium": quote["premium"],
            "currency": quote["currency"],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "status": status,
        })

# The withdrawn product's historic policies (quotes from before the withdrawal).
gadget = insurance_products[-1]
for n, holder in enumerate(HOLDERS[:3]):
    created_day = d("2026-02-02") + dt.timedelta(days=9 * n)
    qid, pid = new_id("qt_"), new_id("pol_")
    risk = {"device_type": ["phone", "laptop", "tablet"][n]}
    start = created_day + dt.timedelta(days=2)
    end = add_months(start, 12) - dt.timedelta(days=1)
    quotes.insert(0, {
        "id": qid, "object": "quote", "livemode": False, "created": unix(created_day, 11, 7 * n),
        "product_id": gadget["id"], "coverage": "standard",
        "holder": {"name": holder[0], "email": holder[1], "date_of_birth": holder[2]},
        "risk": risk, "premium": premium(gadget, "standard"), "currency": "EUR", "term_months": 12,
        "valid_until": (created_day + dt.timedelta(days=30)).isoformat(), "status": "accepted",
        "decline_reason": None, "policy_id": pid,
    })
    policies.append({
        "id": pid, "object": "policy", "livemode": False, "created": unix(created_day, 15, 3 * n),
        "quote_id": qid, "product_id": gadget["id"],
        "holder": {"name": holder[0], "email": holder[1], "date_of_birth": holder[2]},
        "coverage": "standard", "risk": risk, "premium": premium(gadget, "standard"), "currency": "EUR",
        "start_date": start.isoformat(), "end_date": end.isoformat(), "status": "active",
    })

quotes.sort(key=lambda q: (q["created"], q["id"]))
policies.sort(key=lambda p: (p["created"], p["id"]))

# ---------------------------------------------------------------------------------------------


def write(name, records):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(records, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{name}: {len(records)} records")


write("owners.json", owners)
write("accounts.json", accounts)
write("transactions.json", transactions)
write("statements.json", statements)
write("payment_orders.json", payment_orders)
write("insurance_products.json", insurance_products)
write("quotes.json", quotes)
write("policies.json", policies)
