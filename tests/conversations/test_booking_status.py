"""A renter identified by their own phone asks for their booking, in each language."""

import pytest


@pytest.mark.parametrize("phone, question, expected", [
    ("+41791234501", "Grüezi, wo ist meine Buchung?",
     ["Buchung CR-48213", "Mittwoch, 10. März 2027, 09:00", "CHF 1’234.50", "Status: bestätigt"]),
    ("+41791234504", "bonjour, où est ma réservation ?",
     ["Réservation CR-48216", "samedi 13 mars 2027, 09:00", "240,00 CHF", "Statut : confirmée"]),
    ("+41791234502", "ciao, dov'è la mia prenotazione?",
     ["Prenotazione CR-48214", "giovedì 11 marzo 2027, 09:00", "CHF 389.00", "confermata"]),
    ("+41791234503", "hi, where is my booking?",
     ["Booking CR-48215", "Friday, 12 March 2027, 09:00", "CHF 615.00", "Status: confirmed"]),
])
def test_booking_status_in_the_renters_language(chat, phone, question, expected):
    replies = chat("whatsapp", phone).say(question)
    assert len(replies) == 1
    for fragment in expected:
        assert fragment in replies[0]


def test_romansh_greeting_is_answered_in_romansh(chat):
    renter = chat("whatsapp", "+41791234501")
    assert renter.say("Allegra!") == [
        "Allegra! Jau sun l'assistent da Alpen Rent AG. Jau gid tar Vossa reservaziun, "
        "la pitgada e la restituziun. Co poss jau gidar?"]


def test_one_english_word_does_not_switch_a_german_chat(chat):
    renter = chat("whatsapp", "+41791234501")
    renter.say("Grüezi, wo ist meine Buchung?")
    assert "Gern geschehen" in renter.say("thanks")[0]
    assert renter.conversation.language == "de"


def test_a_whole_french_sentence_switches_the_language(chat):
    renter = chat("whatsapp", "+41791234501")
    renter.say("Grüezi")
    reply = renter.say("bonjour, je voudrais savoir où est ma réservation")
    assert reply[0].startswith("Réservation CR-48213")
