"""The transport under the `twilio` package's REST client: urllib3's pool, kept alive.

The `twilio` client builds every request (resources, parameters, errors); this only carries
it. Twilio's own `TwilioHttpClient` goes through `requests`, whose per-request preparation
(environment settings, cookies, hooks) cost more CPU than the round trip to Twilio in the
webhook benchmark.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import urllib3
from twilio.http import HttpClient
from twilio.http.response import Response


class PooledHttpClient(HttpClient):
    """A `twilio.http.HttpClient` on a urllib3 pool: no retries here (the outbox retries)."""

    def __init__(self, timeout: float = 10.0, maxsize: int = 16) -> None:
        super().__init__(logger=None, is_async=False, timeout=timeout)  # type: ignore[arg-type]
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=maxsize, block=False,
                                        retries=False)

    def request(self, method: str, uri: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        """One request as Twilio's client describes it; the answer as its `Response`."""
        headers = dict(headers or {})
        if params:
            uri += ("&" if "?" in uri else "?") + urlencode(_present(params), doseq=True)
        body = None
        if data is not None and method.upper() not in ("GET", "DELETE"):
            body = urlencode(_present(data), doseq=True).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        response = self.pool.request(
            method.upper(), uri, body=body, headers=headers, redirect=allow_redirects,
            timeout=urllib3.Timeout(total=timeout or self.timeout), preload_content=True)
        self._test_only_last_response = Response(
            response.status, response.data.decode("utf-8", "replace"), response.headers)
        return self._test_only_last_response


def _present(values: dict[str, object]) -> dict[str, object]:
    """Drop unset values, as `requests` does for None."""
    return {k: v for k, v in values.items() if v is not None}
