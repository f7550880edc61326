"""A local stand-in for the carriers' tracking APIs, answering in their documented shapes.

It serves UPS (OAuth token + Track API v1), FedEx (OAuth token + Track API v1) and the
DHL Shipment Tracking - Unified API on one port (their paths do not overlap), checks the
credentials each request carries, and keeps every tracking request it saw so that tests
can count who was asked about what.

Bodies follow the shapes in the karrio connectors' own test fixtures for these APIs.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

Reply = tuple[int, Any]
"""HTTP status and a JSON body (or a str sent as plain text)."""


@dataclass(frozen=True)
class Scan:
    """One event of a journey, in the words each carrier would use for it."""

    when: datetime
    """Local wall-clock time at the scan's place."""
    ups: tuple[str, str]
    """(activity type, activity code) as UPS reports them."""
    dhl: str
    """The Unified API's statusCode."""
    fedex: str
    """FedEx eventType."""
    description: str
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Seen:
    carrier: str
    tracking_number: str
    credential: str
    """The client id / API key the request was made with."""


@dataclass
class CarrierServer:
    url: str = ""
    ups: dict[str, Reply] = field(default_factory=dict)
    dhl: dict[str, Reply] = field(default_factory=dict)
    fedex: dict[str, Reply] = field(default_factory=dict)
    ups_clients: dict[str, str] = field(default_factory=dict)
    """Accepted UPS client id → secret."""
    fedex_clients: dict[str, str] = field(default_factory=dict)
    dhl_keys: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    """Bearer token → the client id it was issued to."""

    def asked(self, carrier: str | None = None) -> list[str]:
        """Tracking numbers asked about, in order (token requests not counted)."""
        return [s.tracking_number for s in self.seen if carrier in (None, s.carrier)]

    def _issue(self, client_id: str) -> str:
        token = secrets.token_urlsafe(16)
        self.tokens[token] = client_id
        return token

    def _bearer(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        return self.tokens.get(header.removeprefix("Bearer ").strip())

    # UPS

    async def ups_token(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            pair = base64.b64decode(header.removeprefix("Basic ").strip()).decode()
        except ValueError:
            pair = ""
        client_id, _, secret = pair.partition(":")
        if self.ups_clients.get(client_id) != secret or not secret:
            return web.json_response(
                {
                    "response": {
                        "errors": [
                            {"code": "250002", "message": "Invalid Authentication Information."}
                        ]
                    }
                },
                status=401,
            )
        return web.json_response(
            {
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "client_id": client_id,
                "access_token": self._issue(client_id),
                "expires_in": "14399",
                "status": "approved",
            }
        )

    async def ups_track(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        client = self._bearer(request)
        if client is None:
            return web.json_response(
                {"response": {"errors": [{"code": "250002", "message": "Invalid token"}]}},
                status=401,
            )
        self.seen.append(Seen("ups", number, client))
        status, body = self.ups.get(number, (200, ups_not_found()))
        return _reply(status, body)

    # FedEx

    async def fedex_token(self, request: web.Request) -> web.Response:
        form = parse_qs(await request.text())
        client_id = form.get("client_id", [""])[0]
        secret = form.get("client_secret", [""])[0]
        if self.fedex_clients.get(client_id) != secret or not secret:
            return web.json_response(
                {
                    "transactionId": "b2c4c7b1-aaaa-4d5e-8f00-000000000000",
                    "errors": [
                        {
                            "code": "NOT.AUTHORIZED.ERROR",
                            "message": "The given client credentials were not valid.",
                        }
                    ],
                },
                status=401,
            )
        return web.json_response(
            {
                "access_token": self._issue(client_id),
                "token_type": "bearer",
                "expires_in": 3599,
                "scope": "CXS",
            }
        )

    async def fedex_track(self, request: web.Request) -> web.Response:
        client = self._bearer(request)
        if client is None:
            return web.json_response(
                {"errors": [{"code": "NOT.AUTHORIZED.ERROR", "message": "Invalid token"}]},
                status=401,
            )
        body = await request.json()
        numbers = [i["trackingNumberInfo"]["trackingNumber"] for i in body["trackingInfo"]]
        for number in numbers:
            self.seen.append(Seen("fedex", number, client))
        status, reply = self.fedex.get(numbers[0], (200, fedex_not_found(numbers[0])))
        return _reply(status, reply)

    # DHL

    async def dhl_track(self, request: web.Request) -> web.Response:
        key = request.headers.get("DHL-API-Key", "")
        number = request.query.get("trackingNumber", "")
        if key not in self.dhl_keys:
            return web.json_response(
                {
                    "status": 401,
                    "title": "Unauthorized",
                    "detail": "Unauthorized for given resource.",
                },
                status=401,
            )
        self.seen.append(Seen("dhl", number, key))
        status, body = self.dhl.get(number, (404, dhl_not_found(number)))
        return _reply(status, body)


def _reply(status: int, body: Any) -> web.Response:
    if isinstance(body, str):
        return web.Response(status=status, text=body, content_type="text/plain")
    return web.json_response(body, status=status)


@asynccontextmanager
async def serve() -> AsyncIterator[CarrierServer]:
    """The server on a free port of 127.0.0.1 for the life of the block."""
    server = CarrierServer()
    app = web.Application()
    app.router.add_post("/security/v1/oauth/token", server.ups_token)
    app.router.add_get("/api/track/v1/details/{number}", server.ups_track)
    app.router.add_post("/oauth/token", server.fedex_token)
    app.router.add_post("/track/v1/trackingnumbers", server.fedex_track)
    app.router.add_get("/track/shipments", server.dhl_track)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


# UPS Track API v1: activities newest first, dates and times as digits.


def _ups_address(scan: Scan) -> dict[str, Any]:
    address = {
        "city": scan.city,
        "stateProvince": scan.region,
        "postalCode": scan.postcode,
        "country": scan.country,
        "countryCode": scan.country,
    }
    return {k: v for k, v in address.items() if v is not None}


def ups_shipment(number: str, scans: list[Scan], *, delivery_date: str) -> dict[str, Any]:
    activity = [
        {
            "date": scan.when.strftime("%Y%m%d"),
            "time": scan.when.strftime("%H%M%S"),
            "location": {"address": _ups_address(scan), "slic": "8566"},
            "status": {
                "type": scan.ups[0],
                "code": scan.ups[1],
                "description": scan.description,
                "simplifiedTextDescription": scan.description,
                "statusCode": "003",
            },
        }
        for scan in sorted(scans, key=lambda s: s.when, reverse=True)
    ]
    return {
        "trackResponse": {
            "shipment": [
                {
                    "inquiryNumber": number,
                    "package": [
                        {
                            "trackingNumber": number,
                            "activity": activity,
                            "currentStatus": activity[0]["status"],
                            "deliveryDate": [{"type": "DEL", "date": delivery_date}],
                            "packageAddress": [
                                {
                                    "type": "ORIGIN",
                                    "name": "Acme Warehouse",
                                    "address": {"city": "Louisville", "country": "US"},
                                },
                                {
                                    "type": "DESTINATION",
                                    "name": "Kari Nordmann",
                                    "address": {"city": "Chicago", "country": "US"},
                                },
                            ],
                            "service": {"code": "003", "description": "UPS Ground"},
                            "weight": {"unitOfMeasurement": "LBS", "weight": "2.00"},
                            "packageCount": 1,
                        }
                    ],
                    "userRelation": "SHIPPER",
                }
            ]
        }
    }


def ups_not_found() -> dict[str, Any]:
    return {
        "trackResponse": {
            "shipment": [
                {"warnings": [{"code": "TW0001", "message": "Tracking Information Not Found"}]}
            ]
        }
    }


def ups_unavailable() -> dict[str, Any]:
    return {
        "response": {
            "errors": [{"code": "190001", "message": "The tracking service is unavailable."}]
        }
    }


# DHL Shipment Tracking - Unified API.


def dhl_shipments(number: str, scans: list[Scan], *, estimate: str) -> dict[str, Any]:
    def place(scan: Scan) -> dict[str, Any]:
        locality = ", ".join(p for p in (scan.city, scan.country) if p)
        return {"address": {"addressLocality": locality, "countryCode": scan.country}}

    events = [
        {
            "timestamp": scan.when.strftime("%Y-%m-%dT%H:%M:%S"),
            "location": place(scan),
            "statusCode": scan.dhl,
            "status": scan.description.upper(),
            "description": scan.description,
        }
        for scan in sorted(scans, key=lambda s: s.when, reverse=True)
    ]
    return {
        "url": f"/shipments?trackingNumber={number}&offset=0&limit=5",
        "shipments": [
            {
                "id": number,
                "service": "parcel-de",
                "origin": {"address": {"addressLocality": "Bonn, DE", "countryCode": "DE"}},
                "destination": {"address": {"addressLocality": "Berlin, DE", "countryCode": "DE"}},
                "status": events[0],
                "estimatedTimeOfDelivery": estimate,
                "details": {
                    "product": {"productName": "DHL PAKET"},
                    "weight": {"value": 1.2, "unitText": "kg"},
                },
                "events": events,
            }
        ],
    }


def dhl_not_found(number: str) -> dict[str, Any]:
    return {
        "title": "No result found",
        "detail": "No shipment with given tracking number found.",
        "status": 404,
        "instance": f"/shipment/{number}",
    }


# FedEx Track API v1.


def fedex_track(number: str, scans: list[Scan]) -> dict[str, Any]:
    def location(scan: Scan) -> dict[str, Any]:
        place = {
            "city": scan.city,
            "stateOrProvinceCode": scan.region,
            "postalCode": scan.postcode,
            "countryCode": scan.country,
        }
        return {k: v for k, v in place.items() if v is not None}

    newest_first = sorted(scans, key=lambda s: s.when, reverse=True)
    return {
        "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": number,
                    "trackResults": [
                        {
                            "trackingNumberInfo": {
                                "trackingNumber": number,
                                "carrierCode": "FDXG",
                            },
                            "latestStatusDetail": {
                                "code": newest_first[0].fedex,
                                "description": newest_first[0].description,
                            },
                            "serviceDetail": {"description": "FedEx Ground", "type": "GROUND"},
                            "scanEvents": [
                                {
                                    "date": scan.when.strftime("%Y-%m-%dT%H:%M:%S-06:00"),
                                    "eventType": scan.fedex,
                                    "eventDescription": scan.description,
                                    "scanLocation": location(scan),
                                }
                                for scan in newest_first
                            ],
                        }
                    ],
                }
            ]
        },
    }


def fedex_not_found(number: str) -> dict[str, Any]:
    return {
        "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": number,
                    "trackResults": [
                        {
                            "trackingNumberInfo": {"trackingNumber": number},
                            "error": {
                                "code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                                "message": "Tracking number cannot be found. Please correct "
                                "the tracking number and try again.",
                            },
                        }
                    ],
                }
            ]
        },
    }
