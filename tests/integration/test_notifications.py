"""Notifications end to end: orders, shipments and events through the REST API, the
worker delivering to a real SMTP server and a real SMS endpoint, counted where they land.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, Notification, NotificationTemplate, Shop
from orderstatus.domain.errors import Conflict, Invalid
from orderstatus.domain.notifications import sms_length
from orderstatus.notify.templates import TemplateSource
from orderstatus.notify.worker import Worker, WorkerConfig
from orderstatus.services import notifications
from tests.conftest import ShopClient
from tests.integration.helpers import create_order, fulfil
from tests.messaging import MailServer, Received, SmsEndpoint

KEY = re.compile(r"<o(\d+)\.f(\d+)\.([a-z_]+)\.(email|sms)\.")
FAST = WorkerConfig(
    backoff_base=0.02, backoff_cap=0.1, lease=15, send_timeout=5, poll_interval=0.05
)


def soon(minutes: float) -> str:
    """Carrier times after the shipment reached us: news, not history."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def kinds(received: list[Received]) -> Counter[tuple[int, str]]:
    """(fulfilment id, kind) of each message, read from its Message-ID."""
    found: Counter[tuple[int, str]] = Counter()
    for message in received:
        match = KEY.match(message.message_id)
        assert match, message.message_id
        found[(int(match.group(2)), match.group(3))] += 1
    return found


@pytest.fixture
async def sms() -> AsyncIterator[SmsEndpoint]:
    endpoint = await SmsEndpoint().start()
    yield endpoint
    await endpoint.stop()


@pytest.fixture
def notify_settings(settings: Settings, mail: MailServer, sms: SmsEndpoint) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": mail.url,
            "smtp_from": "orders@status.example.test",
            "sms_url": sms.url,
            "sms_from": "Acme",
        }
    )


@pytest.fixture
async def worker(database: Database, notify_settings: Settings) -> AsyncIterator[Worker]:
    w = Worker(database, notify_settings, FAST)
    yield w
    await w.close()


async def event(api: ShopClient, fulfillment: dict[str, Any], status: str, minutes: float) -> None:
    response = await api.http.post(
        f"/api/v1/fulfillments/{fulfillment['id']}/events",
        json={"status": status, "occurred_at": soon(minutes), "message": f"{status} scan"},
    )
    assert response.status_code in (200, 201), response.text


async def opens_the_order(api: ShopClient, link: str, order: dict[str, Any]) -> None:
    """The link is the order's page, pre-authenticated: it makes the browser the owner
    and shows the order at its plain address."""
    assert link.startswith(order["status_page_url"] + "?key=")
    parts = urlsplit(link)
    async with httpx.AsyncClient(transport=api.http._transport, base_url="https://x") as browser:
        opened = await browser.get(f"{parts.path}?{parts.query}")
        assert opened.status_code == 303 and opened.headers["location"] == parts.path
        assert opened.headers["set-cookie"].startswith("os_owner=")
        page = await browser.get(parts.path)
    assert page.status_code == 200
    assert f'action="{parts.path}/sign-out"' in page.text  # the owner's view


async def rows(database: Database, order_id: int) -> list[Notification]:
    async with database.read() as session:
        return list(
            await notifications.list_notifications(
                session, shop_id=await shop_of(database, order_id), order_id=order_id
            )
        )


async def shop_of(database: Database, order_id: int) -> int:
    async with database.read() as session:
        shop_id = await session.scalar(
            select(Notification.shop_id).where(Notification.order_id == order_id).limit(1)
        )
    assert shop_id is not None
    return int(shop_id)


async def test_an_email_customer_gets_the_confirmation_and_each_update_once(
    api: ShopClient, mail: MailServer, sms: SmsEndpoint, worker: Worker
) -> None:
    order = await create_order(api.http)  # kari@example.com, nb-NO
    assert (await worker.drain())["sent"] == 1
    first = await fulfil(api.http, order, [(0, 1)], carrier="bring", tracking_number="TESTPAK1")
    second = await fulfil(api.http, order, [(1, 1), (2, 1)], carrier="ups")
    for minutes, status in enumerate(["in_transit", "out_for_delivery", "out_for_delivery"]):
        await event(api, first, status, minutes)
    await worker.drain()
    await event(api, first, "delivered", 10)
    await event(api, first, "delivered", 10)  # a repeat changes nothing
    await event(api, second, "delayed", 1)
    await event(api, second, "attempted_delivery", 2)  # one shipping update per shipment
    await event(api, second, "ready_for_pickup", 3)
    await worker.drain()
    assert await worker.drain() == Counter()

    assert kinds(mail.received) == {
        (0, "order_confirmation"): 1,
        (first["id"], "shipping_confirmation"): 1,
        (second["id"], "shipping_confirmation"): 1,
        (first["id"], "out_for_delivery"): 1,
        (first["id"], "delivered"): 1,
        (second["id"], "shipping_update"): 1,
        (second["id"], "ready_for_pickup"): 1,
    }
    assert set(mail.ids().values()) == {1}
    assert all(m.recipients == ["kari@example.com"] for m in mail.received)
    assert sms.received == []
    subjects = {m.subject for m in mail.received}
    assert "Bestilling #1001 er bekreftet" in subjects
    assert "Bestillingen din #1001 er levert" in subjects
    for message in mail.received:
        assert message.message["From"].addresses[0].display_name == "Acme"
        assert message.message["Date"] and message.message.get_content_type() == (
            "multipart/alternative"
        )
        assert [p.get_content_charset() for p in message.message.iter_parts()] == ["utf-8"] * 2
        (link,) = message.links()
        await opens_the_order(api, link, order)
    shipped = next(
        m for m in mail.received if kinds([m]) == {(first["id"], "shipping_confirmation"): 1}
    )
    assert "Mug" in shipped.part("plain") and "Scarf" not in shipped.part("plain")
    assert "TESTPAK1" in shipped.part("html")
    update = next(m for m in mail.received if "shipping_update" in m.message_id)
    assert "forsinket" in update.part("plain") and "delayed scan" in update.part("plain")


async def test_an_order_number_that_looks_like_an_encoded_word_shows_as_given(
    api: ShopClient, mail: MailServer, worker: Worker
) -> None:
    await create_order(api.http, number="=?utf-8?q?BETALT_x?=", locale="en")
    assert (await worker.drain())["sent"] == 1
    (message,) = mail.received
    assert message.subject == "Order #=?utf-8?q?BETALT_x?= confirmed"
    assert "BETALT x" not in message.subject


async def test_a_shipping_confirmation_never_overtakes_the_order_confirmation(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    deferred: list[str] = []

    def first_confirmation(message: EmailMessage) -> bool:
        if "order_confirmation" in str(message["Message-ID"]) and not deferred:
            deferred.append(str(message["Message-ID"]))
            return True
        return False

    mail.defer = first_confirmation
    order = await create_order(api.http, number="Q1")
    shipment = await fulfil(api.http, order, [(0, 1)])  # at once, before the worker runs
    await worker.run_once()
    assert deferred and mail.received == []  # the confirmation waits, and so does the rest
    confirmation = next(n for n in await rows(database, order["id"]) if n.fulfillment_id is None)
    assert confirmation.state == "pending" and "451" in (confirmation.last_error or "")
    await worker.drain(retries=True)
    assert [kinds([m]) for m in mail.received] == [
        {(0, "order_confirmation"): 1},
        {(shipment["id"], "shipping_confirmation"): 1},
    ]


async def test_a_failed_order_confirmation_does_not_hold_back_the_shipping_messages(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    mail.defer = lambda message: "order_confirmation" in str(message["Message-ID"])
    order = await create_order(api.http, number="Q2")
    await worker.drain()
    async with database.write() as session:
        await session.execute(
            update(Notification)
            .where(Notification.order_id == order["id"])
            .values(state="failed", last_error="gave up")
        )
    mail.defer = None
    shipment = await fulfil(api.http, order, [(0, 1)])
    await worker.drain()
    assert kinds(mail.received) == {(shipment["id"], "shipping_confirmation"): 1}


async def test_a_domain_outside_ascii_is_sent_as_idna_to_any_server(
    api: ShopClient, mail: MailServer, worker: Worker
) -> None:
    order = await create_order(api.http, email="kari@blåbær.no", number="U1")
    assert await worker.drain() == Counter({"sent": 1})
    (message,) = mail.received
    assert message.recipients == ["kari@xn--blbr-roah.no"] and not message.smtputf8
    assert message.message["To"].addresses[0].addr_spec == "kari@xn--blbr-roah.no"
    (link,) = message.links()
    await opens_the_order(api, link, order)


async def test_a_name_outside_ascii_before_the_at_goes_with_smtputf8_when_offered(
    api: ShopClient, database: Database, notify_settings: Settings
) -> None:
    server = await MailServer(smtputf8=True).start()
    worker = Worker(database, notify_settings.model_copy(update={"smtp_url": server.url}), FAST)
    try:
        await create_order(api.http, email="kåre@blåbær.no", number="U2")
        await create_order(api.http, email="kari@example.com", number="U3")
        done = await worker.drain()
    finally:
        await worker.close()
        await server.stop()
    assert server.malformed == []
    assert done == Counter({"sent": 2})
    unicode = server.to("kåre@xn--blbr-roah.no")
    assert [m.smtputf8 for m in unicode] == [True]
    assert unicode[0].message["To"].addresses[0].addr_spec == "kåre@blåbær.no"
    assert unicode[0].subject == "Bestilling #U2 er bekreftet"
    assert [m.smtputf8 for m in server.to("kari@example.com")] == [False]


async def test_a_name_outside_ascii_fails_for_good_where_the_server_lacks_smtputf8(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    order = await create_order(api.http, email="kåre@example.no", number="U4")
    assert await worker.drain(retries=True) == Counter({"failed": 1})
    (row,) = await rows(database, order["id"])
    assert row.state == "failed" and row.attempts == 1
    assert row.last_error is not None and "SMTPUTF8" in row.last_error
    assert mail.received == [] and mail.malformed == []
    async with database.read() as session:
        timeline = (
            await session.scalars(select(Activity.message).where(Activity.order_id == order["id"]))
        ).all()
    assert any("failed" in m and "SMTPUTF8" in m for m in timeline)


async def test_a_phone_only_customer_gets_one_text_then_emails_after_opting_in(
    api: ShopClient, mail: MailServer, sms: SmsEndpoint, worker: Worker, database: Database
) -> None:
    order = await create_order(api.http, email=None, phone="+47 412 34 567")
    shipment = await fulfil(api.http, order, [(0, 1), (1, 1), (2, 1)], carrier="posten")
    await event(api, shipment, "out_for_delivery", 1)
    await worker.drain()
    assert mail.received == []
    (text,) = sms.received
    assert text["To"] == "+4741234567" and text["From"] == "Acme"
    assert "Acme" in text["Body"] and "#1001" in text["Body"]
    assert sms_length(text["Body"]).segments == 1
    assert text["Idempotency-Key"] == f"o{order['id']}.f0.order_confirmation.sms"
    (link,) = re.findall(r"https?://\S+", text["Body"])
    await opens_the_order(api, link, order)

    await opt_in(api, order, "sofie@example.com")
    await event(api, shipment, "delivered", 5)
    await worker.drain()
    assert len(sms.received) == 1
    (delivered,) = mail.received
    assert delivered.recipients == ["sofie@example.com"]
    assert kinds([delivered]) == {(shipment["id"], "delivered"): 1}
    assert delivered.subject == "Bestillingen din #1001 er levert"
    sent = [(n.kind, n.channel, n.state) for n in await rows(database, order["id"])]
    assert sent == [("order_confirmation", "sms", "sent"), ("delivered", "email", "sent")]


async def test_a_shop_named_outside_gsm7_still_texts_one_segment(
    api: ShopClient, sms: SmsEndpoint, worker: Worker, database: Database
) -> None:
    async with database.write() as session:
        await session.execute(update(Shop).where(Shop.id == api.shop_id).values(name="Sámi Duodji"))
    order = await create_order(api.http, email=None, phone="+4741234567", number="S1")
    assert await worker.drain() == Counter({"sent": 1})
    (text,) = sms.received
    length = sms_length(text["Body"])
    assert (length.encoding, length.segments) == ("gsm7", 1)
    assert text["Body"].startswith("Sami Duodji: Takk for bestillingen #S1!")
    link = text["Body"].rsplit(" ", 1)[1]
    assert link.startswith(order["status_page_url"] + "?key=")
    await opens_the_order(api, link, order)


async def opt_in(api: ShopClient, order: dict[str, Any], email: str) -> None:
    path = urlsplit(order["status_page_url"]).path
    signer = api.http._transport.app.state.pages.signer  # type: ignore[attr-defined]
    async with httpx.AsyncClient(
        transport=api.http._transport, base_url="https://testserver"
    ) as browser:
        browser.cookies.set("os_owner", signer.owner_value(order["id"]), path=path)
        page = await browser.get(path)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "no form on the owner's page"
        done = await browser.post(
            f"{path}/updates", data={"email": email, "csrf_token": token.group(1)}
        )
        assert done.status_code == 303, done.text


async def test_both_contacts_get_the_text_confirmation_only_when_the_merchant_asks(
    api: ShopClient, mail: MailServer, sms: SmsEndpoint, worker: Worker, database: Database
) -> None:
    await create_order(api.http, phone="+4741234567", number="A1")
    await worker.drain()
    assert len(mail.received) == 1 and sms.received == []
    async with database.write() as session:
        await notifications.update_notification_settings(
            session,
            shop_id=api.shop_id,
            kinds_off=[],
            sms_confirmation_with_email=True,
            actor="staff@example.com",
        )
    await create_order(api.http, phone="+4741234567", number="A2")
    await worker.drain()
    assert len(mail.received) == 2
    (text,) = sms.received
    assert "#A2" in text["Body"]


async def test_the_merchant_can_turn_kinds_off(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    async with database.write() as session:
        await notifications.update_notification_settings(
            session,
            shop_id=api.shop_id,
            kinds_off=["shipping_confirmation", "out_for_delivery"],
            sms_confirmation_with_email=False,
            actor="staff@example.com",
        )
        with pytest.raises(Invalid, match="unknown notification kinds nope"):
            await notifications.update_notification_settings(
                session,
                shop_id=api.shop_id,
                kinds_off=["nope"],
                sms_confirmation_with_email=False,
                actor="staff@example.com",
            )
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)])
    await event(api, shipment, "out_for_delivery", 1)
    await event(api, shipment, "delivered", 2)
    await worker.drain()
    assert sorted(k for _f, k in kinds(mail.received)) == ["delivered", "order_confirmation"]


async def test_each_order_is_written_to_in_its_language(
    api: ShopClient, mail: MailServer, worker: Worker
) -> None:
    await create_order(api.http, locale="en-GB", email="en@example.com", number="E1")
    await create_order(api.http, locale="nn", email="nn@example.com", number="N1")
    await create_order(api.http, locale="de", email="de@example.com", number="D1")
    await worker.drain()
    assert mail.to("en@example.com")[0].subject == "Order #E1 confirmed"
    assert mail.to("nn@example.com")[0].subject == "Bestilling #N1 er bekreftet"
    assert mail.to("de@example.com")[0].subject == "Order #D1 confirmed"  # the shop's language
    assert "Hei Kari" in mail.to("nn@example.com")[0].part("plain")
    assert mail.to("nn@example.com")[0].message["Content-Language"] == "nb"


async def test_a_shipment_the_merchant_keeps_quiet_sends_nothing(
    api: ShopClient, mail: MailServer, worker: Worker
) -> None:
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)], notify_customer=False)
    await event(api, shipment, "out_for_delivery", 1)
    await event(api, shipment, "delivered", 2)
    await worker.drain()
    assert [k for _f, k in kinds(mail.received)] == ["order_confirmation"]


async def test_nothing_for_a_shipment_already_delivered_when_it_reached_us(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    order = await create_order(api.http, number="H1")
    await worker.drain()
    late = await fulfil(api.http, order, [(0, 1)])
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await api.http.post(
        f"/api/v1/fulfillments/{late['id']}/events",
        json={"status": "delivered", "occurred_at": past},
    )
    local = await fulfil(api.http, order, [(1, 1)], carrier="local van")
    await event(api, local, "delivered", 30)  # delivered by hand after shipping: news
    await worker.drain()
    assert kinds(mail.received) == {
        (0, "order_confirmation"): 1,
        (local["id"], "shipping_confirmation"): 1,
        (local["id"], "delivered"): 1,
    }
    skipped = [n for n in await rows(database, order["id"]) if n.state == "skipped"]
    assert [(n.fulfillment_id, n.kind) for n in skipped] == [(late["id"], "shipping_confirmation")]
    assert skipped[0].last_error == "the shipment was already delivered when it reached us"


async def test_without_smtp_messages_are_kept_in_the_mailbox_and_can_be_sent_later(
    api: ShopClient, database: Database, settings: Settings, mail: MailServer, sms: SmsEndpoint
) -> None:
    order = await create_order(api.http, phone="+4741234567", number="M1")
    phone_only = await create_order(api.http, email=None, phone="+4741234568", number="M2")
    keeping = Worker(database, settings, FAST)
    assert (await keeping.drain())["held"] == 2
    async with database.read() as session:
        kept = await notifications.mailbox(session, shop_id=api.shop_id)
    by_to = {n.recipient: n.payload or {} for n in kept}
    email = by_to["kari@example.com"]
    assert email["subject"] == "Bestilling #M1 er bekreftet"
    assert order["status_page_url"] in email["text"] and order["status_page_url"] in email["html"]
    text_link = by_to["+4741234568"]["body"].rsplit(" ", 1)[1]
    assert text_link.startswith(phone_only["status_page_url"] + "?key=")
    async with database.read() as session:
        timeline = (
            await session.scalars(select(Activity.message).where(Activity.order_id == order["id"]))
        ).all()
    assert any("kept in the mailbox (no SMTP server configured)" in m for m in timeline)

    sending = Worker(
        database,
        settings.model_copy(
            update={"smtp_url": mail.url, "sms_url": sms.url, "sms_from": "+4790000000"}
        ),
        FAST,
    )
    async with database.write() as session:
        for row in kept:
            await notifications.resend_notification(
                session, shop_id=api.shop_id, notification_id=row.id, actor="staff"
            )
        with pytest.raises(Conflict):
            await notifications.resend_notification(
                session, shop_id=api.shop_id, notification_id=kept[0].id, actor="staff"
            )
    assert (await sending.drain())["sent"] == 2
    await sending.close()
    assert len(mail.received) == 1 and len(sms.received) == 1
    assert mail.received[0].message_id == email["message_id"]


async def test_a_template_that_breaks_fails_its_message_not_the_worker(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    broken = TemplateSource(
        subject="{{ shipment.event.message }} for {{ order.name }}",  # no event yet: None
        text="{{ order.name }}",
        html="<p>{{ order.name }}</p>",
    )
    async with database.write() as session:
        session.add(
            NotificationTemplate(
                shop_id=api.shop_id,
                kind="shipping_confirmation",
                locale="nb",
                subject=broken.subject,
                text=broken.text,
                html=broken.html,
            )
        )
    order = await create_order(api.http)
    shipment = await fulfil(api.http, order, [(0, 1)])
    await event(api, shipment, "out_for_delivery", 1)
    done = await worker.drain()
    assert done == Counter({"sent": 2, "failed": 1})
    failed = next(n for n in await rows(database, order["id"]) if n.state == "failed")
    assert failed.kind == "shipping_confirmation"
    assert failed.last_error is not None
    assert failed.last_error.startswith("the subject template has an error")
    assert "message" in failed.last_error

    async with database.write() as session:
        await notifications.reset_template(
            session, shop_id=api.shop_id, kind="shipping_confirmation", language="nb", actor="s"
        )
        await notifications.resend_notification(
            session, shop_id=api.shop_id, notification_id=failed.id, actor="staff"
        )
    assert await worker.drain() == Counter({"sent": 1})
    assert sorted(k for _f, k in kinds(mail.received)) == [
        "order_confirmation",
        "out_for_delivery",
        "shipping_confirmation",
    ]


async def test_a_template_shows_the_phone_number_in_international_format(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    async with database.write() as session:
        session.add(
            NotificationTemplate(
                shop_id=api.shop_id,
                kind="order_confirmation",
                locale="nb",
                subject="{{ order.name }}: we call {{ customer.phone }}",
                text="{{ order.phone }}",
                html="<p>{{ order.phone }}</p>",
            )
        )
    await create_order(api.http, phone="+4791234567")
    await create_order(api.http, number="P2")
    await worker.drain()
    by_subject = sorted(m.subject for m in mail.received)
    assert by_subject == ["#1001: we call +47 91 23 45 67", "#P2: we call None"]


async def test_the_editor_refuses_a_template_that_cannot_render(
    api: ShopClient, database: Database
) -> None:
    base = "https://status.example.test"
    async with database.write() as session:
        current = await notifications.get_template(
            session, shop_id=api.shop_id, kind="delivered", language="en"
        )
        assert current.is_default and "{% extends layout %}" in current.source.html
        for bad, part in [
            ("{{ order.name", "subject"),
            ("{{ ''.__class__.__mro__ }}", "subject"),
            ("{{ ordr.name }}", "subject"),
        ]:
            with pytest.raises(Invalid) as refused:
                await notifications.save_template(
                    session,
                    shop_id=api.shop_id,
                    kind="delivered",
                    language="en",
                    source=TemplateSource(bad, current.source.text, current.source.html),
                    base_url=base,
                    actor="staff",
                )
            assert refused.value.fields and part in refused.value.fields
        saved = await notifications.save_template(
            session,
            shop_id=api.shop_id,
            kind="delivered",
            language="en",
            source=TemplateSource(
                "Here: {{ order.name }}", current.source.text, current.source.html
            ),
            base_url=base,
            actor="staff",
        )
        assert not saved.is_default
        preview = await notifications.preview_template(
            session,
            shop_id=api.shop_id,
            kind="delivered",
            language="en",
            source=saved.source,
            base_url=base,
        )
        assert preview.email.subject == "Here: #1001"
        again = await notifications.get_template(
            session, shop_id=api.shop_id, kind="delivered", language="en"
        )
        assert again.source.subject == "Here: {{ order.name }}"


async def test_a_refused_recipient_fails_at_once_and_a_busy_provider_is_retried(
    api: ShopClient, mail: MailServer, sms: SmsEndpoint, worker: Worker, database: Database
) -> None:
    mail.refuse.add("nobody@example.com")
    order = await create_order(api.http, email="nobody@example.com", number="R1")
    sms.fail_with = 503
    texted = await create_order(api.http, email=None, phone="+4741234567", number="R2")
    assert await worker.run_once() == 2
    by_order = {n.order_id: n for o in (order, texted) for n in await rows(database, o["id"])}
    refused = by_order[order["id"]]
    assert refused.state == "failed" and refused.attempts == 1
    assert refused.last_error is not None and "550" in refused.last_error
    busy = by_order[texted["id"]]
    assert busy.state == "pending" and busy.attempts == 1
    assert busy.last_error is not None and "503" in busy.last_error
    sms.fail_with = None
    assert await worker.drain(retries=True) == Counter({"sent": 1})
    assert len(sms.received) == 1 and mail.received == []


async def test_a_runaway_template_fails_its_message_within_the_budget(
    api: ShopClient, mail: MailServer, worker: Worker, database: Database
) -> None:
    """A template stored before the budget existed (or written to the database by hand)
    that never ends: the worker gives up on that message after about a second."""
    endless = (
        "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    )
    async with database.write() as session:
        session.add(
            NotificationTemplate(
                shop_id=api.shop_id,
                kind="shipping_confirmation",
                locale="nb",
                subject="Sendt {{ order.name }}",
                text=endless,
                html="<p>{{ order.name }}</p>",
            )
        )
    order = await create_order(api.http)
    await fulfil(api.http, order, [(0, 1)])
    started = time.monotonic()
    done = await worker.drain()
    assert time.monotonic() - started < 10
    assert done == Counter({"sent": 1, "failed": 1})
    failed = next(n for n in await rows(database, order["id"]) if n.state == "failed")
    assert failed.last_error == "the text template takes longer than 1 second to render"
    assert [k for _f, k in kinds(mail.received)] == ["order_confirmation"]
