"""WhatsApp and SMS through Twilio's Messages API; media downloads with the account's auth."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from bot.channels.base import PermanentSendError, SendResult, TransientSendError
from bot.channels.twilio_http import CurlHttpClient
from bot.messages import FetchedMedia, OutboundMessage
from bot.sms import gsm_friendly

log = logging.getLogger(__name__)
TWILIO_API = "https://api.twilio.com"
MAX_MEDIA_BYTES = 10 * 1024 * 1024
MEDIA_TIMEOUT = 10.0
MEDIA_RETRIES = (0.5, 1.0, 2.0)  # a fresh media URL can 404 for a moment


class TwilioAdapter:
    """Sends through Twilio (one adapter per channel) and fetches inbound media.

    Args:
        name: ``whatsapp`` or ``sms``.
        account_sid, auth_token: the Twilio account.
        api_base: Twilio's REST base URL (a local server in tests).
        public_url: where Twilio posts status callbacks.

    """

    provider = "twilio"

    def __init__(self, name: str, account_sid: str, auth_token: str, api_base: str | None,
                 public_url: str, timeout: float = 10.0) -> None:
        self.name = name
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self.api_base = (api_base or TWILIO_API).rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.client = Client(account_sid, auth_token,
                             http_client=CurlHttpClient(timeout=timeout))
        self.client.api.base_url = self.api_base

    def send(self, message: OutboundMessage) -> SendResult:
        """Create the message at Twilio; 429 and 5xx are transient, other 4xx permanent."""
        try:
            created = self.client.messages.create(**self._params(message))
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(f"Twilio {exc.status}: {exc.msg}") from exc
            raise PermanentSendError(f"Twilio {exc.status} code {exc.code}: {exc.msg}",
                                     code=str(exc.code) if exc.code else None) from exc
        except OSError as exc:  # ConnectionError, TimeoutError
            raise TransientSendError(f"Twilio unreachable: {type(exc).__name__}") from exc
        return SendResult(created.sid, status=created.status or "queued")

    def _params(self, message: OutboundMessage) -> dict[str, object]:
        whatsapp = self.name == "whatsapp"
        prefix = "whatsapp:" if whatsapp else ""
        if not message.sender:
            raise PermanentSendError(f"tenant has no {self.name} number")
        params: dict[str, object] = {
            "to": prefix + message.address, "from_": prefix + message.sender,
            "status_callback": f"{self.public_url}/webhooks/twilio/status"}
        if message.template is not None:
            params["content_sid"], variables = message.template
            params["content_variables"] = json.dumps(variables, ensure_ascii=False)
            return params
        text = message.text
        if message.buttons:  # free-form Twilio messages carry no buttons: a numbered menu
            text += "\n\n" + "\n".join(f"{i}) {b.title}" for i, b in enumerate(message.buttons, 1))
        params["body"] = text if whatsapp else gsm_friendly(text)
        if message.location and whatsapp:
            params["persistent_action"] = [f"geo:{message.location[0]},{message.location[1]}"]
        if message.media_urls:
            params["media_url"] = list(message.media_urls)
        return params

    def owns_media_url(self, url: str) -> bool:
        """Only media under our account on Twilio's API host may receive our credentials."""
        parts, base = urlsplit(url), urlsplit(self.api_base)
        return (parts.scheme, parts.netloc) == (base.scheme, base.netloc) and parts.path.startswith(
            f"/2010-04-01/Accounts/{self.account_sid}/")

    def fetch_media(self, url: str) -> FetchedMedia:
        """Download an inbound attachment: auth to Twilio only, redirect to the CDN without it."""
        if not self.owns_media_url(url):
            log.warning("refused media URL outside our Twilio account: %s", urlsplit(url).netloc)
            return FetchedMedia("", None, "foreign_url")
        for wait in (*MEDIA_RETRIES, None):
            try:
                result = self._download(url)
            except requests.RequestException as exc:
                result = FetchedMedia("", None, f"error:{type(exc).__name__}")
            if result.problem != "not_found_yet" or wait is None:
                return result
            time.sleep(wait)
        return FetchedMedia("", None, "not_found")  # pragma: no cover - loop returns

    def _download(self, url: str) -> FetchedMedia:
        with requests.Session() as session:
            first = session.get(url, auth=self._auth, timeout=MEDIA_TIMEOUT,
                                allow_redirects=False, stream=True)
            response = first
            if first.is_redirect:
                target = first.headers["Location"]
                first.close()
                # the CDN URL is pre-signed: it never gets our credentials
                response = session.get(target, timeout=MEDIA_TIMEOUT, stream=True)
            with response:
                if response.status_code == 404:
                    return FetchedMedia("", None, "not_found_yet")
                if response.status_code != 200:
                    return FetchedMedia("", None, f"http_{response.status_code}")
                declared = int(response.headers.get("Content-Length") or 0)
                if declared > MAX_MEDIA_BYTES:
                    return FetchedMedia("", None, "too_large")
                data = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    data.extend(chunk)
                    if len(data) > MAX_MEDIA_BYTES:
                        return FetchedMedia("", None, "too_large")
                kind = response.headers.get("Content-Type", "application/octet-stream")
                return FetchedMedia(kind.split(";")[0], bytes(data))
