"""Memo families: scam and benign narratives in paraphrase families, split for training and evaluation.

Theory of operation
-------------------
A *family* is one way of telling one story: a handful of templates that share their wording
("safe account transfer per the fraud team", "moving funds to a secure account as advised"), in
one language. A *story* is what the memo is about (`safe_account`, `rent`, ...); each story is
told by several families. Every family belongs to one split:

* `train`: the generator uses it when it makes training data (the default);
* `heldout`: only in evaluation data (`SynthConfig(memo_split="heldout")`) and in the narrative
  probe (`fraudstream evaluate --probe`): wording that no model trained on `train` data has seen.
  Held-out families tell the same stories in other words, and avoid the slot lists that carry
  the training families' key phrases ("{safe_acc}", "{sec_team}"...); their own entity names
  ({platform2}) are not in any training family either.

A memo is made by picking a family of the story (in the account holder's language or in
English), one of its templates, and filling its slots (`{first}`, `{n4}`, `{bank}` ..., and
inline alternatives `{to my|into the}`) with the generator's own random numbers.

Scam stories carry label 1 wherever they are written; benign families carry 0. Benign families
marked `alarming` use the words scams use ("urgent", "police", "safe", "crypto", "tax") in a
harmless story, so that no single word separates the two.

Pure data and lookups: no randomness here (the generator draws), no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Split = Literal["train", "heldout"]
MemoSplit = Literal["train", "heldout", "all"]
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl", "pt")
COUNTRY_LANGUAGE = {
    "GB": "en",
    "IE": "en",
    "US": "en",
    "DE": "de",
    "FR": "fr",
    "ES": "es",
    "IT": "it",
    "NL": "nl",
    "PL": "pl",
    "PT": "pt",
}


@dataclass(frozen=True, slots=True)
class MemoFamily:
    id: str
    """`<scam|benign>.<story>.<lang>.<name>`, stable: it is written into the records' metadata."""
    label: int
    story: str
    lang: str
    split: Split
    templates: tuple[str, ...]
    alarming: bool = False

    @property
    def scam(self) -> bool:
        return self.label == 1


def _family(
    split: Split,
    label: int,
    story: str,
    lang: str,
    name: str,
    *templates: str,
    alarming: bool = False,
) -> MemoFamily:
    kind = "scam" if label else "benign"
    return MemoFamily(
        f"{kind}.{story}.{lang}.{name}", label, story, lang, split, templates, alarming
    )


def _scam(split: Split, story: str, lang: str, name: str, *templates: str) -> MemoFamily:
    return _family(split, 1, story, lang, name, *templates)


def _benign(
    split: Split, story: str, lang: str, name: str, *templates: str, alarming: bool = False
) -> MemoFamily:
    return _family(split, 0, story, lang, name, *templates, alarming=alarming)


T: Split = "train"
H: Split = "heldout"

# fmt: off
SCAM_FAMILIES: tuple[MemoFamily, ...] = (
    # ---- safe account: a caller posing as the bank or the police has the victim move money
    _scam(T, "safe_account", "en", "base",
          "{safe_acc} transfer per {bank} {sec_team}", "moving funds to {safe_acc} {ref}",
          "{bank} {sec_team} instructed transfer", "{safe_acc} as advised by {bank}",
          "protect savings {safe_acc}", "account compromised transfer to {safe_acc}",
          "{bank} {sec_team} case {ref}", "{police} investigation {safe_acc} {ref}",
          "transfer to {safe_acc} {urgent}", "{sec_team} verified {safe_acc}"),
    _scam(T, "safe_account", "en", "told",
          "{bank} told me to move my money, account at risk", "moving savings as {bank} advised - account hacked",
          "{bank} says my account is compromised, moving funds", "transfer requested by {bank} investigator ref {ref}",
          "bank staff said move everything to the new account", "new account from {bank} to protect my funds",
          "{bank} asked me to transfer my balance for safety", "my account was breached, bank moving my savings"),
    _scam(H, "safe_account", "en", "officer",
          "the officer said my savings belong under a new sort code", "caller from {bank} wants everything shifted to a fresh account today",
          "keeping my money away from the hackers while they investigate", "as instructed on the phone by the bank's {fraud line|investigations line}",
          "new account set up for me by {bank} staff after the breach", "detective on the case said to relocate my funds",
          "{bank} rang - relocating my balance until the criminals are caught", "the man from the bank gave me these details to keep my cash protected"),
    _scam(T, "safe_account", "de", "base",
          "Sicherheitskonto laut {bank}", "Ueberweisung auf Schutzkonto wie von der Bank angewiesen",
          "Konto gehackt - Geld sichern {ref}", "{bank} Sicherheitsabteilung Umbuchung", "Geld auf sicheres Konto {ref}"),
    _scam(H, "safe_account", "de", "mitarbeiter",
          "Bankmitarbeiter sagte ich soll mein Erspartes umbuchen", "neues Konto vom Betrugsschutz der {bank} eingerichtet",
          "Polizei hat angerufen, Geld vor Hackern in Sicherheit bringen", "Umbuchung auf Anweisung am Telefon Fall {ref}"),
    _scam(T, "safe_account", "fr", "base",
          "compte securise demande par {bank}", "virement de protection conseiller fraude", "compte pirate transfert vers compte sur {ref}",
          "mise a l'abri des fonds selon {bank}"),
    _scam(H, "safe_account", "fr", "conseiller",
          "le conseiller m'a dit de deplacer mon epargne", "nouveau compte ouvert par le service securite de {bank}",
          "la police m'a demande de proteger mon argent aujourd'hui", "transfert sur instruction telephonique dossier {ref}"),
    _scam(T, "safe_account", "es", "base",
          "cuenta segura indicada por {bank}", "transferencia de seguridad departamento de fraude", "cuenta hackeada mover fondos {ref}"),
    _scam(H, "safe_account", "es", "empleado",
          "el empleado del banco me dijo que moviera mis ahorros", "la policia pidio proteger mi dinero en otra cuenta"),
    _scam(T, "safe_account", "it", "base",
          "conto sicuro indicato da {bank}", "trasferimento di sicurezza ufficio frodi", "conto violato spostare fondi {ref}"),
    _scam(T, "safe_account", "nl", "base",
          "veilige rekening volgens {bank}", "overboeking op advies van fraudeafdeling", "rekening gehackt geld veiligstellen {ref}"),
    _scam(H, "safe_account", "nl", "medewerker",
          "bankmedewerker zei dat ik mijn spaargeld moest overzetten", "nieuwe rekening van de beveiliging van {bank}"),
    _scam(T, "safe_account", "pl", "base",
          "bezpieczne konto wg {bank}", "przelew na polecenie dzialu bezpieczenstwa", "konto zhakowane przelew srodkow {ref}"),
    _scam(T, "safe_account", "pt", "base",
          "conta segura indicada pelo {bank}", "transferencia de seguranca departamento de fraude", "conta pirateada mover dinheiro {ref}"),

    # ---- tax / government impersonation
    _scam(T, "tax", "en", "base",
          "{urgent} {tax_debt} pay {today} {tax_auth} ref {ref}", "{tax_auth} {tax_debt} {ref} {threat}",
          "{tax_debt} {threat} {tax_auth}", "{tax_auth} case {ref} {tax_debt} {today}",
          "pay {tax_auth} {tax_debt} {today} {threat}", "{tax_auth} {urgent} {tax_debt} payment",
          "tax rebate {fee} {tax_auth} {ref}", "{tax_debt} {ref} {urgent}", "{tax_auth} {gift} for {tax_debt}"),
    _scam(T, "tax", "en", "warrant",
          "{tax_auth} said there is a warrant unless I pay today", "settle tax owed now or bailiffs tomorrow {ref}",
          "{tax_auth} officer on phone - unpaid tax {ref}", "clear my tax debt to stop the arrest",
          "tax investigation payment as instructed by {tax_auth}"),
    _scam(H, "tax", "en", "summons",
          "the tax man rang, I owe money from {year} or they come for me", "stop the court summons from the revenue people",
          "they said my national insurance number is suspended, fee to restore it", "government official on the line - clearing my records today",
          "penalty the inspector demanded to close my file {ref}", "payment to avoid being taken to the station over my taxes"),
    _scam(T, "tax", "de", "base",
          "{tax_auth} Steuerschuld sofort zahlen {ref}", "Nachzahlung {tax_auth} sonst Haftbefehl", "Mahnung {tax_auth} Strafe heute",
          "Steuerstrafe {ref} dringend"),
    _scam(H, "tax", "de", "beamter",
          "Beamter am Telefon sagt ich muss heute Steuern nachzahlen", "sonst kommt morgen der Gerichtsvollzieher wegen Steuer"),
    _scam(T, "tax", "fr", "base",
          "{tax_auth} amende impot a payer aujourd'hui {ref}", "dette fiscale {tax_auth} sinon poursuites", "penalite {tax_auth} urgent"),
    _scam(H, "tax", "fr", "agent",
          "l'agent des impots dit que je risque une arrestation", "regulariser ma situation fiscale ce soir sinon huissier"),
    _scam(T, "tax", "es", "base",
          "{tax_auth} multa pagar hoy {ref}", "deuda fiscal {tax_auth} o demanda judicial", "sancion {tax_auth} urgente"),
    _scam(T, "tax", "it", "base",
          "{tax_auth} multa da pagare oggi {ref}", "debito fiscale {tax_auth} o azione legale"),
    _scam(T, "tax", "nl", "base",
          "{tax_auth} boete vandaag betalen {ref}", "belastingschuld {tax_auth} anders deurwaarder"),
    _scam(T, "tax", "pl", "base",
          "{tax_auth} kara zaplacic dzisiaj {ref}", "zaleglosc podatkowa {tax_auth} inaczej komornik"),
    _scam(T, "tax", "pt", "base",
          "{tax_auth} multa pagar hoje {ref}", "divida fiscal {tax_auth} ou processo"),

    # ---- investment: a platform promising returns
    _scam(T, "investment", "en", "base",
          "{coin} investment {guaranteed} {pct} return", "{coin} trading account deposit {platform}",
          "{platform} {coin} deposit {pct} profit", "investment {pct} {guaranteed}",
          "{coin} mining pool deposit", "withdrawal {fee} to release profits {platform}",
          "{platform} account funding", "tax on {coin} profits to unlock withdrawal",
          "{platform} {guaranteed} returns", "top up {platform} wallet {pct}", "{coin} {pct} return {guaranteed}"),
    _scam(T, "investment", "en", "mentor",
          "my account manager at {platform} said deposit more to upgrade", "trading mentor - next deposit for vip tier",
          "{platform} broker fee before I can withdraw", "adding funds so my {coin} robot can trade",
          "deposit to match the bonus {platform} offered"),
    _scam(H, "investment", "en", "advisor",
          "the advisor from the online ad says my portfolio doubles by {month}", "{platform2} - second deposit, profits already showing on the dashboard",
          "unlock fee so {platform2} releases my earnings", "joining the ai arbitrage programme, returns paid weekly",
          "funding my {platform2} account, they promised I cannot lose", "liquidity deposit required before the payout"),
    _scam(T, "investment", "de", "base",
          "{coin} Investment {pct} Rendite garantiert", "Einzahlung {platform} Handelskonto", "Gebuehr fuer Auszahlung der Gewinne {platform}"),
    _scam(H, "investment", "de", "berater",
          "Berater sagt mein Depot verdoppelt sich bis {month}", "Freischaltgebuehr damit {platform2} meine Gewinne auszahlt"),
    _scam(T, "investment", "fr", "base",
          "investissement {coin} rendement {pct} garanti", "depot compte trading {platform}", "frais de retrait des gains {platform}"),
    _scam(H, "investment", "fr", "conseiller",
          "le conseiller promet que mon capital double avant {month}", "cout d'ouverture pour que {platform2} verse mes gains"),
    _scam(T, "investment", "es", "base",
          "inversion {coin} rentabilidad {pct} garantizada", "deposito cuenta trading {platform}", "comision para retirar ganancias {platform}"),
    _scam(H, "investment", "es", "asesor",
          "el asesor dice que mi dinero se duplica antes de {month}", "tasa de desbloqueo para cobrar en {platform2}"),
    _scam(T, "investment", "it", "base",
          "investimento {coin} rendimento {pct} garantito", "deposito conto trading {platform}"),
    _scam(T, "investment", "nl", "base",
          "{coin} investering {pct} rendement gegarandeerd", "storting handelsaccount {platform}"),
    _scam(T, "investment", "pl", "base",
          "inwestycja {coin} zysk {pct} gwarantowany", "wplata konto inwestycyjne {platform}"),
    _scam(T, "investment", "pt", "base",
          "investimento {coin} retorno {pct} garantido", "deposito conta trading {platform}"),

    # ---- family impersonation: "hi mum, new number"
    _scam(T, "family_impersonation", "en", "base",
          "hi {rel} new number pay this for me", "{rel} {urgent} bill lost my phone",
          "pay my phone bill {rel} x new number", "its me {rel} new phone {urgent} rent",
          "{rel} help stuck abroad {urgent}", "for {rel} - new number, will explain",
          "{rel} pls pay {urgent} will pay back {today}", "hi {rel} broke my phone this is my new acc"),
    _scam(H, "family_impersonation", "en", "whatsapp",
          "my {child|daughter|son} texted from a different phone, covering an invoice for them", "this is for {first}, their banking app is locked so using a mate's account",
          "paying the bill my kid sent on whatsapp, they dropped their mobile in the bath", "helping my {child|daughter|son} out, they messaged from a friend's number"),
    _scam(T, "family_impersonation", "de", "base",
          "Hallo {rel} neue Nummer bitte ueberweisen", "{rel} Handy kaputt dringend Rechnung", "fuer {rel} neue Handynummer"),
    _scam(H, "family_impersonation", "de", "whatsapp",
          "mein Sohn hat von neuer Nummer geschrieben, Rechnung fuer ihn", "Tochter schreibt per WhatsApp, Banking-App gesperrt"),
    _scam(T, "family_impersonation", "fr", "base",
          "coucou {rel} nouveau numero paye ca pour moi", "{rel} telephone casse facture urgente"),
    _scam(H, "family_impersonation", "fr", "sms",
          "ma fille m'a ecrit d'un autre numero, je paie sa facture", "mon fils a perdu son portable, il m'envoie un rib"),
    _scam(T, "family_impersonation", "es", "base",
          "hola {rel} numero nuevo pagame esto", "{rel} movil roto factura urgente"),
    _scam(T, "family_impersonation", "nl", "base",
          "hoi {rel} nieuw nummer wil je dit betalen", "{rel} telefoon kapot dringende rekening"),
    _scam(T, "family_impersonation", "pl", "base",
          "czesc {rel} nowy numer zaplac za mnie", "{rel} telefon zepsuty pilny rachunek"),

    # ---- romance
    _scam(T, "romance", "en", "base",
          "for your flight ticket {lover}", "{courier} customs {fee} for the parcel",
          "hospital bill {lover}", "visa {fee} so we can meet {lover}", "{fee} for inheritance transfer",
          "gold shipment clearance {fee}", "{lover} medical bills", "travel money to come see you {lover}"),
    _scam(H, "romance", "en", "online",
          "for the man I met online, his account on the oil rig is frozen", "so my partner overseas can finally buy the plane ticket to me",
          "helping my boyfriend in the army with his leave papers", "the woman from the dating app needs it for her mother's surgery",
          "for my fiance, customs are holding his belongings at the airport"),
    _scam(T, "romance", "de", "base",
          "fuer dein Flugticket {lover}", "Krankenhausrechnung {lover}", "Visum Gebuehr damit wir uns sehen"),
    _scam(H, "romance", "de", "online",
          "fuer meinen Partner aus dem Internet, sein Konto im Ausland ist gesperrt"),
    _scam(T, "romance", "fr", "base",
          "pour ton billet d'avion {lover}", "frais d'hopital {lover}", "frais de visa pour qu'on se voie"),
    _scam(T, "romance", "es", "base",
          "para tu billete de avion {lover}", "factura del hospital {lover}"),

    # ---- advance fee: a fee to release a prize, a parcel, a loan, a job
    _scam(T, "advance_fee", "en", "base",
          "{courier} redelivery {fee} {ref}", "{courier} customs {fee} parcel {ref}",
          "lottery winnings {fee} {ref}", "prize release {fee} {ref}", "recovery {fee} for lost funds {ref}",
          "job offer training {fee}", "loan approval {fee} {ref}", "registration {fee} remote job"),
    _scam(H, "advance_fee", "en", "release",
          "to get my compensation paid out they need this first", "admin cost before the grant money comes through",
          "starter kit for the work from home job, refunded with first wage", "insurance so the loan company can send the money {ref}",
          "paying the agent who will recover what I lost to the last scam", "collection charge for the package held at the depot"),
    _scam(T, "advance_fee", "de", "base",
          "Zollgebuehr Paket {courier} {ref}", "Gewinn Freigabe Gebuehr {ref}", "Kredit Bearbeitungsgebuehr {ref}"),
    _scam(H, "advance_fee", "de", "freigabe",
          "damit die Entschaedigung ausgezahlt wird, vorher diese Kosten"),
    _scam(T, "advance_fee", "fr", "base",
          "frais de douane colis {courier} {ref}", "frais de deblocage gain loterie {ref}", "frais de dossier pret {ref}"),
    _scam(T, "advance_fee", "es", "base",
          "tasa aduana paquete {courier} {ref}", "comision liberar premio {ref}", "gastos prestamo aprobado {ref}"),
    _scam(T, "advance_fee", "nl", "base",
          "douanekosten pakket {courier} {ref}", "vrijgave prijs kosten {ref}"),
    _scam(T, "advance_fee", "pl", "base",
          "oplata celna paczka {courier} {ref}", "oplata za wyplate wygranej {ref}"),

    # ---- invoice redirection: a supplier or a builder "changed bank details"
    _scam(T, "invoice_redirect", "en", "base",
          "invoice {n4} - new bank details as per email", "updated account details for invoice {n5}",
          "supplier changed bank, invoice {n4}", "pay to new account as requested by {first} - inv {n4}",
          "solicitor new account details completion {n4}", "builder's new account per his email"),
    _scam(H, "invoice_redirect", "en", "changed",
          "the conveyancer emailed a change of sort code for the house money", "sending to their replacement account, old one is being audited",
          "the accountant's message says the usual account is closed, paying this one", "deposit to the letting agent's revised account details"),
    _scam(T, "invoice_redirect", "de", "base",
          "Rechnung {n4} neue Bankverbindung laut Mail", "geaenderte Kontodaten Lieferant Rechnung {n5}"),
    _scam(T, "invoice_redirect", "fr", "base",
          "facture {n4} nouveau rib selon mail", "changement de coordonnees bancaires facture {n5}"),

    # ---- refund / tech support: "we refunded too much, send it back"
    _scam(T, "refund", "en", "base",
          "refund overpayment back to {vendor} support", "returning extra refund as asked by {vendor}",
          "{vendor} technician remote access refund error", "send back accidental refund {ref}"),
    _scam(H, "refund", "en", "helpdesk",
          "the helpdesk man on my laptop said I was sent too much and must return it", "reversing the money their engineer put in my account by mistake",
          "computer virus removal fee for the support company"),
    _scam(T, "refund", "de", "base",
          "Rueckerstattung zu viel ueberwiesen an {vendor} Support", "Fernwartung {vendor} Rueckzahlung Fehler"),
    # ---- more ways of telling the same stories (training only)
    _scam(T, "safe_account", "en", "protect",
          "urgent call from {bank} about fraud on my account, moving balance", "bank investigator needs my funds moved for protection",
          "told to transfer savings to a secure {bank} account", "fraud on my card, bank said move money before they freeze it",
          "security check transfer requested by bank employee", "moving my money so the criminals cannot take it, per bank"),
    _scam(T, "safe_account", "en", "police",
          "police asked me to help catch the bank insider, transfer as told", "undercover operation - police need my money moved",
          "helping the police investigation into my bank", "police said bank staff are stealing, move funds now"),
    _scam(T, "tax", "en", "fine",
          "pay the fine today or police will attend my address", "{tax_auth} phone call - outstanding amount must be paid now",
          "to stop legal proceedings from the tax office", "unpaid tax penalty, they said an arrest warrant is issued",
          "tax fraud investigation settlement fee"),
    _scam(T, "investment", "en", "scheme",
          "crypto platform deposit, returns promised every week", "sending more so my trading account can withdraw",
          "investment manager says fee due before profits released", "deposit for the bitcoin scheme from instagram",
          "trading account upgrade to gold level", "funds for the automated trading bot {platform}"),
    _scam(T, "family_impersonation", "en", "lostphone",
          "my son lost his phone and needs his rent paid", "daughter messaging from new number, urgent bill",
          "kid's new phone - covering his contract", "mum pls send money my phone broke x",
          "paying for my son, he can't log into his bank"),
    _scam(T, "romance", "en", "partner",
          "for my boyfriend abroad to pay for his visa", "boyfriend overseas needs money for the hospital",
          "girlfriend stuck in another country, ticket home", "my love needs help with customs fees for his gold",
          "sending money so the partner from the internet can visit"),
    _scam(T, "advance_fee", "en", "fee",
          "fee to release my parcel at customs", "processing charge so my loan can be paid out",
          "tax on my lottery prize before release", "deposit for the remote job equipment",
          "fee to receive my inheritance", "to unlock my refund from the claims company"),
    _scam(T, "invoice_redirect", "en", "email",
          "invoice paid to the new bank details in the mail", "supplier email said their account changed",
          "builder texted a new account number, final payment", "paying the solicitor's updated account for completion",
          "new payment details from the contractor"),
    _scam(T, "refund", "en", "support",
          "sending back the refund the support agent overpaid", "tech support said they refunded me too much",
          "returning money to {vendor} support after their mistake", "computer repair company overpaid my refund"),
    _scam(T, "safe_account", "de", "polizei",
          "Polizei sagt Bankmitarbeiter betruegen, Geld umbuchen", "Sicherheitsueberpruefung Ueberweisung auf Anweisung"),
    _scam(T, "investment", "de", "plattform",
          "Krypto Plattform Einzahlung woechentliche Rendite", "Gebuehr damit ich mein Trading Konto auszahlen kann"),
    _scam(T, "family_impersonation", "fr", "perdu",
          "fiston a casse son telephone, je paie son loyer", "ma fille sur un nouveau numero, facture urgente"),
    _scam(T, "safe_account", "es", "policia",
          "la policia dice que el banco roba, mover el dinero", "transferencia pedida por empleado de seguridad del banco"),
)

BENIGN_FAMILIES: tuple[MemoFamily, ...] = (
    # ---- own accounts and savings (some with the words "safe" and "secure")
    _benign(T, "savings", "en", "pot",
            "transfer to my savings account", "savings transfer {month}", "moving money to my other account",
            "to my {bank} savings", "rainy day pot", "into the holiday savings", "ISA top up {year}"),
    _benign(T, "savings", "en", "safe", "safe keeping - savings", "secure savings top up", "keeping this safe in savings",
            "emergency fund - safe pot", "put aside safely for the tax bill", alarming=True),
    _benign(H, "savings", "en", "aside",
            "putting a bit aside in the second account", "shifting some cash to the high interest account",
            "moving the bonus into my fixed saver", "half of payday to the joint pot", "topping up the kids' junior account",
            "parking money in my easy access saver until the house move", "my own account at {bank}"),
    _benign(T, "savings", "de", "sparen", "Sparkonto {month}", "Umbuchung auf mein Tagesgeld", "Notgroschen", "Ruecklage Urlaub"),
    _benign(H, "savings", "de", "beiseite", "etwas auf mein anderes Konto gelegt", "Bonus aufs Festgeld", "fuer die Kinder angespart"),
    _benign(T, "savings", "fr", "epargne", "virement epargne {month}", "livret A", "mise de cote vacances", "vers mon autre compte"),
    _benign(H, "savings", "fr", "cote", "un peu de cote sur mon compte joint", "prime vers le livret", "epargne des enfants"),
    _benign(T, "savings", "es", "ahorro", "ahorro {month}", "a mi cuenta de ahorro", "hucha vacaciones"),
    _benign(H, "savings", "es", "aparte", "apartar algo en mi otra cuenta", "paga extra al deposito"),
    _benign(T, "savings", "nl", "sparen", "spaarrekening {month}", "naar mijn spaarpot", "buffer"),
    _benign(T, "savings", "it", "risparmio", "risparmi {month}", "sul mio conto deposito"),
    _benign(T, "savings", "pl", "oszczednosci", "oszczednosci {month}", "na moje konto oszczednosciowe"),
    _benign(T, "savings", "pt", "poupanca", "poupanca {month}", "para a minha conta poupanca"),

    # ---- friends and family, everyday
    _benign(T, "social", "en", "split",
            "dinner split {first}", "your half of the {concert|festival|football} tickets", "thanks for lunch x",
            "{first}'s birthday present share", "petrol money for the trip", "takeaway last night", "gym split {month}"),
    _benign(H, "social", "en", "owe",
            "what I owe you from the weekend away", "my share of the cottage booking", "covering the round at the pub",
            "money back for the theatre seats", "for the pressie we got {first}", "the bbq shopping, cheers", "splitting the taxi from the airport"),
    _benign(T, "social", "de", "teilen", "Essen mit {first}", "Anteil Konzertkarten", "Geschenk fuer {first}", "Tankgeld Ausflug"),
    _benign(H, "social", "de", "schulde", "was ich dir vom Wochenende schulde", "meine Haelfte vom Ferienhaus", "Taxi vom Flughafen geteilt"),
    _benign(T, "social", "fr", "partage", "resto avec {first}", "ma part des places de concert", "cadeau pour {first}"),
    _benign(H, "social", "fr", "dois", "ce que je te dois du week-end", "ma part du gite", "le taxi de l'aeroport"),
    _benign(T, "social", "es", "cuentas", "cena con {first}", "mi parte de las entradas", "regalo de {first}"),
    _benign(H, "social", "es", "debo", "lo que te debo del finde", "lo mio de la casa rural"),
    _benign(T, "social", "it", "conti", "cena insieme a {first}", "la mia parte dei biglietti"),
    _benign(H, "social", "it", "devo", "quello che ti devo del weekend", "quota casa al mare"),
    _benign(T, "social", "nl", "delen", "tikkie etentje {first}", "mijn deel van de kaartjes"),
    _benign(H, "social", "nl", "schuld", "wat ik je nog schuldig was van het weekend", "aandeel huisje"),
    _benign(T, "social", "pl", "dzielimy", "kolacja z {first}", "moja czesc biletow"),
    _benign(T, "social", "pt", "contas", "jantar com {first}", "a minha parte dos bilhetes"),

    # ---- household bills and rent
    _benign(T, "household", "en", "bills",
            "rent {month}", "bills share {month}", "council tax split", "electric bill {month}", "broadband half", "cleaner {month}"),
    _benign(H, "household", "en", "flat",
            "my part of the energy bill for the flat", "water rates for the quarter", "landlord for next month, {n2} {street}",
            "window cleaner and the gardener", "boiler service split with {first}", "contribution to the house kitty"),
    _benign(T, "household", "de", "miete", "Miete {month}", "Nebenkosten {month}", "Strom Anteil"),
    _benign(H, "household", "de", "wohnung", "mein Anteil der Stromrechnung", "Hausmeister und Garten"),
    _benign(T, "household", "fr", "loyer", "loyer {month}", "charges {month}", "facture electricite part"),
    _benign(H, "household", "fr", "appart", "ma part de la facture d'energie de l'appart"),
    _benign(T, "household", "es", "alquiler", "alquiler {month}", "gastos del piso {month}"),
    _benign(T, "household", "nl", "huur", "huur {month}", "vaste lasten {month}"),

    # ---- purchases from people (marketplace, trades), new payees
    _benign(T, "purchase", "en", "marketplace",
            "sofa from marketplace", "bike - thanks", "ps5 collected", "plumber invoice {n3}", "kitchen deposit", "tutoring {month}"),
    _benign(H, "purchase", "en", "collected",
            "for the pram I picked up on saturday", "second hand lawnmower, cheers", "electrician call out {street}",
            "guitar lessons for the term", "the dining table from your listing", "dog grooming appointment"),
    _benign(T, "purchase", "de", "kauf", "Fahrrad abgeholt", "Kleinanzeigen Sofa", "Handwerker Rechnung {n3}"),
    _benign(H, "purchase", "de", "abgeholt", "Kinderwagen am Samstag abgeholt", "Gitarrenunterricht Quartal"),
    _benign(T, "purchase", "fr", "achat", "velo leboncoin", "facture plombier {n3}"),
    _benign(H, "purchase", "fr", "recupere", "la poussette recuperee samedi", "cours de guitare du trimestre"),

    # ---- family support, also abroad
    _benign(T, "family_support", "en", "support",
            "for mum", "monthly support {month}", "school fees for {first}", "medicine for dad", "pocket money {first}"),
    _benign(H, "family_support", "en", "helping",
            "helping my parents with their shopping this month", "towards nan's care home top up", "for my sister's uni books",
            "allowance for the kids while I'm away", "grandad's prescription and bits"),
    _benign(T, "family_support", "de", "familie", "fuer Mama", "Taschengeld {first}", "Unterstuetzung Eltern"),
    _benign(H, "family_support", "de", "helfen", "Einkauf fuer meine Eltern diesen Monat", "Buecher fuer die Uni meiner Schwester"),
    _benign(T, "family_support", "pl", "rodzina", "dla mamy", "dla babci", "kieszonkowe {first}"),
    _benign(H, "family_support", "pl", "pomoc", "pomoc dla rodzicow w tym miesiacu", "na ksiazki dla siostry"),
    _benign(T, "family_support", "es", "familia", "para mama", "para la abuela", "paga {first}"),
    _benign(T, "family_support", "pt", "familia", "para a mae", "para a avo", "mesada {first}"),

    # ---- alarming words, harmless stories
    _benign(T, "urgent", "en", "asap",
            "urgent - pay you back friday", "URGENT rent top up", "sorry urgent car repair", "urgent vet bill thanks!!",
            "asap for the deposit", "urgent boiler fix", alarming=True),
    _benign(H, "urgent", "en", "today",
            "need it today for the mechanic, cheers", "emergency dentist, will settle up at the weekend",
            "quick before the shop shuts - concert tix", "last minute train home, thanks a million", alarming=True),
    _benign(T, "work_jokes", "en", "team",
            "fraud team christmas do", "security team leaving collection", "police charity 10k sponsorship",
            "tax office quiz night", "bank holiday bbq", alarming=True),
    _benign(H, "work_jokes", "en", "office",
            "whip round for the investigations unit retirement", "raffle at the station open day",
            "sponsoring {first}'s fun run for the detectives' charity", "revenue department summer party ticket", alarming=True),
    _benign(T, "crypto_hobby", "en", "dca",
            "BTC DCA", "monthly crypto buy", "eth top up", "bitcoin savings", "crypto portfolio top up {month}", alarming=True),
    _benign(H, "crypto_hobby", "en", "stack",
            "my regular little bit into coins", "stacking some sats for the long run", "sending to my own exchange account for the monthly buy", alarming=True),
    _benign(T, "tax_real", "en", "return",
            "tax return balance {year}", "self assessment payment on account", "accountant fee for my tax return", alarming=True),
    _benign(H, "tax_real", "en", "bill",
            "settling my own tax bill after the accountant checked it", "second instalment for the revenue this year", alarming=True),
    _benign(T, "refund_real", "en", "back",
            "refund for the tickets you couldn't use", "paying you back the overpayment on the bill", "deposit refund {street}", alarming=True),
    _benign(H, "refund_real", "en", "return",
            "returning what you paid twice for the holiday", "your share back, the booking was cancelled", alarming=True),
    _benign(T, "urgent", "de", "dringend", "dringend Werkstatt, zahl dir zurueck", "Notfall Zahnarzt danke", alarming=True),
    _benign(H, "urgent", "de", "heute", "brauche es heute fuer den Mechaniker", "Zug nach Hause in letzter Minute", alarming=True),
    _benign(T, "work_jokes", "de", "team", "Weihnachtsfeier Betrugsabteilung", "Spende Polizei Sportverein", alarming=True),
    _benign(T, "urgent", "fr", "urgent", "urgent garagiste je te rembourse", "dentiste en urgence merci", alarming=True),
    _benign(H, "urgent", "fr", "aujourdhui", "il me le faut aujourd'hui pour le mecano", alarming=True),
    _benign(T, "urgent", "es", "urgente", "urgente taller te lo devuelvo", "dentista urgente gracias", alarming=True),
    _benign(T, "urgent", "nl", "dringend", "dringend garage betaal je terug", alarming=True),
    _benign(T, "urgent", "pl", "pilne", "pilne mechanik oddam w piatek", alarming=True),
    # ---- more harmless stories with alarming words, and investing (training and held out)
    _benign(T, "tax_real", "en", "accountant",
            "paying my tax bill from the self assessment", "quarterly VAT to the tax office", "tax owed for last year, sorted with accountant",
            "refund of the tax I overpaid for you", alarming=True),
    _benign(T, "work_jokes", "en", "club",
            "police football club subs", "bank security team night out", "fraud awareness course lunch split",
            "crime novel book club", "detective film night tickets", alarming=True),
    _benign(T, "crypto_hobby", "en", "weekly",
            "weekly bitcoin buy", "topping up my crypto exchange", "crypto for my own wallet", "investing a little in ethereum",
            alarming=True),
    _benign(T, "refund_real", "en", "ticket",
            "refund for the cancelled gig tickets", "refund, you covered the trip", "overpaid you for dinner, here is the difference",
            alarming=True),
    _benign(T, "savings", "en", "rate", "moving savings to the better rate account", "securing some money for emergencies in my savings",
            "into savings to be safe", alarming=True),
    _benign(T, "urgent", "en", "quick", "urgent - need it for the plumber today", "asap please, parking fine", "quick one for the taxi, urgent",
            alarming=True),
    _benign(T, "investing", "en", "isa", "monthly ISA contribution", "pension top up {month}", "shares account deposit",
            "stocks and shares ISA {year}", "investment account top up", alarming=True),
    _benign(H, "investing", "en", "tracker", "putting my annual allowance into the index tracker", "lump sum into the workplace pension",
            "buying more of the global fund this month", alarming=True),
    _benign(T, "investing", "de", "depot", "Sparplan ETF {month}", "Depot Einzahlung"),
    _benign(H, "investing", "de", "fonds", "mehr vom Weltfonds gekauft"),
)
# fmt: on

ALL_FAMILIES: tuple[MemoFamily, ...] = SCAM_FAMILIES + BENIGN_FAMILIES

# Slot values for the held-out families only (no training family names these platforms).
HELDOUT_SLOTS: dict[str, tuple[str, ...]] = {
    "platform2": (
        "Veltrix Capital",
        "NovaYield",
        "Aurum Markets",
        "CoinSphere",
        "Zentrix AI",
        "Orbis Trade",
    ),
}
EXTRA_SLOTS: dict[str, tuple[str, ...]] = {
    "vendor": ("Microsoft", "Amazon", "Apple", "BT", "Sky", "PayPal", "Norton", "McAfee"),
}


def _included(family: MemoFamily, split: MemoSplit) -> bool:
    return split == "all" or family.split == split


@lru_cache(maxsize=64)
def families(
    *, label: int | None = None, split: MemoSplit = "all", story: str | None = None
) -> tuple[MemoFamily, ...]:
    """Families matching every given filter, in the order above (a stable order: the generator
    draws from these tuples by index)."""
    return tuple(
        f
        for f in ALL_FAMILIES
        if _included(f, split)
        and (label is None or f.label == label)
        and (story is None or f.story == story)
    )


def stories(label: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for f in ALL_FAMILIES:
        if f.label == label:
            seen.setdefault(f.story, None)
    return tuple(seen)


@lru_cache(maxsize=512)
def for_story(story: str, lang: str, split: MemoSplit, label: int) -> tuple[MemoFamily, ...]:
    """The story's families in `lang` (English when it has none in that language)."""
    pool = families(label=label, split=split, story=story)
    local = tuple(f for f in pool if f.lang == lang)
    return local or tuple(f for f in pool if f.lang == "en")


def by_id(family_id: str) -> MemoFamily:
    for f in ALL_FAMILIES:
        if f.id == family_id:
            return f
    raise KeyError(family_id)


_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_ANY_SLOT = re.compile(r"\{[^{}]*\}")


def _grams(template: str, n: int = 3) -> set[tuple[str, ...]]:
    """The template's word 3-grams, slots left out: what "the same wording" means here."""
    words = _WORD.findall(_ANY_SLOT.sub(" ", template.lower()))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def check(families_: Iterable[MemoFamily] = ALL_FAMILIES) -> list[str]:
    """Problems with the catalogue (tests assert there are none): duplicate ids, a template in
    two families, a held-out template that shares three words in a row with a training one,
    a story without a held-out or a training family in English."""
    problems: list[str] = []
    seen_ids: set[str] = set()
    seen_templates: dict[str, str] = {}
    fams = list(families_)
    for f in fams:
        if f.id in seen_ids:
            problems.append(f"duplicate family id {f.id}")
        seen_ids.add(f.id)
        if f.lang not in LANGUAGES:
            problems.append(f"{f.id}: unknown language {f.lang}")
        for t in f.templates:
            key = t.lower()
            if key in seen_templates and seen_templates[key] != f.id:
                problems.append(f"template {t!r} in {seen_templates[key]} and {f.id}")
            seen_templates.setdefault(key, f.id)
    train_grams = {
        g: f.id for f in fams if f.split == "train" for t in f.templates for g in _grams(t)
    }
    for f in fams:
        if f.split == "heldout":
            for t in f.templates:
                for g in _grams(t):
                    if g in train_grams:
                        problems.append(
                            f"{f.id} shares {' '.join(g)!r} with training family {train_grams[g]}"
                        )
    for label in (0, 1):
        for story in {f.story for f in fams if f.label == label}:
            en = [f for f in fams if f.label == label and f.story == story and f.lang == "en"]
            if not any(f.split == "train" for f in en):
                problems.append(f"story {story}: no English training family")
            if not any(f.split == "heldout" for f in en):
                problems.append(f"story {story}: no English held-out family")
    return problems
