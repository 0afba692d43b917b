"""The sandbox in a real browser (Playwright driving Debian's Chromium) against `crms-bot serve`.

A German renter identifies, sends a licence photo and pays by link; a French renter asks for
a person and gets a staff answer. Each step's screenshot is written to
var/test-artifacts/browser/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.envs import start_serve

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "browser"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def base(tmp_path_factory):  # type: ignore[no-untyped-def]
    """`crms-bot serve` in sandbox mode, with the demo data, on a free port."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed (apt-get install chromium; .ci/run installs it)")
    proc, url = start_serve(tmp_path_factory.mktemp("browser"))
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def page(base):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport={"width": 420, "height": 900})  # a phone-sized screen
        tab.set_default_timeout(WAIT_MS)
        yield tab
        browser.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def write(page, base: str, tenant: str, sender: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Use the 'Write as a renter' form the way a person does."""
    page.goto(base + "/sandbox")
    page.get_by_label("Rental company", exact=True).first.select_option(tenant)
    page.get_by_label("Channel", exact=True).first.select_option("whatsapp")
    page.get_by_label("Phone (E.164) or Telegram chat id").first.fill(sender)
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def chat_shows(page, text: str) -> None:  # type: ignore[no-untyped-def]
    """The conversation shows the text (the page updates itself every few seconds)."""
    page.locator("section[aria-labelledby=chat-h]").get_by_text(text).first.wait_for()


def test_a_german_renter_identifies_sends_the_licence_and_pays_by_link(page, base):
    write(page, base, "alpenrent", "+41791234501", "Hallo, wo ist meine Buchung?")
    chat_shows(page, "Buchung CR-48213")
    shot(page, "1-de-identified")
    page.get_by_role("button", name="Send a sample licence photo of this renter").click()
    chat_shows(page, "1. Name: MÜLLER")
    shot(page, "2-de-licence-read")
    page.get_by_role("button", name="Ja", exact=True).last.click()
    chat_shows(page, "passt zur Buchung CR-48213")
    shot(page, "3-de-licence-accepted")
    page.get_by_label("Message").fill("kann ich mit TWINT zahlen?")
    page.get_by_role("button", name="Send", exact=True).click()
    chat_shows(page, "mit Karte oder TWINT bezahlen")
    link = re.search(r"http://127\.0\.0\.1:\d+/sandbox/pay/\w+", page.content())
    assert link is not None
    page.goto(link.group(0))
    shot(page, "4-de-checkout")
    page.get_by_role("button", name="Pay with TWINT").click()
    page.get_by_text("ist eingegangen").wait_for()
    shot(page, "5-de-paid-page")
    page.goto(base + "/sandbox?conv=1")
    chat_shows(page, "Danke! Wir haben Ihre Zahlung von CHF 1’234.50")
    shot(page, "6-de-confirmation")


def test_a_french_renter_asks_for_a_person_and_staff_answer(page, base):
    write(page, base, "alpenrent", "+41791234504", "Bonjour, je voudrais parler à quelqu'un")
    chat_shows(page, "équipe")
    shot(page, "7-fr-asked-for-a-person")
    conversation = page.url.split("conv=")[1]
    page.goto(f"{base}/sandbox/staff?conv={conversation}")
    page.get_by_text("Mieter möchte eine Person").first.wait_for()
    shot(page, "8-fr-staff-desk")
    page.get_by_label("Reply to the renter, or a command").fill(
        "Bonjour Chloé, ici Petra. Comment puis-je aider ?")
    page.get_by_role("button", name="Send in the topic").click()
    page.goto(f"{base}/sandbox?conv={conversation}")
    chat_shows(page, "Bonjour Chloé, ici Petra.")
    shot(page, "9-fr-staff-answer")
