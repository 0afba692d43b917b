"""The licence flow with the real OCR: photo, 'reading…', the fields to confirm, the checks."""

import random
from datetime import date

import pytest
from sqlalchemy import select

import bot.jobs
from bot.messages import Media
from bot.models import AuditLog, LicenceCheck
from bot.sample_licences import Truth, jpeg, photograph, render_card

ANNA = "+41791234501"  # booking CR-48213, Anna Müller, born 12.03.1990, returns 14.03.2027
ANNAS = Truth("MÜLLER", "ANNA", date(1990, 3, 12), date(2015, 5, 15), date(2030, 5, 15),
              "STVA ZH", "ZH123456", ("B",), "ZÜRICH")


@pytest.fixture
def renter(chat, runtime, services):  # type: ignore[no-untyped-def]
    # the OCR job runs at once here (in `serve` it runs on a worker thread, under RQ a worker)
    runtime.engine.run_job = lambda name, *args: getattr(bot.jobs, name)(*args, rt=runtime)
    anna = chat("whatsapp", ANNA)
    anna.media = services.channels["whatsapp"].media
    return anna


def photo_of(truth: Truth, seed: int) -> bytes:
    return jpeg(photograph(render_card(truth), random.Random(seed)))


def send_photo(renter, data: bytes, url: str = "https://media/licence") -> list[str]:  # type: ignore[no-untyped-def]
    renter.media[url] = ("image/jpeg", data)
    return renter.say("", media=(Media(url, "image/jpeg"),))


def check_of(runtime) -> LicenceCheck:  # type: ignore[no-untyped-def]
    with runtime.db.session() as s:
        return s.scalars(select(LicenceCheck).order_by(LicenceCheck.id.desc())).first()


def test_a_clear_photo_is_read_confirmed_and_accepted(renter, runtime):
    reading, confirm = send_photo(renter, photo_of(ANNAS, seed=2))
    assert reading.startswith("Danke! Ich lese Ihren Führerausweis")
    assert "1. Name: MÜLLER" in confirm and "2. Vorname: ANNA" in confirm
    assert "3. Geburtsdatum: 12.03.1990" in confirm and "4b. Gültig bis: 15.05.2030" in confirm
    assert "5. Nummer: ZH123456" in confirm and "9. Kategorien: B" in confirm
    assert renter.say("/yes") == [
        "Ihr Führerausweis passt zur Buchung CR-48213. Bei der Abholung müssen Sie ihn nur noch "
        "kurz vorzeigen."]
    record = check_of(runtime)
    assert record.status == "accepted" and record.decided_at is not None
    assert "ZH123456" not in str(record.fields)  # only confidences in the clear
    with runtime.db.session() as s:  # audit entries hold no field values
        details = [str(a.details) for a in s.scalars(select(AuditLog))]
        assert not any("ZH123456" in d or "MÜLLER" in d for d in details)


def test_someone_elses_licence_goes_to_staff_with_the_reason(renter, runtime):
    other = Truth("MEIER", "PETER HANS", date(1980, 1, 5), date(2015, 5, 15),
                  date(2030, 5, 15), "STVA ZH", "ZH654321", ("B",))
    send_photo(renter, photo_of(other, seed=2))
    replies = renter.say("ja")
    assert replies[0].startswith("Der Name auf dem Ausweis (PETER HANS MEIER")
    assert replies[-1] == "Eine Person aus unserem Team prüft Ihren Führerausweis und meldet sich hier."
    assert check_of(runtime).status == "review"
    assert any("name_mismatch" in t for t in renter.staff_texts())


def test_a_correction_goes_to_staff(renter, runtime):
    send_photo(renter, photo_of(ANNAS, seed=2))
    assert "Was stimmt nicht?" in renter.say("/no")[0]
    assert "prüft Ihren Führerausweis" in renter.say("Geburtsdatum ist 13.03.1990")[0]
    assert any("Geburtsdatum ist 13.03.1990" in t for t in renter.staff_texts())
    assert check_of(runtime).status == "review"


def test_a_picture_that_is_no_licence_is_asked_again(renter, runtime):
    from bot.sample_licences import not_a_licence

    reading, again = send_photo(renter, not_a_licence(0))
    assert again.startswith("Auf diesem Bild konnte ich keinen Führerausweis lesen")
    assert check_of(runtime).status == "not_a_licence"
    assert renter.conversation.state == "awaiting_photo"


def test_the_photo_is_deleted_after_the_retention_period(renter, runtime, clock):
    send_photo(renter, photo_of(ANNAS, seed=2))
    renter.say("/yes")
    clock.advance(days=29)
    runtime.scheduler.run_once()
    assert check_of(runtime).image is not None
    clock.advance(days=2)
    runtime.scheduler.run_once()
    record = check_of(runtime)
    assert record.image is None and record.status == "accepted"  # the decision stays


def test_delete_data_erases_the_photo_and_what_was_read(renter, runtime):
    send_photo(renter, photo_of(ANNAS, seed=2))
    renter.say("/yes")
    renter.say("bitte löschen Sie meine Daten")
    renter.say("/yes")
    record = check_of(runtime)
    assert record.image is None and record.reading is None


def test_when_the_reader_breaks_a_person_checks_the_photo(renter, runtime, monkeypatch):
    def broken(_data: bytes) -> None:
        raise RuntimeError("tesseract crashed")

    monkeypatch.setattr("bot.services.ocr.read_licence", broken)
    reading, review = send_photo(renter, photo_of(ANNAS, seed=2))
    assert review == "Eine Person aus unserem Team prüft Ihren Führerausweis und meldet sich hier."
    assert check_of(runtime).status == "review" and check_of(runtime).image is not None
    assert any("ocr_failed" in t for t in renter.staff_texts())


def test_a_second_photo_while_the_first_is_read_waits(chat, services, clock):
    queued = []
    anna = chat("whatsapp", ANNA)
    anna.runtime.engine.run_job = lambda name, *args: queued.append(name)  # the worker is busy
    media = services.channels["whatsapp"].media
    media["https://media/1"] = media["https://media/2"] = ("image/jpeg", photo_of(ANNAS, 2))
    assert anna.say("", media=(Media("https://media/1", "image/jpeg"),))[0].startswith(
        "Danke! Ich lese")
    assert anna.say("", media=(Media("https://media/2", "image/jpeg"),)) == [
        "Ich lese noch das erste Foto; danach schaue ich mir gerne ein neues an."]
    assert queued == ["read_licence"]  # one reading at a time
    clock.advance(minutes=11)  # the worker died with the first: the next photo is read
    assert anna.say("", media=(Media("https://media/2", "image/jpeg"),))[0].startswith(
        "Danke! Ich lese")
    assert queued == ["read_licence", "read_licence"]
