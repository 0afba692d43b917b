"""Erase my data: confirm, erase personal data, keep bookings anonymised, audit.

States: awaiting_confirmation -> erased (conversation closed) or kept.
"""

from __future__ import annotations

from sqlalchemy import select, update

from bot import crypto
from bot.models import Conversation, Customer, LicenceCheck, Message, OutboxItem
from flows.base import Context, Flow, Turn

ERASED = "[erased]"


class DeleteDataFlow(Flow):
    """delete_data."""

    name = "delete_data"
    intents = ("delete_data",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Ask for confirmation: erasure cannot be undone."""
        ctx.goto(self.name, "awaiting_confirmation")
        ctx.say("privacy.confirm_delete",
                buttons=(("button.erase", "/yes"), ("button.keep", "/no")))

    def on_awaiting_confirmation(self, ctx: Context, turn: Turn) -> bool:
        """Erase on yes, keep on no."""
        if turn.intent not in ("affirm", "deny"):
            return False
        ctx.finish()
        if turn.intent == "deny":
            ctx.say("privacy.kept")
            return True
        erase_personal_data(ctx)
        ctx.say("privacy.deleted")
        return True


def erase_personal_data(ctx: Context) -> None:
    """Erase the renter's personal data in this tenant; bookings stay, without a name."""
    conv = ctx.conversation
    tenant_id = ctx.tenant.id
    customer_id = conv.customer_id
    conv_ids = [conv.id]
    if customer_id is not None:
        conv_ids += list(ctx.session.scalars(select(Conversation.id).where(
            Conversation.tenant_id == tenant_id, Conversation.customer_id == customer_id)))
        ctx.session.execute(update(Customer).where(
            Customer.id == customer_id, Customer.tenant_id == tenant_id,
        ).values(name=None, phone=None, phone_hash=None, email=None, birth_date=None,
                 address=None, opted_out=True, erased_at=ctx.now))
        ctx.session.execute(update(LicenceCheck).where(
            LicenceCheck.customer_id == customer_id, LicenceCheck.tenant_id == tenant_id,
        ).values(image=None, fields={}, reading=None))
    ctx.session.execute(update(Message).where(
        Message.conversation_id.in_(conv_ids), Message.tenant_id == tenant_id,
    ).values(body=ERASED, payload={}))
    # Replies still waiting (the confirmation itself is written after this) may go out;
    # delivered ones keep only their status.
    ctx.session.execute(update(OutboxItem).where(
        OutboxItem.conversation_id.in_(conv_ids), OutboxItem.state != "pending",
    ).values(payload={"erased": True}))
    for other in ctx.session.scalars(select(Conversation).where(Conversation.id.in_(conv_ids))):
        other.verified = False
        other.customer_id = None
        other.booking_id = None
        other.data = {"opted_out": True, "erased": True}
    ctx.audit("privacy.erased", "customer", customer_id,
              conversations=sorted(set(conv_ids)))
    crypto.forget()  # no decrypted copy of what was erased stays in memory
