"""The Rasa backend against a real Rasa 3.6 server (`make test-rasa` installs Rasa and runs it).

Rasa needs Python 3.10 and 2.7 GB; without CRMS_RASA_BIN this test is skipped and says why.
"""

import os
import subprocess
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from nlu import BuiltinParser
from nlu.backend import RasaParser
from nlu.rasa_export import export
from tests.envs import free_port

RASA = os.environ.get("CRMS_RASA_BIN")
pytestmark = [
    pytest.mark.rasa,
    pytest.mark.skipif(not RASA, reason="no Rasa installed: `make test-rasa` installs Rasa 3.6 "
                                        "(Python 3.10) into .venv-rasa and runs this test"),
]



@pytest.fixture(scope="module")
def rasa_url(tmp_path_factory):  # type: ignore[no-untyped-def]
    project = tmp_path_factory.mktemp("rasa")
    export(project)
    subprocess.run([RASA, "train", "nlu", "--config", "config.yml", "--nlu", "data",
                    "--out", "models", "--fixed-model-name", "crms"], cwd=project, check=True,
                   timeout=1200, capture_output=True)
    port = free_port()
    server = subprocess.Popen([RASA, "run", "--enable-api", "-m", "models/crms.tar.gz",
                               "--port", str(port)], cwd=project, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if b"model_file" in urllib.request.urlopen(url + "/status", timeout=2).read():
                break
        except OSError:
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.mark.parametrize("text, intent", [
    ("Grüezi", "greet"), ("wie hoch ist die Kaution", "ask_deposit"),
    ("je veux annuler ma réservation", "cancel_booking"), ("posso pagare con twint?", "pay_online"),
    ("I had an accident", "report_problem"),
])
def test_rasa_answers_through_the_same_contract(rasa_url, text, intent):
    backend = RasaParser(rasa_url, BuiltinParser.load(Path(os.environ.get("CRMS_NLU_CACHE_DIR", "var"))),
                         timeout=10)
    result = backend.parse(text, date(2027, 3, 8))
    assert backend.status() == "ok"
    assert result.intent == intent
