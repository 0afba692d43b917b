"""The sandbox page: conversations of sandbox mode, and a form to write as a renter."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from bot import staff
from bot.engine import UnknownTenant
from bot.messages import InboundMessage
from bot.models import Booking, Conversation, Customer, Message, OutboxItem, Payment, Tenant
from bot.payment_events import receive, sandbox_event, sign, verify
from bot.payments import return_token
from bot.sms import segments

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")
CHANNELS = ("whatsapp", "sms", "telegram")
CLOCK_STEP_MINUTES = 15


@bp.before_request
def only_in_sandbox_mode() -> None:
    """404 when real providers are configured, unless CRMS_SANDBOX=1.

    Then only with a login: HTTP Basic, any user name, the password CRMS_SANDBOX_PASSWORD
    (without a password set: 404).
    """
    import hmac

    config = current_app.extensions["crms"].config
    if not config.sandbox_page_enabled:
        abort(404)
    if config.sandbox_needs_login:
        if not config.sandbox_password:
            abort(404)
        auth = request.authorization
        given = (auth.password or "") if auth is not None else ""
        if not hmac.compare_digest(given.encode(), config.sandbox_password.encode()):
            abort(Response("the sandbox needs a login", 401,
                           {"WWW-Authenticate": 'Basic realm="CRMS sandbox"'}))


@bp.get("")
def index():  # type: ignore[no-untyped-def]
    """Tenants, conversations and the selected transcript."""
    runtime = current_app.extensions["crms"]
    selected = request.args.get("conv", type=int)
    with runtime.db.session() as s:
        tenants = list(s.scalars(select(Tenant).order_by(Tenant.id)))
        convs = list(s.scalars(select(Conversation).order_by(
            Conversation.last_inbound_at.desc().nulls_last(), Conversation.id.desc()).limit(100)))
        transcript = list(s.scalars(select(Message).where(
            Message.conversation_id == selected).order_by(Message.id))) if selected else []
        staff = list(s.scalars(select(OutboxItem).where(OutboxItem.channel == "staff")
                               .order_by(OutboxItem.id.desc()).limit(30)))
        tenant_by_id = {t.id: t for t in tenants}
        current = next((c for c in convs if c.id == selected), None)
        renters = [(c.phone, f"{c.name} · {tenant_by_id[c.tenant_id].slug} · {c.language}")
                   for c in s.scalars(select(Customer).where(
                       Customer.id.in_(select(Booking.customer_id)), Customer.phone.is_not(None),
                       Customer.erased_at.is_(None)).order_by(Customer.tenant_id, Customer.id)
                       .limit(50))]
        return render_template("sandbox/index.html", tenants=tenants, convs=convs,
                               selected=selected, transcript=transcript, staff=staff,
                               tenant_by_id=tenant_by_id, channels=CHANNELS, current=current,
                               renters=renters,
                               now=runtime.services.clock.now(), documents=documents_in,
                               segments=segments, notice=request.args.get("bank") or (
                                   f"clock moved: {request.args['fired']} message(s) fired"
                                   if "fired" in request.args else None))


def documents_in(message: Message) -> list[str]:
    """The document links a message carries: media on WhatsApp and Telegram, a link by SMS."""
    import re

    urls = list((message.payload or {}).get("media_urls") or [])
    return urls + [u for u in re.findall(r"https?://\S+/d/[\w-]+", message.body or "")
                   if u not in urls]


@bp.post("/send")
def send():  # type: ignore[no-untyped-def]
    """Write a message as a renter; the reply appears on the page when the worker has sent it."""
    runtime = current_app.extensions["crms"]
    form = request.form
    if form.get("channel") not in CHANNELS:
        abort(400, description="channel must be whatsapp, sms or telegram")
    return _as_renter(runtime, form)


@bp.post("/upload")
def upload():  # type: ignore[no-untyped-def]
    """Send a photo or PDF as a renter.

    A file from disk, or a synthetic licence photo of the renter whose phone is given (or a
    photo that is no licence).
    """
    from bot.channels.sandbox import MAX_MEDIA_BYTES, SandboxAdapter
    from bot.messages import Media

    runtime = current_app.extensions["crms"]
    form = request.form
    if form.get("channel") not in CHANNELS:
        abort(400, description="channel must be whatsapp, sms or telegram")
    sample = form.get("sample")
    if sample:
        content_type, data = "image/jpeg", _sample_photo(runtime, form, sample)
    else:
        file = request.files.get("file")
        if file is None or not file.filename:
            abort(400, description="choose a file, or one of the sample photos")
        data = file.read(MAX_MEDIA_BYTES + 1)
        if len(data) > MAX_MEDIA_BYTES:
            abort(413, description="files up to 10 MB")
        content_type = file.mimetype or "application/octet-stream"
    url = SandboxAdapter.keep_upload(content_type, data)
    return _as_renter(runtime, form, (Media(url, content_type),))


def _as_renter(runtime, form, media: tuple = ()):  # type: ignore[no-untyped-def]
    """Receive the form's message (and media) as the renter's; show the conversation."""
    inbound = InboundMessage(channel=form["channel"], sender=form.get("sender", "").strip(),
                             text=form.get("text", ""), provider_id=f"sbx-{uuid.uuid4().hex}",
                             tenant_slug=form.get("tenant") or None, media=media)
    try:
        receipt = runtime.engine.receive(inbound)
    except UnknownTenant:
        abort(400, description="unknown tenant")
    except ValueError as exc:
        abort(400, description=str(exc))
    runtime.work.enqueue_conversation(receipt.conversation_id)
    return redirect(url_for("sandbox.index", conv=receipt.conversation_id))


def _sample_photo(runtime, form, sample: str) -> bytes:  # type: ignore[no-untyped-def]
    """A synthetic phone photo: the licence of the booking's renter, or something else."""
    import random
    from datetime import date, timedelta

    from bot.repository import customers_by_phone, normalise_phone, tenant_by_slug
    from bot.sample_licences import Truth, jpeg, not_a_licence, photograph, render_card

    if sample != "licence":
        return not_a_licence(random.randrange(1000))
    with runtime.db.session() as s:
        tenant = tenant_by_slug(s, form.get("tenant") or "")
        phone = normalise_phone(form.get("sender", ""))
        customers = customers_by_phone(s, tenant.id, phone) if tenant and phone else []
        if not customers or not customers[0].name or not customers[0].birth_date:
            abort(400, description="a sample licence needs the phone of a renter with a booking")
        given, _, surname = customers[0].name.upper().rpartition(" ")
        today = runtime.services.clock.now().date()
        truth = Truth(surname, given or surname, date.fromisoformat(str(customers[0].birth_date)),
                      today - timedelta(days=3 * 365), today + timedelta(days=6 * 365),
                      "STVA ZH", f"ZH{(phone or '')[-6:]}", ("B",), "ZÜRICH")
    return jpeg(photograph(render_card(truth), random.Random(2)))  # a photo that reads well


@bp.post("/clock")
def clock():  # type: ignore[no-untyped-def]
    """Move the simulated time forward and fire what falls due (reminders), sandbox only."""
    runtime = current_app.extensions["crms"]
    try:
        hours = float(request.form.get("hours", "0"))
    except ValueError:
        abort(400, description="hours must be a number")
    if not 0 < hours <= 24 * 14:
        abort(400, description="move the clock forward by up to 14 days")
    services_clock = runtime.services.clock
    if not hasattr(services_clock, "offset_seconds") and not hasattr(services_clock, "advance"):
        abort(409, description="this clock cannot be moved")
    fired, left = 0, hours * 60
    while left > 0:  # the scheduler ticks every quarter hour on the way, as it would have
        step = min(CLOCK_STEP_MINUTES, left)
        if hasattr(services_clock, "offset_seconds"):
            services_clock.offset_seconds += step * 60
        else:
            services_clock.advance(minutes=step)
        fired += runtime.scheduler.run_once()
        left -= step
    runtime.work.wake_outbox()
    return redirect(url_for("sandbox.index", conv=request.form.get("conv", type=int),
                            fired=fired))


@bp.post("/bank")
def bank():  # type: ignore[no-untyped-def]
    """The bank pays every open QR-bill: a camt.054 file is built and imported, as a bank's."""
    from bot.billing import import_camt, received
    from bot.sample_camt import Entry, Tx, camt054

    runtime = current_app.extensions["crms"]
    now = runtime.services.clock.now()
    with runtime.db.session() as s:
        bills = list(s.scalars(select(Payment).where(Payment.method == "qrbill",
                                                     Payment.status == "open")))
        txs = [Tx(str(Decimal(b.amount_chf) - received(s, b)), b.reference,
                  bank_ref=f"SBX-{uuid.uuid4().hex[:12]}") for b in bills]
    if not txs:
        return redirect(url_for("sandbox.index", conv=request.form.get("conv", type=int),
                                bank="no open QR-bill"))
    day = now.date().isoformat()
    report = import_camt(runtime.db, camt054([Entry(f"SBX-{uuid.uuid4().hex[:8]}", txs,
                                                    day=day)]), now)
    runtime.work.wake_outbox()
    return redirect(url_for("sandbox.index", conv=request.form.get("conv", type=int),
                            bank=f"{len(report['matched'])} QR-bill(s) paid"))


@bp.get("/staff")
def staff_desk():  # type: ignore[no-untyped-def]
    """The staff group as the sandbox shows it: escalated conversations, one 'topic' each."""
    runtime = current_app.extensions["crms"]
    selected = request.args.get("conv", type=int)
    with runtime.db.session() as s:
        tenants = {t.id: t for t in s.scalars(select(Tenant))}
        convs = list(s.scalars(select(Conversation).where(
            Conversation.escalated_at.is_not(None) | Conversation.staff_mode.is_(True)
            | Conversation.staff_topic_id.is_not(None)
            | Conversation.id.in_(select(OutboxItem.conversation_id)
                                  .where(OutboxItem.channel == "staff")))
            .order_by(Conversation.urgent.desc(), Conversation.escalated_at.desc().nulls_last(),
                      Conversation.id.desc()).limit(100)))
        if selected is None and convs:
            selected = convs[0].id
        topic = list(s.scalars(select(OutboxItem).where(
            OutboxItem.channel == "staff", OutboxItem.conversation_id == selected)
            .order_by(OutboxItem.id))) if selected else []
        transcript = list(s.scalars(select(Message).where(
            Message.conversation_id == selected).order_by(Message.id))) if selected else []
        current = next((c for c in convs if c.id == selected), None)
        return render_template("sandbox/staff.html", convs=convs, tenants=tenants,
                               selected=selected, current=current, topic=topic,
                               transcript=transcript)


@bp.post("/staff/<int:conv_id>")
def staff_write(conv_id: int):  # type: ignore[no-untyped-def]
    """Write in a renter's topic as staff: a reply to the renter, or a command."""
    runtime = current_app.extensions["crms"]
    text = request.form.get("text", "").strip()
    author = request.form.get("author", "").strip()[:100] or "Staff"
    if not text:
        abort(400, description="write a reply or a command")
    with runtime.db.session() as s:
        conv = s.get(Conversation, conv_id)
        if conv is None:
            abort(404, description="no such conversation")
        tenant_id = conv.tenant_id
    staff.act(runtime.db, runtime.services.clock.now(),
              staff.StaffInput(tenant_id, text, author, conversation_id=conv_id),
              run_job=runtime.work.enqueue_job)
    runtime.work.wake_outbox()
    return redirect(url_for("sandbox.staff_desk", conv=conv_id, author=author))


def _payment(s, ref: str) -> Payment:  # type: ignore[no-untyped-def]
    payment = s.scalar(select(Payment).where(Payment.provider_ref == ref,
                                             Payment.method == "sandbox"))
    if payment is None:
        abort(404, description="no such sandbox payment")
    return payment  # type: ignore[no-any-return]


ACTIONS = {"rental": ("card", "twint", "fail", "abandon"), "deposit": ("hold", "fail", "abandon")}


@bp.get("/pay/<ref>")
def pay_page(ref: str):  # type: ignore[no-untyped-def]
    """The sandbox checkout a payment link opens: pay (card, TWINT), hold, fail or abandon."""
    runtime = current_app.extensions["crms"]
    with runtime.db.session() as s:
        payment = _payment(s, ref)
        booking = s.get(Booking, payment.booking_id)
        return render_template("sandbox/pay.html", payment=payment, booking=booking,
                               actions=ACTIONS[payment.kind],
                               expired=bool(payment.expires_at
                                            and payment.expires_at <= runtime.services.clock.now()))


@bp.post("/pay/<ref>")
def pay_submit(ref: str):  # type: ignore[no-untyped-def]
    """Act on the sandbox checkout; the renter is told in chat.

    Stripe's event is made, signed and taken by the same code as a real webhook.
    """
    runtime = current_app.extensions["crms"]
    action = request.form.get("action", "")
    now = runtime.services.clock.now()
    with runtime.db.session() as s:
        payment = _payment(s, ref)
        if action not in ACTIONS[payment.kind]:
            abort(400, description="action must be one of " + ", ".join(ACTIONS[payment.kind]))
        if payment.expires_at and payment.expires_at <= now:
            abort(410, description="this payment link has expired; ask the bot for a new one")
        booking = s.get(Booking, payment.booking_id)
        customer = s.get(Customer, booking.customer_id) if booking else None
        language = (customer.language if customer else None) or "de"
        token = return_token(payment.id)
        event = None if action == "abandon" else sandbox_event(payment, action, now)
    if action == "abandon":  # Stripe sends the renter to the cancel page; nothing is recorded
        return redirect(url_for("pay_pages.returned", token=token, result="cancelled",
                                lang=language))
    secret = runtime.config.stripe_webhook_key()
    payload = json.dumps(event).encode()
    outcome = receive(runtime.db, verify(payload, sign(payload, secret), secret), now)
    runtime.work.wake_outbox()
    if action == "fail" or outcome not in ("applied", "unchanged", "duplicate"):
        return redirect(url_for("sandbox.pay_page", ref=ref))
    return redirect(url_for("pay_pages.returned", token=token, result="done", lang=language))
