"""QR-bills in chat and their reconciliation from camt.054 files.

Every PDF's QR code is read back with zxing-cpp (zbar fails on the Swiss cross) and its
payload checked against the Swiss Implementation Guidelines.
"""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
import zxingcpp
from sqlalchemy import select
from stdnum import iso11649

from bot import qrbills
from bot.billing import import_camt
from bot.camt import CamtError, parse
from bot.documents import read_token
from bot.models import Document, OutboxItem, Payment, Tenant
from bot.sample_camt import Entry, Tx, camt054

ANNA = "+41791234501"  # Alpen Rent (QR-IBAN), CR-48213, CHF 1'234.50, an address on file
LUCA = "+41791234512"  # Léman Auto (IBAN), CR-51002, CHF 198.00, Italian, no address


def qr_lines(pdf: bytes) -> list[str]:
    """The QR code of the PDF's payment part, as its lines."""
    page = pdfium.PdfDocument(pdf)[0]
    codes = zxingcpp.read_barcodes(page.render(scale=250 / 72).to_pil())
    assert len(codes) == 1 and codes[0].format == zxingcpp.BarcodeFormat.QRCode
    return codes[0].text.replace("\r\n", "\n").split("\n")


def pdf_text(pdf: bytes) -> str:
    page = pdfium.PdfDocument(pdf)[0]
    return page.get_textpage().get_text_range()


def bill_of(chat, runtime, phone: str, text: str, tenant: str = "alpenrent"):  # type: ignore[no-untyped-def]
    """The renter asks; the reply, the bill row and the PDF that went out as WhatsApp media."""
    renter = chat("whatsapp", phone, tenant)
    renter.send(text)
    replies = renter.new_replies()
    sent = [r for r in renter.outbox() if r.payload.get("media_urls")]
    with runtime.db.session() as s:
        bill = s.scalars(select(Payment).where(Payment.method == "qrbill")
                         .order_by(Payment.id.desc())).first()
        if not sent:
            return renter, replies, bill, None
        token = sent[-1].payload["media_urls"][0].rsplit("/d/", 1)[1]
        doc_id, state = read_token(token, runtime.services.clock.now())
        assert state == "ok"
        return renter, replies, bill, s.get(Document, doc_id).data


def test_a_german_renter_gets_a_qr_bill_a_banking_app_accepts(chat, runtime):
    renter, replies, bill, pdf = bill_of(chat, runtime, ANNA, "ich möchte per Rechnung zahlen")
    assert replies[-1].body.startswith(
        "Hier ist Ihre QR-Rechnung über CHF 1’234.50 für die Buchung CR-48213, zahlbar bis")
    lines = qr_lines(pdf)
    assert lines[:3] == ["SPC", "0200", "1"]  # header, version, coding (UTF-8)
    assert lines[3] == "CH4431999123000889012"  # the tenant's QR-IBAN
    assert lines[4:11] == ["S", "Alpen Rent AG", "Hardstrasse", "201", "8005", "Zürich", "CH"]
    assert lines[11:18] == [""] * 7  # no ultimate creditor
    assert lines[18:20] == ["1234.50", "CHF"]
    assert lines[20:27] == ["S", "Anna Müller", "Bahnhofstrasse", "10", "8001", "Zürich", "CH"]
    assert lines[27] == "QRR" and lines[28] == bill.reference
    assert len(lines[28]) == 27 and qrbills.mod10_check_digit(lines[28][:26]) == lines[28][26]
    assert qrbills.read_reference(lines[28]) == (1, bill.id)
    assert lines[29].startswith("CR-48213") and lines[30] == "EPD"
    text = pdf_text(pdf)
    assert "Rechnung CR-48213" in text and "8.1% MWST" in text and "CHE-123.456.788" in text
    assert "Zahlteil" in text and "Empfangsschein" in text  # qrbill's German payment part
    # asking again while it is open sends the same bill
    assert bill_of(chat, runtime, ANNA, "QR-Rechnung bitte")[2].id == bill.id


def test_a_normal_iban_gets_a_creditor_reference_and_no_debtor_without_address(chat, runtime):
    _, replies, bill, pdf = bill_of(chat, runtime, LUCA, "vorrei pagare con fattura QR",
                                    tenant="lemanauto")
    assert replies[-1].body.startswith("Ecco la sua QR-fattura di CHF 198.00")
    lines = qr_lines(pdf)
    assert lines[3] == "CH9300762011623852957" and lines[18] == "198.00"
    assert lines[20:27] == [""] * 7  # no address on file: "payable by" left to fill in
    assert lines[27] == "SCOR" and iso11649.is_valid(lines[28]) and lines[28] == bill.reference
    assert qrbills.read_reference(lines[28]) == (2, bill.id)
    assert "Fattura" in pdf_text(pdf)


def test_references_round_trip_and_a_changed_digit_is_not_ours():
    assert qrbills.mod10_check_digit("21000000000313947143000901") == "7"  # SIX's example
    for tenant_id, payment_id in [(1, 1), (42, 987654), (999999, 10**19)]:
        assert qrbills.read_reference(qrbills.qrr(tenant_id, payment_id)) == (tenant_id, payment_id)
    for tenant_id, payment_id in [(1, 1), (42, 987654), (99999, 10**10 - 1)]:
        reference = qrbills.scor(tenant_id, payment_id)
        assert iso11649.is_valid(reference) and len(reference) <= 25
        assert qrbills.read_reference(reference) == (tenant_id, payment_id)
    good = qrbills.qrr(3, 77)
    bad = good[:-2] + str((int(good[-2]) + 1) % 10) + good[-1]
    assert qrbills.read_reference(bad) is None
    assert qrbills.read_reference("RF18539007547034") is None  # valid RF, not ours
    assert qrbills.read_reference("") is None


def set_creditor(runtime, **changes) -> None:  # type: ignore[no-untyped-def]
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        creditor = {**tenant.settings["qr_creditor"], **changes}
        tenant.settings = {**tenant.settings,
                           "qr_creditor": {k: v for k, v in creditor.items() if v is not None}}


def problems(runtime) -> list[str]:  # type: ignore[no-untyped-def]
    with runtime.db.session() as s:
        return qrbills.creditor_problems(s.scalar(select(Tenant).where(Tenant.slug == "alpenrent")))


def test_company_check_says_what_is_wrong_in_words(runtime, demo):
    assert problems(runtime) == []
    set_creditor(runtime, iban="CH44 3199 9123 0008 8901 3")
    assert any("IBAN CH44 3199 9123 0008 8901 3 is not valid" in p for p in problems(runtime))
    set_creditor(runtime, iban="DE89 3704 0044 0532 0130 00")
    assert problems(runtime) == ["QR-bills need a Swiss or Liechtenstein IBAN, not DE"]
    set_creditor(runtime, iban="CH44 3199 9123 0008 8901 2", street=None, city="X" * 40,
                 line1="Hardstrasse 201")
    found = problems(runtime)
    assert "street is missing" in found and "city is longer than 35 characters" in found
    assert any("type K" in p for p in found)


def test_a_tenant_whose_bill_would_be_refused_gets_no_bill_and_staff_hear(chat, runtime):
    set_creditor(runtime, street=None, line1="Hardstrasse 201", line2="8005 Zürich")
    renter = chat("whatsapp", ANNA)
    assert renter.say("kann ich eine QR-Rechnung haben?")[0].startswith(
        "Eine QR-Rechnung kann gerade nicht erstellt werden")
    assert any("QR-Rechnung für CR-48213 nicht möglich" in t for t in renter.staff_texts())
    with runtime.db.session() as s:
        assert s.scalar(select(Payment).where(Payment.method == "qrbill")) is None


def issued(chat, runtime, phone: str = ANNA, tenant: str = "alpenrent"):  # type: ignore[no-untyped-def]
    renter, _, bill, _ = bill_of(chat, runtime, phone, "per QR-Rechnung zahlen", tenant)
    return renter, bill


def test_camt_import_marks_the_booking_paid_once_and_tells_the_renter(chat, runtime, clock):
    renter, bill = issued(chat, runtime)
    file = camt054([Entry("BANK-1", [Tx("1234.50", bill.reference, bank_ref="TX-1")])])
    report = import_camt(runtime.db, file, clock.now())
    assert [r["booking"] for r in report["matched"]] == ["CR-48213"]
    assert [m.body for m in renter.new_replies()] == [
        "Danke! Wir haben Ihre Zahlung von CHF 1’234.50 für die Buchung CR-48213 erhalten."]
    again = import_camt(runtime.db, file, clock.now())
    assert again["matched"] == [] and [r["key"] for r in again["already_imported"]] == ["TX-1"]
    assert renter.new_replies() == []
    assert renter.say("ist alles bezahlt?")[0].startswith(
        "Buchung CR-48213: CHF 0.00 offen, CHF 1’234.50 bezahlt.\nCHF 1’234.50 bezahlt mit "
        "QR-Rechnung")


def test_partial_over_reversed_unknown_foreign_and_pending(chat, runtime, clock):
    anna, anna_bill = issued(chat, runtime)
    james, james_bill = issued(chat, runtime, "+41791234503")  # CHF 615.00, English
    first = camt054([
        Entry("B-1", [Tx("1000.00", anna_bill.reference, bank_ref="T-1"),  # a batch entry
                      Tx("700.00", james_bill.reference, bank_ref="T-2")]),
        Entry("B-2", [Tx("50.00", "RF18539007547034")]),  # a SCOR of someone else
        Entry("B-3", [Tx("80.00", None)]),  # no reference
        Entry("B-4", [Tx("100.00", anna_bill.reference)], currency="EUR"),
        Entry("B-5", [Tx("234.50", anna_bill.reference)], status="PDNG"),
    ], version="04")
    report = import_camt(runtime.db, first, clock.now())
    assert [r["key"] for r in report["partial"]] == ["T-1"]
    assert [r["key"] for r in report["overpaid"]] == ["T-2"]
    assert {r["reason"] for r in report["unmatched"]} == {
        "reference of no open bill", "no structured reference", "currency EUR: bills are in CHF"}
    assert [r["key"] for r in report["pending"]] == ["B-5/0"]
    assert [m.body for m in anna.new_replies()] == [
        "Danke! Wir haben CHF 1’000.00 für die Buchung CR-48213 erhalten. Offen sind noch "
        "CHF 234.50."]
    assert any("Überzahlung bei CR-48215: CHF 85.00 zu viel" in t for t in james.staff_texts())
    # the next file overlaps: the pending entry is booked now, and T-1 comes again
    second = camt054([Entry("B-1", [Tx("1000.00", anna_bill.reference, bank_ref="T-1")]),
                      Entry("B-5", [Tx("234.50", anna_bill.reference)])])
    report = import_camt(runtime.db, second, clock.now())
    assert [r["key"] for r in report["already_imported"]] == ["T-1"]
    assert [r["key"] for r in report["matched"]] == ["B-5/0"]
    assert anna.new_replies()[0].body.startswith("Danke! Wir haben Ihre Zahlung von CHF 1’234.50")
    # the bank takes CHF 234.50 back: the bill is open again and staff know
    reversal = camt054([Entry("B-6", [Tx("234.50", anna_bill.reference)], credit=False,
                              reversal=True)])
    assert [r["result"] for r in import_camt(runtime.db, reversal, clock.now())["reversed"]] \
        == ["reversed"]
    assert any("storniert" in t for t in anna.staff_texts())
    assert anna.say("was ist noch offen?")[0].startswith("Buchung CR-48213: CHF 234.50 offen")


def test_the_upload_endpoint_matches_only_the_tenants_own_bills(chat, runtime, clock, config,
                                                                services):
    from bot import create_app
    from handlers.api import hash_api_key

    _, alpen_bill = issued(chat, runtime)
    _, leman_bill = issued(chat, runtime, LUCA, "lemanauto")
    with runtime.db.session() as s:
        s.scalar(select(Tenant).where(Tenant.slug == "lemanauto")).api_key_hash = \
            hash_api_key("crms_leman_key_0123456789")
    client = create_app(config, services).test_client()
    file = camt054([Entry("E-1", [Tx("1234.50", alpen_bill.reference, bank_ref="U-1"),
                                  Tx("198.00", leman_bill.reference, bank_ref="U-2")])])
    answer = client.post("/api/v1/payments/camt", data=file,
                         headers={"Authorization": "Bearer crms_leman_key_0123456789",
                                  "Content-Type": "application/xml"})
    assert answer.status_code == 200
    assert [r["key"] for r in answer.json["matched"]] == ["U-2"]
    assert [r["key"] for r in answer.json["unmatched"]] == ["U-1"]  # Alpen Rent's: not theirs
    with runtime.db.session() as s:
        assert s.get(Payment, alpen_bill.id).status == "open"
    bad = client.post("/api/v1/payments/camt", data=b"<Document/>",
                      headers={"Authorization": "Bearer crms_leman_key_0123456789"})
    assert bad.status_code == 422 and "not a camt.054" in bad.get_data(as_text=True)
    assert client.post("/api/v1/payments/camt", data=file).status_code == 401


def test_the_parser_reads_no_external_entities(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    evil = camt054([Entry("X-1", [Tx("1.00", "&xxe;")])]).replace(
        b"&amp;xxe;", b"&xxe;").replace(
        b"<Document", f'<!DOCTYPE d [<!ENTITY xxe SYSTEM "file://{secret}">]><Document'.encode(), 1)
    try:
        found = parse(evil)
    except CamtError:
        return  # refused outright: fine
    assert all("TOP-SECRET" not in (t.reference or "") for t in found)


@pytest.mark.parametrize("version", ["04", "08"])
def test_both_versions_read_the_same(version):
    file = camt054([Entry("V-1", [Tx("10.00", "210000000003139471430009017", bank_ref="V-T1")]),
                    Entry("V-2", [Tx("5.00", None)], status="PDNG")], version=version)
    first, second = parse(file)
    assert (first.booked, first.credit, str(first.amount), first.reference, first.reference_type,
            first.key, str(first.booking_date)) == (
        True, True, "10.00", "210000000003139471430009017", "QRR", "V-T1", "2027-03-09")
    assert second.booked is False and second.reference is None


def test_payment_reminders_after_the_due_date_stop_when_the_money_arrives(chat, runtime, clock):
    from datetime import datetime, timedelta, timezone

    from bot.models import Reminder

    renter, bill = issued(chat, runtime)  # due ten days after today, 8 March 2027
    renter.new_replies()
    assert bill.expires_at.date().isoformat() == "2027-03-18"
    with runtime.db.session() as s:
        planned = {r.kind: r.due_at for r in s.scalars(select(Reminder).where(
            Reminder.kind.like("bill_%")))}
    assert planned == {"bill_first": datetime(2027, 3, 21, 8, 0, tzinfo=timezone.utc),
                       "bill_second": datetime(2027, 3, 28, 7, 0, tzinfo=timezone.utc),
                       "bill_final": datetime(2027, 4, 7, 7, 0, tzinfo=timezone.utc)}
    clock.set(planned["bill_first"])  # 09:00 in Zurich, three days after the due date
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        [first] = [r.payload["text"] for r in s.scalars(select(OutboxItem))
                   if r.payload.get("reminder") == "bill_first"]
    assert first.startswith("Freundliche Erinnerung: Die QR-Rechnung für die Buchung CR-48213 "
                            "war am 18.03.2027 fällig; offen sind CHF 1’234.50")
    clock.advance(days=2)
    import_camt(runtime.db, camt054([Entry("P-1", [Tx("1234.50", bill.reference)])]),
                clock.now())
    clock.set(planned["bill_second"] + timedelta(minutes=1))
    assert runtime.scheduler.run_once() == 0
    with runtime.db.session() as s:
        states = {r.kind: r.state for r in s.scalars(select(Reminder).where(
            Reminder.kind.like("bill_%")))}
    assert states == {"bill_first": "sent", "bill_second": "skipped", "bill_final": "skipped"}
