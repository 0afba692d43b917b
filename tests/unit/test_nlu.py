"""The first NLU: the messages the flows must route, and the entities they need."""

from datetime import date

import pytest

from nlu import RuleBasedParser
from nlu.entities import extract
from nlu.language import detect

TODAY = date(2027, 3, 8)  # a Monday


@pytest.mark.parametrize("text, intent", [
    ("Grüezi", "greet"), ("Allegra", "greet"), ("bonjour", "greet"),
    ("wo ist meine Buchung?", "booking_status"), ("dov'è la mia prenotazione?", "booking_status"),
    ("Ich wett mis Auto morn am 8i abhole", "pickup_info"),
    ("bonjour j'ai eu un accident 😟", "report_problem"),
    ("posso pagare con twint?", "pay_online"), ("STOP", "opt_out"), ("START", "opt_in"),
    ("parla italiano?", "change_language"), ("I want to talk to a human", "human_agent"),
    ("please delete my data", "delete_data"), ("ich möchte stornieren", "cancel_booking"),
    ("can I keep the car longer?", "extend_rental"), ("wie hoch ist die Kaution", "ask_deposit"),
    ("c'est quoi la franchise de l'assurance", "ask_insurance"), ("merci vilmal", "thanks"),
    ("ja", "affirm"), ("nein", "deny"), ("hilfe", "help"), ("asdfgh", "nlu_fallback"),
])
def test_intents(text, intent):
    assert RuleBasedParser().parse(text, TODAY).intent == intent


@pytest.mark.parametrize("text, expected", [
    ("cr 48213 dob 12.3.1990", {"booking_ref": "CR-48213", "date": "1990-03-12"}),
    ("CR48213", {"booking_ref": "CR-48213"}),
    ("abholen morgen", {"date": "2027-03-09"}),
    ("übermorgen bitte", {"date": "2027-03-10"}),
    ("demain matin", {"date": "2027-03-09"}),
    ("venerdì", {"date": "2027-03-12"}),
    ("bis 12.03.", {"date": "2027-03-12"}),
    ("am 1.3.", {"date": "2028-03-01"}),  # a past day without a year means next year
    ("Auto ZH 123456", {"plate": "ZH 123456"}),
    ("mein auto zh 123456 hat einen platten", {"plate": "ZH 123456"}),
    ("I'll be 30 minutes late", {}),
    ("call me on 079 123 45 67", {"phone": "+41791234567"}),
    ("mail an Anna.Muller@example.ch", {"email": "anna.muller@example.ch"}),
])
def test_entities(text, expected):
    assert extract(text, TODAY) == expected


@pytest.mark.parametrize("text, language", [
    ("wo ist meine Buchung", "de"), ("où est ma réservation", "fr"),
    ("dove posso ritirare la macchina", "it"), ("where can I pick up the car", "en"),
    ("allegra, grazia fitg", "rm"), ("123", None),
])
def test_language(text, language):
    assert detect(text)[0] == language


def test_confidence_is_lower_when_two_intents_compete():
    parser = RuleBasedParser()
    clear = parser.parse("wie hoch ist die Kaution", TODAY)
    mixed = parser.parse("Kaution und Versicherung", TODAY)
    assert clear.confidence > mixed.confidence
