"""Language identification for short chat messages, restricted to de, fr, it, en (and rm)."""

from __future__ import annotations

import re

WORDS: dict[str, set[str]] = {
    "de": set("""ich du sie wir mein meine mir mich ist bin sind und oder nicht kein keine ja nein
        das der die den dem ein eine einen wo wann wie was warum bitte danke gruezi grüezi grüessech
        hallo hoi sali tschau tschüss moin guten tag abend morgen buchung buchig auto wagen abholen
        abhole rückgabe zurückgeben zurück bringen zahlen bezahlen rechnung kaution versicherung
        hilfe mitarbeiter mensch sprache deutsch stornieren verlängern löschen daten unfall panne
        möchte möcht wett will kann chan isch mis mini gäll merci vil viel heute morn übermorgen
        mit für auf bei von zu im am um schon noch auch aber""".split()),
    "fr": set("""je tu vous nous mon ma mes moi est suis sont et ou pas non oui le la les un une des
        où quand comment quoi pourquoi merci bonjour bonsoir salut coucou au revoir réservation
        voiture prendre récupérer retour rendre payer paiement facture caution assurance aide
        conseiller personne langue français annuler prolonger supprimer données accident panne
        voudrais veux peux avec pour sur chez de du à aujourd'hui demain après-demain heure est-ce
        j'ai c'est ai""".split()),
    "it": set("""io tu lei noi mio mia miei mi sono è e o non no sì si il lo la gli le un una dove
        quando come cosa perché grazie buongiorno buonasera ciao arrivederci prenotazione macchina
        auto ritirare ritiro riconsegna restituire pagare pagamento fattura cauzione assicurazione
        aiuto operatore persona lingua italiano annullare prolungare cancellare dati incidente
        guasto vorrei voglio posso con per su da di del della oggi domani dopodomani ora parla
        ho""".split()),
    "en": set("""i you we my me is am are and or not no yes the a an where when how what why please
        thanks thank hello hi hey bye goodbye booking car pick pickup return pay payment invoice
        deposit insurance help agent human person language english cancel extend delete data
        accident breakdown would like want can with for on at of to today tomorrow time i'm it's
        need""".split()),
    "rm": set("""allegra bun di bundi buna saira grazia fitg engraziel gea na a revair
        agid gidar perstgisai rumantsch vus jau""".split()),
}
DIACRITICS = {"de": "äöüß", "fr": "éèêàçùœ", "it": "àèìòù"}
TOKEN = re.compile(r"[a-zäöüßéèêàçùœìò'-]+")


def scores(text: str) -> dict[str, float]:
    """A score per language from known words and letters."""
    tokens = TOKEN.findall(text.lower())
    result = {lang: 0.0 for lang in WORDS}
    for token in tokens:
        for lang, words in WORDS.items():
            if token in words:
                result[lang] += 1.0
    for lang, letters in DIACRITICS.items():
        result[lang] += 0.3 * sum(text.lower().count(ch) for ch in letters)
    return result


def detect(text: str) -> tuple[str | None, float]:
    """Best language and how much of the message supports it (0..1); None when unknown."""
    found = scores(text)
    best = max(found, key=lambda k: found[k])
    if found[best] == 0:
        return None, 0.0
    total = sum(found.values())
    tokens = max(1, len(TOKEN.findall(text.lower())))
    return best, min(1.0, found[best] / total) * min(1.0, found[best] / tokens + 0.3)
