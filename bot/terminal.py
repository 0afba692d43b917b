"""`crms-bot chat`: the renter's side of a conversation in the terminal."""

from __future__ import annotations

import uuid
from typing import IO

import click
from sqlalchemy import func, select

from bot.logging_setup import mask
from bot.messages import InboundMessage
from bot.models import OutboxItem, Tenant
from bot.runtime import Runtime


class TerminalChat:
    """Sends each line as a renter's message and prints what the bot sends back."""

    def __init__(self, runtime: Runtime, channel: str, sender: str, to: str | None) -> None:
        self.runtime = runtime
        self.channel = channel
        self.sender = sender
        self.slug, self.number = self._tenant(to)
        with runtime.db.session() as s:
            self.last_outbox = s.scalar(select(func.coalesce(func.max(OutboxItem.id), 0))) or 0

    def _tenant(self, to: str | None) -> tuple[str | None, str | None]:
        with self.runtime.db.session() as s:
            if to and not to.startswith("+"):
                return to, None
            if to:
                return None, to
            tenant = s.scalar(select(Tenant).order_by(Tenant.id).limit(1))
            if tenant is None:
                raise click.ClickException("no tenant: run `crms-bot demo-data` first")
            return tenant.slug, None

    def run(self, stream: IO[str], interactive: bool) -> None:
        """Read lines until end of input."""
        if interactive:
            click.echo(f"Chatting on {self.channel} as {self.sender}; Ctrl-D to end.")
        while True:
            if interactive:
                click.echo("you> ", nl=False)
            line = stream.readline()
            if not line:
                break
            self.say(line.rstrip("\n"))

    def say(self, text: str) -> None:
        """Send one message and print the replies."""
        inbound = InboundMessage(channel=self.channel, sender=self.sender, text=text,
                                 provider_id=f"cli-{uuid.uuid4().hex}", tenant_slug=self.slug,
                                 to=self.number)
        try:
            self.runtime.engine.handle(inbound)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        self._print_new()
        self.runtime.relay.run_once()

    def _print_new(self) -> None:
        with self.runtime.db.session() as s:
            rows = list(s.scalars(select(OutboxItem).where(OutboxItem.id > self.last_outbox)
                                  .order_by(OutboxItem.id)))
            for row in rows:
                self.last_outbox = row.id
                text = (row.payload or {}).get("text", "")
                buttons = " ".join(f"[{t}]" for t, _ in (row.payload or {}).get("buttons") or [])
                if row.channel == "staff":
                    click.echo(f"  (to staff) {text}")
                elif row.address != self._own_address(row):
                    click.echo(f"  ({row.channel} to {mask(row.address)}) {text}")
                else:
                    click.echo(f"bot> {text}" + (f"\n     {buttons}" if buttons else ""))

    def _own_address(self, row: OutboxItem) -> str:
        from bot.repository import normalise_phone

        if self.channel in ("sms", "whatsapp"):
            return normalise_phone(self.sender) or self.sender
        return self.sender
