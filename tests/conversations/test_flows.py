"""Transcripts of the flows through the real engine: one renter, one channel, one tenant."""

from sqlalchemy import select

from bot.models import AuditLog, Conversation, Customer, Message
from bot.repository import booking_by_ref

ANNA = "+41791234501"


def test_help_lists_what_the_bot_does(chat):
    reply = chat("whatsapp", ANNA).say("hilfe")[0]
    assert "Ich helfe bei" in reply and "STOP" in reply


def test_pickup_info_on_whatsapp_sends_a_pin(chat, runtime):
    renter = chat("whatsapp", ANNA)
    renter.say("wann kann ich das Auto abholen?")
    rows = [r for r in renter.outbox() if r.channel == "whatsapp"]
    assert "Abholung CR-48213: Mittwoch, 10. März 2027, 09:00" in rows[0].payload["text"]
    assert "Mo–Fr 07:30–18:30" in rows[0].payload["text"]
    assert rows[0].payload["location"] == [47.3779, 8.5372]


def test_pickup_info_on_sms_gives_a_map_link(chat):
    replies = chat("sms", ANNA).say("wo kann ich das auto abholen")
    assert replies[1].startswith("Karte: https://www.google.com/maps/search/?api=1&query=Z%C3%BCrich+HB")


def test_return_info(chat):
    reply = chat("whatsapp", "+41791234503").say("when do I have to return the car?")[0]
    assert reply.startswith("Return of CR-48215: Tuesday, 16 March 2027, 17:00")


def test_extend_is_a_request_to_staff_never_a_promise(chat, runtime):
    renter = chat("whatsapp", ANNA)
    assert "Bis wann" in renter.say("ich möchte verlängern")[0]
    assert "nach Ihrer jetzigen Rückgabe" in renter.say("12.03.2027")[0]
    reply = renter.say("20.03.2027")[0]
    assert "noch nicht bestätigt" in reply
    staff = renter.staff_texts()
    assert any("CR-48213" in t and "20.03.2027 verlängern" in t for t in staff)
    with runtime.db.session() as s:
        booking = booking_by_ref(s, 1, "CR-48213")
        assert booking.return_at.date().isoformat() == "2027-03-14"  # unchanged


def test_cancel_asks_to_confirm_and_passes_to_staff(chat, runtime):
    renter = chat("whatsapp", "+41791234503")
    renter.say("I want to cancel my booking")
    msgs = renter.new_replies()
    assert msgs == []  # already read by say(); check the buttons on the stored reply
    with runtime.db.session() as s:
        last = s.scalars(select(Message).where(Message.direction == "out")
                         .order_by(Message.id.desc())).first()
    assert last.payload["buttons"] == [["Yes", "/yes"], ["No", "/no"]]
    assert "team" in renter.say("/yes")[0]
    assert any("CR-48215" in t for t in renter.staff_texts())
    with runtime.db.session() as s:
        assert booking_by_ref(s, 1, "CR-48215").status == "confirmed"


def test_sms_menu_is_numbered_and_a_number_picks(chat):
    renter = chat("sms", "+41791234503")
    question = renter.say("cancel my booking please")[0]
    assert "1) Yes\n2) No" in question and "Reply with the number" in question
    assert renter.say("2") == ["Okay, nothing has been changed."]


def test_change_language_with_buttons(chat):
    renter = chat("whatsapp", ANNA)
    renter.say("Sprache ändern")
    assert renter.say("/lang it") == ["Va bene, d'ora in poi scrivo in italiano."]
    assert "Prenotazione CR-48213" in renter.say("la mia prenotazione")[0]
    # a chosen language sticks even when the renter writes a German sentence
    assert "Prenotazione CR-48213" in renter.say("wo ist meine Buchung bitte")[0]


def test_parla_italiano_switches(chat):
    assert chat("whatsapp", ANNA).say("parla italiano?") == [
        "Va bene, d'ora in poi scrivo in italiano."]


def test_human_agent_hands_over_and_relays(chat):
    renter = chat("whatsapp", "+41791234503")
    assert "asked a member of our team" in renter.say("can I talk to a human please")[0]
    staff = renter.staff_texts()
    assert staff[0].startswith("🔔 #1 (whatsapp): Mieter möchte eine Person")
    assert "👤 can I talk to a human please" in staff[0]  # the last messages, for context
    assert renter.say("the car is blue, right?") == []  # the bot stays quiet
    assert renter.staff_texts() == ["#1 Mieter: the car is blue, right?"]
    assert renter.conversation.staff_mode is True


def test_report_problem_gives_emergency_numbers_and_alerts_staff(chat):
    renter = chat("whatsapp", "+41791234504")
    reply = renter.say("bonjour j'ai eu un accident 😟")[0]
    assert "144" in reply and "117" in reply
    assert "+41 44 555 01 00" in reply  # the tenant's own emergency line
    alert = renter.staff_texts()[0]
    assert alert.startswith("🚨 #") and "Unfall oder Panne" in alert and "accident" in alert
    assert renter.conversation.urgent and renter.conversation.staff_mode


def test_not_understood_twice_offers_staff(chat):
    renter = chat("whatsapp", "+41791234503")
    assert renter.say("blorp zzz")[0].startswith("Sorry, I didn't understand")
    second = renter.say("qwertz asdf")
    assert "member of our team" in second[0]
    assert "Mitarbeiter" not in second[0]


def test_stop_and_start(chat, runtime):
    renter = chat("sms", "+41791234504")
    renter.say("bonjour")
    assert renter.say("STOP") == [
        "C'est fait : vous ne recevrez plus de rappels. Écrivez START pour les réactiver."]
    assert renter.say("START")[0].startswith("Les rappels sont réactivés")


def test_delete_data_erases_personal_data_and_keeps_the_booking(chat, runtime):
    renter = chat("whatsapp", "+41791234503")
    renter.say("where is my booking?")
    assert "cannot be undone" in renter.say("please delete my data")[0]
    assert renter.say("/yes") == ["Your personal data has been erased. Thank you and goodbye."]
    with runtime.db.session() as s:
        booking = booking_by_ref(s, 1, "CR-48215")
        customer = s.get(Customer, booking.customer_id)
        assert customer.name is None and customer.phone is None and customer.birth_date is None
        assert customer.erased_at is not None
        assert booking.amount_due_chf is not None  # the booking stays, anonymised
        bodies = [m.body for m in s.scalars(select(Message).where(
            Message.conversation_id == renter.conversation_id, Message.direction == "in"))]
        assert bodies and all(b == "[erased]" for b in bodies)
        assert s.scalar(select(AuditLog).where(AuditLog.action == "privacy.erased")) is not None
    # the renter is a stranger now
    assert "booking reference" in renter.say("where is my booking?")[0]


def test_delete_data_can_be_declined(chat):
    renter = chat("whatsapp", "+41791234503")
    renter.say("erase my data")
    assert renter.say("no") == ["Okay, nothing was deleted."]


def test_faq_deposit_insurance_hours(chat):
    renter = chat("whatsapp", ANNA)
    assert "Kaution hängt vom Fahrzeug ab" in renter.say("wie hoch ist die Kaution?")[0]
    renter.say("meine Buchung")
    assert "CHF 1’000.00" in renter.say("wie hoch ist die Kaution?")[0]
    assert "CHF 1’500.00" in renter.say("Versicherung und Selbstbehalt?")[0]


def test_payment_status_shows_the_open_amount(chat):
    reply = chat("whatsapp", ANNA).say("habe ich schon bezahlt?")[0]
    assert reply == "Buchung CR-48213: CHF 1’234.50 offen, CHF 0.00 bezahlt."


def test_tenant_isolation_of_conversations(chat, runtime):
    chat("whatsapp", ANNA, tenant="alpenrent").say("Grüezi")
    chat("whatsapp", ANNA, tenant="lemanauto").say("Grüezi")
    with runtime.db.session() as s:
        convs = list(s.scalars(select(Conversation)))
    assert len(convs) == 2 and len({c.tenant_id for c in convs}) == 2


def test_opening_hours_need_no_identification(chat):
    stranger = chat("sms", "+41799999999", tenant="lemanauto")
    # on SMS the dashes are plain hyphens: an en dash would make the whole SMS UCS-2
    assert stranger.say("quelles sont vos heures d'ouverture ?") == [
        "Nos heures d'ouverture : lu-sa 08:00-19:00. Adresse : Avenue de la Gare 12, 1003 Lausanne."]
