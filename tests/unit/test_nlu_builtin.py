"""The built-in NLU backend: the contract, odd input, the model cache, the Rasa backend."""

import json
import shutil
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nlu import BuiltinParser
from nlu.backend import RasaParser
from nlu.classifier import load_or_train
from nlu.training import DATA_DIR, load_examples
from tests.envs import send_json

TODAY = date(2027, 3, 8)


@pytest.fixture(scope="module")
def parser() -> BuiltinParser:
    return BuiltinParser.load()


@pytest.mark.parametrize("text, intent, language", [
    ("Grüezi, wo isch mini Buechig?", "booking_status", "de"),
    ("bonjour j'ai eu un accident 😟", "report_problem", "fr"),
    ("posso pagare con twint?", "pay_online", "it"),
    ("can I keep the car till Sunday", "extend_rental", "en"),
    ("STOP", "opt_out", None),
    ("Stopp", "opt_out", "de"),
    ("parla italiano?", "change_language", "it"),
    ("allegra", "greet", "rm"),
    ("hallo\x00\x07", "greet", "de"),
])
def test_messages_renters_write(parser, text, intent, language):
    result = parser.parse(text, TODAY)
    assert (result.intent, result.language) == (intent, language)
    assert 0.0 <= result.confidence <= 1.0


@pytest.mark.parametrize("text", [
    "", "   ", "😀😀😀", "x" * 5000, "\x00\x07\x1b[31m\x7f", "Привет, как дела?",
    "مرحبا كيف حالك", "https://example.com/path?a=1&b=2", "asdfgh qwertz",
])
def test_odd_input_gives_a_valid_answer(parser, text):
    result = parser.parse(text, TODAY)
    assert json.loads(json.dumps(result.as_json()))["intent"]
    assert result.intent == "nlu_fallback"


def test_entities_come_with_the_intent(parser):
    result = parser.parse("cr 48213 dob 12.3.1990, Auto BE-12345", TODAY)
    assert result.entities == {"booking_ref": "CR-48213", "date": "1990-03-12",
                               "plate": "BE 12345"}


def test_the_model_is_cached_and_rebuilt_when_the_data_changes(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    cache = tmp_path / "cache"
    first = load_or_train(cache, data)
    [cached] = cache.glob("nlu-*.pkl")
    again = load_or_train(cache, data)
    assert again.fingerprint == first.fingerprint and list(cache.glob("nlu-*.pkl")) == [cached]
    with (data / "en.yml").open("a") as fh:
        fh.write("    - yo what's up\n")
    changed = load_or_train(cache, data)
    assert changed.fingerprint != first.fingerprint
    assert len(list(cache.glob("nlu-*.pkl"))) == 2


def test_every_intent_has_examples_in_every_language():
    examples = load_examples()
    intents = {e.intent for e in examples}
    assert len(intents) == 22
    for language in ("de", "fr", "it", "en"):
        counts = {i: sum(1 for e in examples if e.language == language and e.intent == i)
                  for i in intents}
        assert min(counts.values()) >= 10, (language, counts)
    romansh = {e.intent for e in examples if e.language == "rm"}
    assert {"greet", "goodbye", "thanks", "affirm", "deny", "help", "human_agent"} <= romansh


class FakeRasa:
    """A Rasa server's /model/parse, as Rasa 3.6 answers it."""

    def __init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # type: ignore[no-untyped-def]
                pass

            def do_POST(self):  # type: ignore[no-untyped-def]  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.asked.append(body["text"])
                answer = {"text": body["text"], "intent": {"name": "ask_deposit",
                                                           "confidence": 0.91},
                          "entities": [], "intent_ranking": [
                              {"name": "ask_deposit", "confidence": 0.91}]}
                send_json(self, 200, answer)

        self.asked: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


def test_rasa_backend_maps_the_answer_to_the_contract(parser):
    rasa = FakeRasa()
    try:
        result = RasaParser(rasa.url, parser).parse("wie hoch ist das Depot für CR-48213", TODAY)
    finally:
        rasa.httpd.shutdown()
    assert rasa.asked == ["wie hoch ist das Depot für CR-48213"]
    assert result.as_json() == {"intent": "ask_deposit", "confidence": 0.91, "language": "de",
                                "entities": {"booking_ref": "CR-48213"}}


def test_rasa_down_falls_back_to_the_builtin_backend(parser):
    backend = RasaParser("http://127.0.0.1:9", parser, timeout=0.5)
    assert backend.parse("Grüezi", TODAY).intent == "greet"
    assert backend.status() == "down (built-in answers)"


def test_confidence_is_calibrated_on_held_back_training_folds(parser):
    # The temperature comes from cross-validation on the training data; with it a clear
    # message is near-certain and a half-understood one is not.
    assert 0.2 < parser.models.intents.temperature < 1.0
    assert parser.parse("wie hoch ist die Kaution?", TODAY).confidence > 0.9
    vague = parser.parse("und dann?", TODAY)
    assert vague.intent == "nlu_fallback" or vague.confidence < 0.9


def test_fast_features_equal_sklearns_for_every_held_out_message(parser):
    """The hand-rolled TF-IDF row is the fitted vectorizers' row, value for value."""
    models = parser.models
    texts = [json.loads(line)["text"] for line in
             (DATA_DIR.parent / "tests" / "held_out.jsonl").read_text().splitlines() if line]
    texts += ["", "   ", "Grüezi!!! 😀", "x" * 1000, "ÄÖÜ éàè çñ"]
    for text in texts:
        fast, slow = models.vector(text), models.reference_vector(text)
        assert fast.shape == slow.shape
        assert abs(fast - slow).max() < 1e-5 if slow.nnz or fast.nnz else True, text
