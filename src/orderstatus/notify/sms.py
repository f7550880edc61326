"""SMS over a provider's HTTP API, in the Twilio Messages form most providers copy:
POST form fields ``To``, ``From``, ``Body`` with HTTP basic auth (account and token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from orderstatus.domain.notifications import is_e164
from orderstatus.notify.email import DeliveryError

SEND_TIMEOUT = 15.0
_RETRYABLE = frozenset({401, 403, 408, 409, 425, 429})
"""4xx answers that say "not now" or "the account is wrong", not "this message is
wrong": retried, so fixing the account delivers what waited."""


@dataclass(frozen=True, slots=True)
class SmsConfig:
    url: str
    """The Messages endpoint without the credentials."""
    account: str
    token: str
    sender: str

    @classmethod
    def from_url(cls, url: str, sender: str) -> SmsConfig:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return cls(
            url=urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
            account=unquote(parts.username or ""),
            token=unquote(parts.password or ""),
            sender=sender,
        )


class SmsSender:
    """One HTTP client (kept-alive connections) shared by the worker's tasks."""

    def __init__(self, config: SmsConfig, *, timeout: float = SEND_TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                auth=httpx.BasicAuth(self.config.account, self.config.token),
                timeout=self.timeout,
                follow_redirects=False,
            )
        return self._client

    async def send(self, *, to: str, body: str, idempotency_key: str) -> dict[str, Any]:
        """Send one text; the provider's answer (its message id) on success."""
        if not is_e164(to):
            raise DeliveryError(f"SMS: {to!r} is not a phone number in E.164 form", permanent=True)
        try:
            response = await self._http.post(
                self.config.url,
                data={"To": to, "From": self.config.sender, "Body": body},
                headers={"Idempotency-Key": idempotency_key, "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS: {type(exc).__name__}: {exc}"[:500]) from None
        if response.is_success:
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            sid = answer.get("sid") if isinstance(answer, dict) else None
            return {"provider_id": sid} if sid else {}
        detail = " ".join(response.text.split())[:300]
        permanent = 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE
        raise DeliveryError(
            f"SMS: the provider answered {response.status_code}: {detail}", permanent=permanent
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
