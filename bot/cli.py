"""crms-bot: the command line (contracts in DESIGN.md)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

import click

from bot.config import Config
from bot.queues import QUEUES

log = logging.getLogger("crms.cli")
WEB_THREADS = 3  # requests handled at once by `serve` (webhooks answer in milliseconds)


def _runtime():  # type: ignore[no-untyped-def]
    from bot.logging_setup import configure_logging
    from bot.runtime import build_runtime

    configure_logging(logging.WARNING)
    return build_runtime(Config.from_env())


@click.group()
def main() -> None:
    """CRMS Chat: WhatsApp, SMS and Telegram for Swiss car rental."""


@main.command()
@click.option("--port", default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="log every HTTP request")
def serve(port: int, host: str, access_log: bool) -> None:
    """Web, worker and scheduler (embedded when no Redis is set).

    Granian serves HTTP: its Rust side parses requests and handles the sockets without the
    GIL, and one process of it runs the app (`bot.wsgi:app`), whose threads are the embedded
    worker and scheduler. With Redis, RQ workers and the scheduler run beside it.
    """
    import subprocess

    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    if not os.environ.get("CRMS_PUBLIC_URL"):  # links in messages (and workers') point here
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        os.environ["CRMS_PUBLIC_URL"] = f"http://{shown}:{port}"
    children = []
    if Config.from_env().redis_url:
        for part in ("worker", "scheduler"):
            children.append(subprocess.Popen([sys.executable, "-m", "bot.cli", part],
                                             preexec_fn=_die_with_parent))
    server = Server("bot.wsgi:app", address=host, port=port, interface=Interfaces.WSGI,
                    workers=1, blocking_threads=WEB_THREADS, websockets=False,
                    log_access=access_log, log_level=LogLevels.info)
    try:
        server.serve()  # until SIGTERM or Ctrl-C
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when `serve` dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@main.command()
@click.option("--queues", default=",".join(QUEUES), show_default=True,
              help="RQ queues to take jobs from, the first first: 'crms' answers renters and "
                   "delivers replies, 'crms-slow' reads licence photos, makes QR-bills and payment links")
def worker(queues: str) -> None:
    """Process inbound messages and deliver the outbox (RQ with Redis, a loop without)."""
    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if unknown or not names:
        raise click.BadParameter(f"unknown queue {', '.join(unknown) or '(none)'}; "
                                 f"the queues are {', '.join(QUEUES)}", param_hint="--queues")
    runtime = _runtime()
    if runtime.redis is None:
        click.echo("no CRMS_REDIS_URL: running the embedded delivery loop", err=True)
        runtime.work.delivery_loop()
        return
    from rq import SimpleWorker

    import bot.jobs

    runtime.warm_up_nlu()
    # Jobs run in this process (no fork per job), on the runtime built once here.
    bot.jobs.set_runtime(runtime)
    SimpleWorker(names, connection=runtime.redis).work(with_scheduler=False)


@main.command()
@click.option("--every", default=5.0, show_default=True, help="seconds between ticks")
def scheduler(every: float) -> None:
    """Fire due reminders and retry the outbox; one leader when Redis is set."""
    import time

    from bot.locks import Leadership

    runtime = _runtime()
    leadership = None if runtime.redis is None else Leadership(
        runtime.redis, "scheduler", runtime.relay.worker_id, ttl_seconds=max(10.0, every * 3))
    last_recovery = 0.0
    while True:
        try:
            if leadership is None or leadership.lead():  # without Redis it is alone
                fired = runtime.scheduler.run_once()
                if runtime.redis is not None:
                    runtime.work.wake_outbox()
                    if time.monotonic() - last_recovery > 60:  # messages a dead worker held
                        runtime.work.recover_inbound(runtime.services.clock.now())
                        last_recovery = time.monotonic()
                elif fired:
                    runtime.relay.run_once()
        except Exception:  # noqa: BLE001 - Redis or the database away: the next tick tries again
            log.exception("scheduler tick failed; trying again in %s s", every)
        time.sleep(every)


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Run migrations up to head."""
    runtime = _runtime()
    runtime.db.upgrade()
    click.echo("database is up to date", err=True)


@main.command("demo-data")
@click.option("--if-empty", is_flag=True, help="only when no tenant exists yet")
def demo_data(if_empty: bool) -> None:
    """Load two demo tenants with bookings; print them as JSON."""
    from sqlalchemy import func, select

    from bot.demo import load_demo_data
    from bot.models import Tenant

    runtime = _runtime()
    with runtime.db.session() as s:
        if if_empty and s.scalar(select(func.count()).select_from(Tenant)):
            click.echo("demo data already present", err=True)
            return
        result = load_demo_data(s, runtime.services.clock.now())
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@main.command()
@click.option("--channel", type=click.Choice(["whatsapp", "sms", "telegram"]), required=True)
@click.option("--from", "sender", required=True, help="renter's phone (E.164) or Telegram chat id")
@click.option("--to", "to", default=None, help="tenant's number or slug (default: first tenant)")
def chat(channel: str, sender: str, to: str | None) -> None:
    """Talk to the bot in the terminal (interactive, or lines from a pipe)."""
    from bot.terminal import TerminalChat

    TerminalChat(_runtime(), channel, sender, to).run(sys.stdin, interactive=sys.stdin.isatty())


@main.group()
def nlu() -> None:
    """Natural-language understanding."""


@nlu.command("parse")
@click.argument("text", required=False)
@click.option("--jsonl", is_flag=True, help="read lines (text or {\"text\": ...}) from stdin")
def nlu_parse(text: str | None, jsonl: bool) -> None:
    """Intent, confidence, language and entities as JSON."""
    from nlu.backend import make_parser

    parser = make_parser(Config.from_env())
    if not jsonl:
        if text is None:
            raise click.UsageError("give TEXT or --jsonl")
        click.echo(json.dumps(parser.parse(text).as_json(), ensure_ascii=False))
        return
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            value = item.get("text", "") if isinstance(item, dict) else line
        except json.JSONDecodeError:
            value = line
        click.echo(json.dumps(parser.parse(str(value)).as_json(), ensure_ascii=False))


@nlu.command("export-rasa")
@click.argument("directory", type=click.Path(file_okay=False))
def nlu_export_rasa(directory: str) -> None:
    """Write a Rasa project (config, domain, data) from nlu/data, for `rasa train nlu`."""
    from pathlib import Path

    from nlu.rasa_export import export

    for path in export(Path(directory)):
        click.echo(str(path))


@nlu.command("evaluate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def nlu_evaluate(path: str, as_json: bool) -> None:
    """Accuracy per intent and per language on a labelled JSONL file."""
    from nlu.backend import make_parser
    from nlu.evaluate import evaluate, format_report

    report = evaluate(make_parser(Config.from_env()), path)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_report(report))


@main.group()
def company() -> None:
    """Tenant (rental company) administration."""


@company.command("api-key")
@click.argument("slug")
def company_api_key(slug: str) -> None:
    """Issue a new booking-API key for a tenant (the old one stops working); printed once."""
    import secrets

    from bot.repository import tenant_by_slug
    from handlers.api import hash_api_key

    runtime = _runtime()
    key = f"crms_{slug}_{secrets.token_urlsafe(32)}"
    with runtime.db.session() as s:
        tenant = tenant_by_slug(s, slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        tenant.api_key_hash = hash_api_key(key)
    click.echo(key)


@company.command("set")
@click.argument("slug")
@click.option("--telegram-token", default=None, help="the tenant's bot token from @BotFather")
@click.option("--staff-chat-id", default=None,
              help="the staff group's chat id (a supergroup with topics, the bot an admin)")
@click.option("--setting", "settings", multiple=True, metavar="KEY=JSON",
              help="a tenant setting, e.g. emergency_phone='\"+41 44 555 01 99\"', "
                   "staff_user_ids='[4242]', staff_reannounce_minutes=10")
def company_set(slug: str, telegram_token: str | None, staff_chat_id: str | None,
                settings: tuple[str, ...]) -> None:
    """Configure a tenant's Telegram bot, staff group and settings."""
    from bot.repository import tenant_by_slug

    parsed: dict[str, object] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write KEY=JSON", param_hint="--setting")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw  # a plain string
    if staff_chat_id is not None and not staff_chat_id.lstrip("-").isdigit():
        raise click.BadParameter("a Telegram chat id is a number, e.g. -1001234567890",
                                 param_hint="--staff-chat-id")
    runtime = _runtime()
    with runtime.db.session() as s:
        tenant = tenant_by_slug(s, slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        if telegram_token is not None:
            import secrets

            tenant.telegram_bot_token = telegram_token or None
            tenant.telegram_webhook_secret = tenant.telegram_webhook_secret \
                or secrets.token_urlsafe(32)
        if staff_chat_id is not None:
            tenant.staff_chat_id = staff_chat_id
        if parsed:
            tenant.settings = {**(tenant.settings or {}), **parsed}
    click.echo(f"{slug} updated", err=True)


@company.command("check")
@click.argument("slug", required=False)
def company_check(slug: str | None) -> None:
    """Say, in words, what stops a tenant from going live (QR-bill creditor data first)."""
    from sqlalchemy import select

    from bot.models import Tenant
    from bot.qrbills import creditor_problems, is_qr_iban

    runtime = _runtime()
    failed = False
    with runtime.db.session() as s:
        query = select(Tenant).order_by(Tenant.id)
        tenants = list(s.scalars(query.where(Tenant.slug == slug) if slug else query))
        if not tenants:
            raise click.ClickException(f"no tenant {slug!r}" if slug else "no tenants")
        for tenant in tenants:
            problems = creditor_problems(tenant)
            failed = failed or bool(problems)
            if problems:
                click.echo(f"{tenant.slug}: not ready for QR-bills")
                for problem in problems:
                    click.echo(f"  - {problem}")
            else:
                iban = (tenant.setting("qr_creditor") or {}).get("iban", "")
                kind = "QR-IBAN, QRR references" if is_qr_iban(iban) else \
                    "IBAN, creditor references (RF)"
                click.echo(f"{tenant.slug}: QR-bill creditor ok ({kind})")
    if failed:
        sys.exit(1)


@main.command("qrbill")
@click.argument("booking_ref")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="where to write the PDF")
@click.option("--tenant", "slug", default=None, help="the tenant, when references repeat")
@click.option("--language", default=None, help="de, fr, it or en (default: the renter's)")
def qrbill(booking_ref: str, out: str, slug: str | None, language: str | None) -> None:
    """The QR-bill (A4 invoice with payment part) for a booking's open amount."""
    from pathlib import Path

    from sqlalchemy import select

    from bot.billing import bill_pdf, issue_bill
    from bot.models import Booking, Customer, Tenant
    from bot.qrbills import QrBillError

    runtime = _runtime()
    now = runtime.services.clock.now()
    with runtime.db.session() as s:
        query = select(Booking).where(Booking.ref == booking_ref.upper())
        if slug:
            query = query.join(Tenant, Tenant.id == Booking.tenant_id).where(Tenant.slug == slug)
        found = list(s.scalars(query))
        if len(found) != 1:
            raise click.ClickException(f"no booking {booking_ref}" if not found else
                                       f"{booking_ref} exists for several tenants: --tenant")
        booking = found[0]
        try:
            bill = issue_bill(s, booking, now)
        except QrBillError as exc:
            raise click.ClickException(f"no QR-bill: {exc}") from exc
        if bill is None:
            raise click.ClickException(f"nothing is open on {booking.ref}")
        customer = s.get(Customer, booking.customer_id) if booking.customer_id else None
        tenant = s.get(Tenant, booking.tenant_id)
        chosen = language or (customer.language if customer else None) or \
            (tenant.default_language if tenant else "de")
        Path(out).write_bytes(bill_pdf(s, bill, chosen))
        click.echo(json.dumps({"booking": booking.ref, "amount_chf": str(bill.amount_chf),
                               "reference": bill.reference, "out": out}))


@main.group()
def payments() -> None:
    """Payments: bank files."""


@payments.command("import-camt")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def payments_import_camt(path: str, as_json: bool) -> None:
    """Reconcile a camt.054 file; importing it again changes nothing."""
    from pathlib import Path

    from bot.billing import import_camt
    from bot.camt import CamtError

    runtime = _runtime()
    try:
        report = import_camt(runtime.db, Path(path).read_bytes(), runtime.services.clock.now())
    except CamtError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for result, rows in report.items():
            for row in rows:
                click.echo(f"{result:17} {row['amount']:>10} {row['currency']} "
                           f"{row['reference'] or '-':27} {row['booking'] or row['reason'] or ''}")


@company.command("list")
def company_list() -> None:
    """The tenants, as JSON."""
    from sqlalchemy import select

    from bot.models import Tenant

    runtime = _runtime()
    with runtime.db.session() as s:
        rows = [{"slug": t.slug, "name": t.name, "sms_number": t.sms_number,
                 "whatsapp_number": t.whatsapp_number, "default_language": t.default_language,
                 "telegram_bot": bool(t.telegram_bot_token), "staff_chat_id": t.staff_chat_id}
                for t in s.scalars(select(Tenant).order_by(Tenant.id))]
    click.echo(json.dumps(rows, ensure_ascii=False, indent=2))


@main.group()
def telegram() -> None:
    """Telegram bots of the tenants."""


@telegram.command("set-webhook")
@click.argument("slug")
def telegram_set_webhook(slug: str) -> None:
    """Register CRMS_PUBLIC_URL/webhooks/telegram/SLUG with the tenant's secret token."""
    import asyncio

    from bot.channels.telegram import ALLOWED_UPDATES, make_bot
    from bot.repository import tenant_by_slug

    runtime = _runtime()
    with runtime.db.session() as s:
        tenant = tenant_by_slug(s, slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        if not tenant.telegram_bot_token:
            raise click.ClickException(f"tenant {slug!r} has no Telegram bot token")
        token, secret = tenant.telegram_bot_token, tenant.telegram_webhook_secret
    url = f"{runtime.config.public_url}/webhooks/telegram/{slug}"

    async def register() -> None:
        bot = make_bot(token, runtime.config.telegram_api_base)
        try:
            await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        finally:
            await bot.session.close()

    asyncio.run(register())
    click.echo(f"webhook set: {url}")


@telegram.command("delete-webhook")
@click.argument("slug")
def telegram_delete_webhook(slug: str) -> None:
    """Remove the tenant's webhook (to run `crms-bot telegram-poll` instead)."""
    import asyncio

    from bot.channels.telegram import make_bot
    from bot.telegram_poll import tenant_bots

    runtime = _runtime()
    try:
        [(_, token)] = tenant_bots(runtime, (slug,))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc

    async def remove() -> None:
        bot = make_bot(token, runtime.config.telegram_api_base)
        try:
            await bot.delete_webhook()
        finally:
            await bot.session.close()

    asyncio.run(remove())
    click.echo(f"webhook removed for {slug}")


@main.command("telegram-poll")
@click.option("--tenant", "slugs", multiple=True, help="poll only these tenants' bots")
@click.option("--once", is_flag=True, help="fetch what is waiting, handle it and exit")
def telegram_poll(slugs: tuple[str, ...], once: bool) -> None:
    """Receive Telegram updates by long polling (no public URL needed)."""
    import asyncio
    import signal

    from bot.telegram_poll import WebhookIsSet, poll, tenant_bots

    runtime = _runtime()
    try:
        bots = tenant_bots(runtime, slugs)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    if not bots:
        raise click.ClickException("no tenant has a Telegram bot token")
    stopping = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(now=True))
    if runtime.redis is None and not once:  # embedded: this process answers and delivers
        runtime.work.start_loops()
    else:
        runtime.warm_up_nlu()
    click.echo(f"polling Telegram for {', '.join(b.slug for b, _ in bots)}", err=True)
    try:
        handled = asyncio.run(poll(runtime, bots, stop=lambda: stopping["now"], once=once))
    except WebhookIsSet as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from exc
    except KeyboardInterrupt:
        return
    if once:
        pool = getattr(runtime.work, "pool", None)
        if pool is not None:  # embedded: finish the answers before exiting
            pool.shutdown(wait=True)
            runtime.relay.run_once()
        click.echo(f"{handled} updates handled", err=True)


@main.group()
def licence() -> None:
    """Driving licences."""


@licence.command("scan")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="one JSON object per image (DESIGN.md)")
def licence_scan(images: tuple[str, ...], as_json: bool) -> None:
    """Read driving licences from photos: the numbered fields and how sure each is."""
    from pathlib import Path

    from bot.services.ocr import read_licence

    for path in images:
        reading = read_licence(Path(path).read_bytes())
        body = {"file": path, **reading.to_json()}
        if as_json:
            click.echo(json.dumps(body, ensure_ascii=False))
        else:
            click.echo(f"{path}: " + ", ".join(f"{k}={v}" for k, v in body.items()
                                               if k != "file" and v not in (None, [], {})))


@main.group()
def reminders() -> None:
    """Reminders."""


@reminders.command("list")
@click.option("--booking", "ref", default=None)
@click.option("--json", "as_json", is_flag=True)
def reminders_list(ref: str | None, as_json: bool) -> None:
    """The planned reminders with due times in UTC and Europe/Zurich."""
    from bot.reminders_view import list_reminders

    runtime = _runtime()
    with runtime.db.session() as s:
        rows = list_reminders(s, ref)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['booking']:10} {row['kind']:11} {row['channel'] or '-':9} "
                   f"{row['due_at_local']:26} {row['state']}")


@main.group()
def outbox() -> None:
    """Outbox maintenance."""


@outbox.command("retry-dead")
def outbox_retry_dead() -> None:
    """Queue dead letters again (after the provider problem is fixed)."""
    runtime = _runtime()
    click.echo(f"{runtime.relay.retry_dead()} message(s) queued again")


if __name__ == "__main__":
    main()
