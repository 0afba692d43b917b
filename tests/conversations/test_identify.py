"""Identify: own phone, booking reference plus date of birth or SMS code, lock-out, isolation."""


from sqlalchemy import select

from bot.models import AuditLog


def test_unknown_number_is_asked_for_the_reference_and_date_of_birth(chat):
    stranger = chat("whatsapp", "+41799999999")
    assert "Buchungsnummer" in stranger.say("wo ist meine Buchung?")[0]
    assert "Geburtsdatum" in stranger.say("CR-48213")[0]
    replies = stranger.say("12.03.1990")
    assert replies[0] == "Danke, Anna! Ich habe Ihre Buchung CR-48213 gefunden."
    assert "Buchung CR-48213" in replies[1]  # the question asked first is answered


def test_reference_and_birth_date_in_one_message(chat):
    stranger = chat("telegram", "5551234")
    stranger.say("where is my booking")
    replies = stranger.say("cr 48213 dob 12.3.1990")
    assert replies[0].startswith("Thank you, Anna!")


def test_wrong_birth_date_reveals_nothing(chat):
    stranger = chat("whatsapp", "+41799999999")
    stranger.say("my booking please")
    stranger.say("CR-48213")
    reply = stranger.say("01.01.1970")[0]
    assert "Anna" not in reply and "48213" not in reply
    assert "2 attempt(s) left" in reply


def test_unknown_reference_gets_the_same_answer_as_a_known_one(chat):
    a, b = chat("whatsapp", "+41799999998"), chat("whatsapp", "+41799999997")
    a.say("my booking please")
    b.say("my booking please")
    assert a.say("CR-48213") == b.say("CR-99999")


def test_three_failures_lock_for_15_minutes_and_offer_staff(chat, clock):
    stranger = chat("whatsapp", "+41799999999")
    stranger.say("my booking please")
    stranger.say("CR-48213")
    stranger.say("01.01.1970")
    stranger.say("CR-48213 02.02.1971")
    locked = stranger.say("CR-48213 03.03.1972")
    assert "paused for 15 minutes" in locked[0]
    # staff get the summary in the renter's topic; the bot keeps answering meanwhile
    summary = stranger.staff_texts()[0]
    assert "Identifikation nach 3 Fehlversuchen gesperrt" in summary and "CR-48213 03.03.1972" in summary
    # even the right answer is refused while locked
    assert "paused for 15 minutes" in stranger.say("booking CR-48213 12.03.1990")[0]
    clock.advance(minutes=16)
    stranger.say("my booking please")
    assert stranger.say("CR-48213 12.03.1990")[0].startswith("Thank you, Anna!")


def test_one_time_code_by_sms_where_birth_date_is_not_allowed(chat, channels):
    # Léman Auto does not accept the date of birth: a code goes to the booking's phone.
    stranger = chat("telegram", "777000", tenant="lemanauto")
    stranger.say("où est ma réservation ?")
    assert "code à 6 chiffres" in stranger.say("CR-51001")[0]
    sms = [r for r in stranger.outbox() if r.channel == "sms"]
    assert len(sms) == 1 and sms[0].address == "+41791234511"
    # in the language of the booking's renter, who reads the SMS
    assert sms[0].payload["text"] == \
        "Votre code Léman Auto SA : 314159. Valable 10 minutes. Ne le partagez jamais."
    assert "Encore 2 essai(s)" in stranger.say("123456")[0]
    assert "Encore 1 essai(s)" in stranger.say("000000")[0]
    assert stranger.say("314159")[0].startswith("Merci, Sophie !")


def test_code_is_written_in_the_booking_renters_language(chat):
    stranger = chat("telegram", "777002", tenant="lemanauto")
    stranger.say("bonjour, où est ma réservation ?")
    stranger.say("CR-51003")  # Emily Clark, English
    sms = [r for r in stranger.outbox() if r.channel == "sms"]
    assert sms[0].payload["text"].startswith("Your Léman Auto SA code: 314159.")


def test_code_expires_after_ten_minutes(chat, clock):
    stranger = chat("telegram", "777001", tenant="lemanauto")
    stranger.say("ma réservation")
    stranger.say("CR-51001")
    clock.advance(minutes=11)
    assert "expiré" in stranger.say("314159")[0]


def test_booking_of_another_tenant_is_never_reached(chat):
    # CR-51001 belongs to Léman Auto; a renter writing to Alpen Rent gives its reference
    # and the right date of birth and still learns nothing.
    renter = chat("whatsapp", "+41799999999", tenant="alpenrent")
    renter.say("where is my booking")
    renter.say("CR-51001")
    reply = renter.say("19.05.1988")[0]
    assert "Sophie" not in reply and "51001" not in reply and "attempt" in reply
    assert renter.conversation.verified is False


def test_own_phone_of_another_tenant_does_not_verify(chat):
    # Sophie's phone is on a Léman Auto booking, not on any Alpen Rent booking.
    renter = chat("whatsapp", "+41791234511", tenant="alpenrent")
    assert "booking reference" in renter.say("where is my booking")[0]


def test_verification_is_audited(chat, runtime):
    chat("whatsapp", "+41791234501").say("wo ist meine Buchung?")
    with runtime.db.session() as s:
        actions = list(s.scalars(select(AuditLog.action)))
    assert "identify.verified" in actions
