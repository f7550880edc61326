"""A pretend carrier for the demo: it moves a parcel through real cities by sending
EasyPost-format webhooks to the running server, through the same HTTP path and signature
check a real EasyPost account would use, so a newcomer sees a page move by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stop:
    after_seconds: float
    status: str
    detail: str
    message: str
    city: str
    country: str


ROUTE: tuple[Stop, ...] = (
    Stop(0, "pre_transit", "label_created", "Shipping label created", "OSLO", "NO"),
    Stop(15, "in_transit", "received_at_origin_facility", "Picked up by the carrier", "OSLO", "NO"),
    Stop(40, "in_transit", "departed_facility", "Left the Oslo terminal", "LILLEHAMMER", "NO"),
    Stop(70, "in_transit", "arrived_at_facility", "Arrived at the terminal", "TRONDHEIM", "NO"),
    Stop(100, "in_transit", "arrived_at_facility", "Arrived at the terminal", "BERGEN", "NO"),
    Stop(125, "out_for_delivery", "out_for_delivery", "Out for delivery", "BERGEN", "NO"),
    Stop(
        150,
        "in_transit",
        "delivery_exception",
        "Delivery attempted, nobody home: we will try again",
        "BERGEN",
        "NO",
    ),
    Stop(180, "out_for_delivery", "out_for_delivery", "Out for delivery again", "BERGEN", "NO"),
    Stop(210, "delivered", "arrived_at_destination", "Delivered to the front door", "BERGEN", "NO"),
)


def tracker_event(tracking_code: str, stops: list[tuple[Stop, datetime]]) -> bytes:
    """An EasyPost ``tracker.updated`` Event with the history so far."""
    details = [
        {
            "object": "TrackingDetail",
            "message": stop.message,
            "description": "",
            "status": stop.status,
            "status_detail": stop.detail,
            "datetime": when.isoformat().replace("+00:00", "Z"),
            "source": "Bring",
            "carrier_code": "",
            "tracking_location": {
                "object": "TrackingLocation",
                "city": stop.city,
                "state": None,
                "country": stop.country,
                "zip": None,
            },
        }
        for stop, when in stops
    ]
    last = stops[-1][0]
    started = stops[0][1]
    body = {
        "id": "evt_demo_" + tracking_code.lower(),
        "object": "Event",
        "mode": "test",
        "description": "tracker.updated",
        "result": {
            "id": "trk_demo_" + tracking_code.lower(),
            "object": "Tracker",
            "mode": "test",
            "tracking_code": tracking_code,
            "status": last.status,
            "status_detail": last.detail,
            "carrier": "Bring",
            "est_delivery_date": (started + timedelta(seconds=240)).isoformat(),
            "tracking_details": details,
        },
    }
    return json.dumps(body).encode()


def sign(body: bytes, secret: str) -> str:
    """``X-Hmac-Signature`` as EasyPost computes it: the key is the secret normalised NFKD."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class Simulator:
    """Runs in a thread beside the demo server until stopped."""

    def __init__(
        self,
        *,
        base_url: str,
        shop_handle: str,
        api_key: str,
        webhook_secret: str,
        speed: float = 1.0,
        order_id: int | None = None,
    ) -> None:
        """``order_id``: an order made beforehand to ship (else one is made through the
        REST API once the server answers)."""
        self.order_id = order_id
        self.base_url = base_url
        self.shop_handle = shop_handle
        self.api_key = api_key
        self.secret = webhook_secret
        self.speed = speed
        self.stop = threading.Event()
        self.status_page_url: str | None = None
        self.ready = threading.Event()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="demo-carrier", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=10) as http:
                if not self._wait_for_server(http):
                    return
                tracking = self._ship_an_order(http)
                self.ready.set()
                self._drive(http, tracking)
        except httpx.HTTPError as exc:
            log.warning("demo carrier stopped: %s", exc)
        finally:
            self.ready.set()

    def _wait_for_server(self, http: httpx.Client) -> bool:
        while not self.stop.is_set():
            try:
                if http.get("/healthz").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            self.stop.wait(0.2)
        return False

    def _ship_an_order(self, http: httpx.Client) -> str:
        """A fresh order, shipped with Bring, through the REST API like any checkout."""
        auth = {"Authorization": f"Bearer {self.api_key}"}
        order_id = self.order_id
        if order_id is None:
            body = live_order(self.base_url)
            order = http.post("/api/v1/orders", headers=auth, json=body).raise_for_status().json()
            order_id = order["id"]
            self.status_page_url = order["status_page_url"]
        tracking = f"70{int(time.time() * 1000) % 10**16:016d}"
        http.post(
            f"/api/v1/orders/{order_id}/fulfillments",
            headers=auth,
            json={"carrier": "bring", "tracking_number": tracking},
        ).raise_for_status()
        return tracking

    def _drive(self, http: httpx.Client, tracking: str) -> None:
        started = datetime.now(UTC)
        sent: list[tuple[Stop, datetime]] = []
        for stop in ROUTE:
            if self.stop.wait(max(0.0, stop.after_seconds / self.speed - _elapsed(started))):
                return
            sent.append((stop, datetime.now(UTC).replace(microsecond=0)))
            body = tracker_event(tracking, sent)
            response = http.post(
                f"/webhooks/easypost/{self.shop_handle}",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Hmac-Signature": sign(body, self.secret),
                },
            )
            if response.status_code != 200:
                log.warning("demo carrier: webhook answered %s", response.status_code)


def _elapsed(since: datetime) -> float:
    return (datetime.now(UTC) - since).total_seconds()


def live_order(base_url: str) -> dict[str, Any]:
    """The order the demo carrier ships, as a checkout would send it."""
    body = dict(_LIVE_ORDER)
    body["line_items"] = [
        {**item, "image_url": f"{base_url}/static/products/blanket.svg"}
        for item in _LIVE_ORDER["line_items"]
    ]
    return body


_LIVE_ORDER: dict[str, Any] = {
    "email": "live.demo@demo.example",
    "locale": "en",
    "currency": "NOK",
    "customer": {"first_name": "Live", "last_name": "Demo"},
    "shipping_address": {
        "name": "Live Demo",
        "address1": "Bryggen 1",
        "city": "Bergen",
        "zip": "5003",
        "country_code": "NO",
    },
    "payment": {"method": "card", "brand": "Visa", "last4": "4242"},
    "line_items": [
        {"title": "Knitted blanket", "variant": "Natural", "quantity": 1, "price": "1290.00"}
    ],
}
