"""The staff desk: a renter handed to staff, staff answering and handing back (sandbox desk)."""

from sqlalchemy import select

from bot import staff
from bot.messages import Media
from bot.models import AuditLog, LicenceCheck, OutboxItem
from bot.staff import StaffInput

ANNA = "+41791234501"  # booking CR-48213, writes German


def desk(runtime, clock, conv_id: int, text: str, tenant_id: int = 1, author: str = "Petra") -> str:
    """What a staff member typing in the renter's topic does."""
    return staff.act(runtime.db, clock.now(), StaffInput(tenant_id, text, author,
                                                         conversation_id=conv_id))


def test_staff_answer_reaches_the_renter_and_close_hands_back(chat, runtime, clock):
    renter = chat("whatsapp", ANNA)
    renter.say("Buchung CR-48213, geboren 12.03.1990")
    renter.say("ich möchte mit einem Menschen sprechen")
    summary = renter.staff_texts()[0]
    assert "CR-48213" in summary and "Anna" in summary  # the booking line for staff
    assert desk(runtime, clock, renter.conversation_id, "Grüezi Anna, hier ist Petra.") == "relayed"
    assert [m.body for m in renter.new_replies()] == ["Grüezi Anna, hier ist Petra."]
    assert renter.conversation.claimed_by == "Petra"  # answering takes the conversation
    assert renter.say("Danke, kann ich um 8 Uhr kommen?") == []  # relayed, the bot is quiet
    assert renter.staff_texts()[-1].endswith("Danke, kann ich um 8 Uhr kommen?")

    assert desk(runtime, clock, renter.conversation_id, "/close") == "closed"
    assert "digitalen Assistenten" in renter.new_replies()[0].body
    assert "Petra hat das Gespräch an den Bot zurückgegeben" in renter.staff_texts()[-1]
    assert renter.conversation.staff_mode is False
    assert "Ich helfe bei" in renter.say("hilfe")[0]  # the bot answers again


def test_note_is_internal_and_lang_switches_the_renters_language(chat, runtime, clock):
    renter = chat("whatsapp", ANNA)
    renter.say("kann ich mit jemandem reden?")
    renter.staff_texts()
    desk(runtime, clock, renter.conversation_id, "/note Kundin ruft später an")
    assert renter.new_replies() == []  # nothing to the renter
    assert renter.conversation.data["staff_notes"][0]["text"] == "Kundin ruft später an"
    assert "Notiz von Petra" in renter.staff_texts()[-1]
    desk(runtime, clock, renter.conversation_id, "/lang fr")
    desk(runtime, clock, renter.conversation_id, "/close")
    assert "Notre équipe m'a rendu la conversation" in renter.new_replies()[0].body


def test_booking_command_and_unknown_commands_answer_staff_only(chat, runtime, clock):
    renter = chat("whatsapp", ANNA)
    renter.say("Buchung CR-48213, geboren 12.03.1990")
    renter.say("Mensch bitte")
    renter.staff_texts()
    desk(runtime, clock, renter.conversation_id, "/booking")
    assert renter.staff_texts()[-1].startswith("Buchung: CR-48213 · Anna")
    desk(runtime, clock, renter.conversation_id, "/frobnicate")
    assert "/licence approve" in renter.staff_texts()[-1]
    assert renter.new_replies() == []


def test_licence_reject_needs_a_reason_and_tells_the_renter(chat, runtime, clock):
    renter = chat("whatsapp", ANNA)
    renter.say("Buchung CR-48213, geboren 12.03.1990")
    with runtime.db.session() as s:
        s.add(LicenceCheck(tenant_id=1, booking_id=renter.conversation.booking_id,
                           status="received", created_at=clock.now()))
    renter.say("Mensch bitte")
    assert desk(runtime, clock, renter.conversation_id, "/licence reject") == "help"
    assert desk(runtime, clock, renter.conversation_id, "/licence reject abgelaufen") == "rejected"
    assert "nicht akzeptieren: abgelaufen" in renter.new_replies()[-1].body
    with runtime.db.session() as s:
        check = s.scalars(select(LicenceCheck)).one()
        assert check.status == "rejected" and check.problems == ["staff: abgelaufen"]
        assert s.scalars(select(AuditLog.action).where(
            AuditLog.actor == "staff:Petra")).all() == ["licence.rejected"]


def test_another_tenants_staff_cannot_touch_the_conversation(chat, runtime, clock):
    renter = chat("whatsapp", ANNA)
    renter.say("Mensch bitte")
    renter.staff_texts()
    assert desk(runtime, clock, renter.conversation_id, "Hallo", tenant_id=2) == "ignored"
    assert desk(runtime, clock, renter.conversation_id, "/close", tenant_id=2) == "help"
    assert renter.new_replies() == [] and renter.conversation.staff_mode is True
    with runtime.db.session() as s:  # the help went to tenant 2's own desk, nothing to tenant 1
        assert {r.tenant_id for r in s.scalars(select(OutboxItem).where(
            OutboxItem.conversation_id.is_(None)))} == {2}


def test_two_misunderstandings_in_a_row_go_to_staff(chat):
    renter = chat("whatsapp", ANNA)
    assert "anders formulieren" in renter.say("qwrtz plmokn")[0]
    assert renter.staff_texts() == [] and renter.conversation.staff_mode is False
    reply = renter.say("zxcvb asdfg")[0]
    assert "aus unserem Team gebeten" in reply
    assert "nicht verstanden" in renter.staff_texts()[0]
    assert renter.conversation.staff_mode is True


def test_unclaimed_escalations_are_announced_again(chat, runtime, clock):
    renter = chat("whatsapp", ANNA)
    renter.say("Mensch bitte")
    renter.staff_texts()
    clock.advance(minutes=5)
    runtime.scheduler.run_once()
    assert renter.staff_texts() == []
    clock.advance(minutes=6)
    runtime.scheduler.run_once()
    assert renter.staff_texts() == ["⏰ Seit 11 Min. nicht übernommen: #1 (Mieter möchte eine Person). "
                                    "/claim zum Übernehmen."]
    runtime.scheduler.run_once()
    assert renter.staff_texts() == []  # once per interval
    desk(runtime, clock, renter.conversation_id, "/claim")
    clock.advance(minutes=30)
    runtime.scheduler.run_once()
    assert [t for t in renter.staff_texts() if "nicht übernommen" in t] == []


def test_a_photo_while_staff_hold_the_chat_reaches_them_as_a_link(chat, runtime, services):
    renter = chat("whatsapp", ANNA)
    renter.say("Mensch bitte")
    renter.staff_texts()
    services.channels["whatsapp"].media["https://media/1"] = ("image/jpeg", b"\xff\xd8jpeg")
    assert renter.say("hier das Foto", media=(Media("https://media/1", "image/jpeg"),)) == []
    relayed = renter.staff_texts()[-1]
    assert "hier das Foto" in relayed and "/d/" in relayed
