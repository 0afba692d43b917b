"""Driving licence: ask for a photo, read it (OCR in the worker), confirm, check, decide.

States: awaiting_photo -> reading (the OCR job runs) -> confirming (the renter says yes, or
what is wrong) -> accepted, or to staff (`/licence approve|reject`) when a check fails, a
field is unsure or the renter corrects a field. The photo is stored encrypted; field values
never reach the logs.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.i18n import format_day
from bot.licence_checks import LicenceReading, Problem, check
from bot.messages import FetchedMedia
from bot.models import LicenceCheck
from flows.base import Context, Flow, Turn

YES_NO = (("button.yes", "/yes"), ("button.no", "/no"))
READING_LOST_AFTER = timedelta(minutes=10)


def first_readable(turn: Turn) -> FetchedMedia | None:
    """The first downloaded photo or PDF of the turn (None data if the download failed)."""
    return next(iter(turn.attachments), None)


class LicenceFlow(Flow):
    """upload_license."""

    name = "licence"
    intents = ("upload_license",)
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Take the photo if it came with the message, else ask for one with a tip."""
        if turn.attachments:
            self.receive(ctx, turn)
            return
        ctx.goto(self.name, "awaiting_photo")
        ctx.say("licence.ask_photo")

    def on_awaiting_photo(self, ctx: Context, turn: Turn) -> bool:
        """A photo or PDF arrives."""
        if not turn.attachments:
            return False
        self.receive(ctx, turn)
        return True

    def on_reading(self, ctx: Context, turn: Turn) -> bool:
        """A message while the photo is being read: a second photo waits its turn.

        Unless the reading was lost: a worker that died long ago never answers.
        """
        if not turn.attachments:
            return False
        record = self._record(ctx)
        if record is not None and ctx.now - record.created_at < READING_LOST_AFTER:
            ctx.say("licence.still_reading")
        else:
            self.receive(ctx, turn)
        return True

    def receive(self, ctx: Context, turn: Turn) -> None:
        """Store the image encrypted and have the worker read it."""
        media = first_readable(turn)
        booking = ctx.booking
        assert booking is not None
        if media is None or media.data is None:
            ctx.goto(self.name, "awaiting_photo")
            ctx.say("input.media_failed")
            return
        record = LicenceCheck(tenant_id=ctx.tenant.id, booking_id=booking.id,
                              customer_id=booking.customer_id, status="reading",
                              image=media.data, content_type=media.content_type,
                              created_at=ctx.now)
        ctx.session.add(record)
        ctx.session.flush()
        ctx.goto(self.name, "reading", check=record.id)
        ctx.say("licence.reading")
        ctx.run_job("read_licence", record.id, ctx.conversation.id)
        ctx.audit("licence.received", "licence_check", record.id, content_type=media.content_type)

    def on_event_read(self, ctx: Context, check_id: int, reading: dict[str, Any] | None,
                      failed: bool = False) -> None:
        """The OCR job is done: show what was read, or ask for a better photo."""
        record = ctx.session.get(LicenceCheck, check_id)
        if record is None or record.tenant_id != ctx.tenant.id:
            return
        if failed:  # the reader itself broke: a person looks at the photo
            record.status = "review"
            ctx.finish()
            ctx.say("licence.review")
            ctx.notify_staff("staff.licence_check_failed", check=record.id,
                             ref=ctx.booking.ref if ctx.booking else "-", reasons="ocr_failed")
            return
        result = LicenceReading.from_json(reading) if reading else None
        if result is None or not result.is_licence:
            record.status = "not_a_licence"
            ctx.goto(self.name, "awaiting_photo")
            ctx.say("licence.not_readable")
            return
        record.reading = json.dumps(reading)
        record.fields = {"confidence": result.confidence}  # how sure, never the values
        record.status = "confirming"
        ctx.goto(self.name, "confirming", check=check_id)
        language = ctx.language
        day = lambda d: format_day(d, language) if d else "?"  # noqa: E731
        ctx.say("licence.confirm", buttons=YES_NO, surname=result.surname or "?",
                given=result.given_names or "?", birth=day(result.birth_date),
                expiry=day(result.expiry_date), number=result.licence_number or "?",
                categories=" ".join(result.categories) or "?")

    def on_confirming(self, ctx: Context, turn: Turn) -> bool:
        """Yes: check against the booking. No: ask what is wrong. A new photo: read it."""
        if turn.attachments:
            self.receive(ctx, turn)
            return True
        if turn.intent == "affirm":
            self.decide(ctx)
            return True
        if turn.intent == "deny":
            ctx.goto(self.name, "correcting", check=ctx.flow_data("check"))
            ctx.say("licence.correct_ask")
            return True
        return False

    def on_correcting(self, ctx: Context, turn: Turn) -> bool:
        """The renter's correction goes to staff with the photo; or a new photo is read."""
        if turn.attachments:
            self.receive(ctx, turn)
            return True
        record = self._record(ctx)
        if record is None or not turn.text.strip():
            return False
        record.status = "review"
        record.problems = [*(record.problems or []), "renter corrected the fields"]
        ctx.finish()
        ctx.say("licence.review")
        ctx.notify_staff("staff.licence_corrected", check=record.id, text=turn.text[:300],
                         ref=ctx.booking.ref if ctx.booking else "-")
        ctx.audit("licence.corrected", "licence_check", record.id)
        return True

    def _record(self, ctx: Context) -> LicenceCheck | None:
        record = ctx.session.get(LicenceCheck, ctx.flow_data("check") or 0)
        return record if record is not None and record.tenant_id == ctx.tenant.id else None

    def decide(self, ctx: Context) -> None:
        """The confirmed fields against the booking: accepted, or why not and to whom."""
        record, booking = self._record(ctx), ctx.booking
        if record is None or booking is None or not record.reading:
            ctx.finish()
            return
        problems = check(LicenceReading.from_json(json.loads(record.reading)), booking,
                         ctx.tenant)
        ctx.finish()
        if not problems:
            record.status, record.decided_at, record.problems = "accepted", ctx.now, []
            ctx.say("licence.accepted", ref=booking.ref)
            ctx.audit("licence.accepted", "licence_check", record.id)
            return
        record.problems = [p.code for p in problems]
        for problem in problems:
            ctx.say(problem.renter_key, **_shown(problem, ctx.language))
        if any(p.needs_staff for p in problems):
            record.status = "review"
            ctx.say("licence.review")
            ctx.notify_staff("staff.licence_check_failed", check=record.id, ref=booking.ref,
                             reasons=", ".join(p.code for p in problems))
        else:
            record.status = "not_a_licence"
            ctx.goto(self.name, "awaiting_photo")
        ctx.audit("licence.failed", "licence_check", record.id,
                  problems=[p.code for p in problems])


def _shown(problem: Problem, language: str) -> dict[str, Any]:
    """A problem's parameters as the renter reads them (dates in their language)."""
    from datetime import date

    return {k: format_day(v, language) if isinstance(v, date) else v
            for k, v in problem.params.items()}

