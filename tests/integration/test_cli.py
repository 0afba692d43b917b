"""The crms-bot command line, run as a user runs it (a real process, a pipe)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.envs import service_env

BIN = Path(sys.executable).parent / "crms-bot"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    var = tmp_path_factory.mktemp("var")
    environment = service_env()
    environment.update(CRMS_VAR_DIR=str(var), CRMS_DATABASE_URL=f"sqlite:///{var}/cli.sqlite3")
    run(["db", "upgrade"], environment)
    return environment


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run([str(BIN), *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_demo_data_prints_the_design_json(env):
    data = json.loads(run(["demo-data"], env))
    assert [t["slug"] for t in data["tenants"]] == ["alpenrent", "lemanauto"]
    for tenant in data["tenants"]:
        assert set(tenant) == {"slug", "name", "sms_number", "whatsapp_number",
                               "telegram_webhook_secret", "staff_chat_id"}
        assert tenant["sms_number"].startswith("+41")
    assert {b["language"] for b in data["bookings"]} == {"de", "fr", "it", "en"}
    assert set(data["bookings"][0]) == {
        "tenant", "ref", "renter_name", "renter_phone", "renter_birth_date", "language",
        "pickup_at", "return_at", "amount_due_chf", "deposit_chf", "vehicle_plate",
        "vehicle_category"}
    again = json.loads(run(["demo-data"], env))  # idempotent: same tenants, same secrets
    assert again["tenants"] == data["tenants"]


@pytest.mark.parametrize("phone, question, expected", [
    ("+41791234501", "wo ist meine Buchung?", "bot> Buchung CR-48213"),
    ("+41791234504", "où est ma réservation ?", "bot> Réservation CR-48216"),
    ("+41791234502", "dov'è la mia prenotazione?", "bot> Prenotazione CR-48214"),
    ("+41791234503", "where is my booking?", "bot> Booking CR-48215"),
])
def test_chat_from_a_pipe_in_each_language(env, phone, question, expected):
    run(["demo-data"], env)
    out = run(["chat", "--channel", "whatsapp", "--from", phone], env, stdin=question + "\n")
    assert expected in out
    assert "CHF" in out


def test_chat_to_a_tenant_by_number_with_sms_menu(env):
    data = json.loads(run(["demo-data"], env))
    lemanauto = data["tenants"][1]["sms_number"]
    out = run(["chat", "--channel", "sms", "--from", "+41791234511", "--to", lemanauto], env,
              stdin="je veux annuler ma réservation\n2\n")
    assert "1) Oui\n2) Non" in out and "rien n'a été modifié" in out


def test_nlu_parse_prints_json(env):
    result = json.loads(run(["nlu", "parse", "Grüezi"], env))
    assert result == {"intent": "greet", "confidence": result["confidence"], "language": "de",
                      "entities": {}}
    lines = run(["nlu", "parse", "--jsonl"], env,
                stdin='{"text": "STOP"}\ncr 48213 dob 12.3.1990\n').splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["intent"] == "opt_out"
    assert second["entities"] == {"booking_ref": "CR-48213", "date": "1990-03-12"}


def test_nlu_evaluate_prints_accuracy_per_intent_and_language(env, tmp_path):
    labelled = tmp_path / "held_out.jsonl"
    labelled.write_text("\n".join(json.dumps(x) for x in [
        {"text": "Grüezi mitenand", "intent": "greet", "language": "de"},
        {"text": "je veux parler à quelqu'un", "intent": "human_agent", "language": "fr"},
        {"text": "xyzzy", "intent": "greet", "language": "en"},
    ]))
    report = json.loads(run(["nlu", "evaluate", str(labelled), "--json"], env))
    assert report["n"] == 3 and report["accuracy"] == pytest.approx(0.667, abs=0.001)
    assert report["per_language"]["en"]["accuracy"] == 0.0
    assert report["confusions"] == [{"language": "en", "expected": "greet",
                                     "predicted": "nlu_fallback", "count": 1}]
    assert "accuracy 0.667 on 3 messages" in run(["nlu", "evaluate", str(labelled)], env)


def test_reminders_list_json(env):
    run(["demo-data"], env)
    rows = json.loads(run(["reminders", "list", "--booking", "CR-48213", "--json"], env))
    kinds = {r["kind"]: r for r in rows}
    assert set(kinds) == {"payment_open", "licence_missing", "pickup_24h", "pickup_2h",
                          "return_24h", "return_2h"}
    assert [r["due_at"] for r in rows] == sorted(r["due_at"] for r in rows)
    pickup = kinds["pickup_24h"]  # the demo pickup is two days ahead
    assert pickup["due_at"].endswith("+00:00")
    assert pickup["due_at_local"][-6:] in ("+01:00", "+02:00")
    assert pickup["state"] == "planned" and pickup["channel"] in ("sms", "whatsapp")


def test_company_api_key_is_printed_once_and_works(env):
    run(["demo-data"], env)
    key = run(["company", "api-key", "alpenrent"], env).strip()
    assert key.startswith("crms_alpenrent_") and len(key) > 40
    done = subprocess.run([str(BIN), "company", "api-key", "nobody"], capture_output=True,
                          text=True, env=env)
    assert done.returncode != 0 and "no tenant 'nobody'" in done.stderr


def test_qrbill_import_camt_and_company_check(env, tmp_path):
    """The bookkeeper's commands: a QR-bill PDF, the bank file twice, the creditor check."""
    from bot.sample_camt import Entry, Tx, camt054
    from tests.integration.test_qrbill import qr_lines

    run(["demo-data", "--if-empty"], env)
    assert run(["company", "check"], env).splitlines() == [
        "alpenrent: QR-bill creditor ok (QR-IBAN, QRR references)",
        "lemanauto: QR-bill creditor ok (IBAN, creditor references (RF))"]
    out = tmp_path / "CR-48213.pdf"
    made = json.loads(run(["qrbill", "CR-48213", "--out", str(out)], env))
    lines = qr_lines(out.read_bytes())
    assert lines[3] == "CH4431999123000889012" and lines[28] == made["reference"]
    assert made["amount_chf"] == "1234.50" and lines[18] == "1234.50"
    camt = tmp_path / "camt054.xml"
    camt.write_bytes(camt054([Entry("CLI-1", [Tx("1234.50", made["reference"], bank_ref="C-1"),
                                              Tx("9.90", None, bank_ref="C-2")])]))
    first = json.loads(run(["payments", "import-camt", str(camt), "--json"], env))
    assert [(r["key"], r["booking"]) for r in first["matched"]] == [("C-1", "CR-48213")]
    assert [r["key"] for r in first["unmatched"]] == ["C-2"]
    second = json.loads(run(["payments", "import-camt", str(camt), "--json"], env))
    assert second["matched"] == [] and len(second["already_imported"]) == 2
    run(["company", "set", "lemanauto", "--setting",
         'qr_creditor={"name": "Léman Auto SA", "iban": "CH93 0076 2011 6238 5295 8"}'], env)
    refused = subprocess.run([str(BIN), "company", "check", "lemanauto"], capture_output=True,
                             text=True, env=env, timeout=60)
    assert refused.returncode == 1
    assert "street is missing" in refused.stdout and "is not valid" in refused.stdout


def test_a_worker_for_an_unknown_queue_is_refused_with_the_queues_there_are(env):
    done = subprocess.run([str(BIN), "worker", "--queues", "crms,ocr"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "unknown queue ocr" in done.stderr and "crms, crms-slow" in done.stderr
    shown = subprocess.run([str(BIN), "worker", "--help"], capture_output=True, text=True,
                           env=env, timeout=60).stdout
    assert "crms,crms-slow" in shown  # the default: renters first, then licence photos
