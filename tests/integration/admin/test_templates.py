"""The notification template editor: sandboxed, checked before saving, previewed."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from orderstatus.db.engine import Database
from orderstatus.db.models import Notification, NotificationTemplate, Shop
from orderstatus.domain.inputs import OrderInput
from orderstatus.domain.notifications import Kind
from orderstatus.notify.templates import default_source
from orderstatus.services.orders import create_order
from tests.conftest import ShopClient
from tests.factories import order_payload
from tests.integration.admin.conftest import Staff
from tests.integration.helpers import row_counts

EDITOR = "/admin/notifications/templates/shipping_confirmation/en"


def source(**parts: str) -> dict[str, str]:
    default = default_source(Kind.SHIPPING_CONFIRMATION, "en")
    return {"subject": default.subject, "html": default.html, "text": default.text, **parts}


async def saved_templates(database: Database) -> int:
    async with database.read() as session:
        return int(
            await session.scalar(select(func.count()).select_from(NotificationTemplate)) or 0
        )


async def test_the_editor_shows_the_default_and_a_preview(staff: Staff) -> None:
    page = await staff.http.get(EDITOR)
    assert page.status_code == 200
    assert "This is the default wording" in page.text
    assert "Your order #1001 is on its way" in page.text  # the sample order's subject
    assert "srcdoc=" in page.text and " sandbox " in page.text
    assert "status_url" in page.text and "shipment.tracking_url" in page.text
    sms = await staff.http.get("/admin/notifications/templates/order_confirmation/nb")
    assert sms.status_code == 200 and 'id="f-sms"' in sms.text
    assert (await staff.http.get("/admin/notifications/templates/nope/en")).status_code == 404
    assert (await staff.http.get("/admin/notifications/templates/delivered/de")).status_code == 404


async def test_a_template_is_saved_previewed_and_reset(staff: Staff, database: Database) -> None:
    preview = await staff.post(
        EDITOR,
        {
            **source(subject="Parcel {{ order.name }} for {{ order.first_name }}"),
            "action": "preview",
        },
    )
    assert preview.status_code == 200 and "Parcel #1001 for Kari" in preview.text
    assert await saved_templates(database) == 0
    saved = await staff.post(
        EDITOR, {**source(subject="Parcel {{ order.name }}"), "action": "save"}
    )
    assert saved.status_code == 303
    async with database.read() as session:
        row = await session.scalar(select(NotificationTemplate))
    assert row is not None and row.subject == "Parcel {{ order.name }}" and row.sms is None
    page = await staff.http.get(saved.headers["location"])
    assert "Your own wording." in page.text and "Template saved." in page.text
    reset = await staff.post(f"{EDITOR}/reset")
    assert reset.status_code == 303
    assert await saved_templates(database) == 0


@pytest.mark.parametrize(
    ("part", "template", "says"),
    [
        ("html", "{{ ''.__class__.__mro__ }}", "unsafe"),
        ("html", "{{ order.__class__.__init__.__globals__ }}", "unsafe"),
        ("text", "{{ cycler.__init__.__globals__.os }}", ""),
        ("subject", "{{ self._TemplateReference__context }}", ""),
        ("html", "{% import os %}", "line 1"),
        ("html", "Hi\n{% for x in order.items %}\n{{ x.title }\n{% endfor %}", "line 3"),
        ("text", "{% include '/etc/passwd' %}", ""),
        ("subject", "{{ order.nothing.at_all }}", ""),
        ("html", "{% set x = [].append %}{{ x(1) }}", "unsafe"),
    ],
)
async def test_unsafe_or_broken_templates_are_refused_with_the_reason(
    staff: Staff, database: Database, part: str, template: str, says: str
) -> None:
    await staff.token()
    before = await row_counts(database)
    response = await staff.post(EDITOR, {**source(**{part: template}), "action": "save"})
    assert response.status_code == 422
    assert f'id="e-{part}"' in response.text
    assert "Not saved" in response.text
    assert says in response.text
    assert "Nothing was saved" in response.text
    assert await row_counts(database) == before


async def test_notification_settings(staff: Staff, database: Database) -> None:
    page = await staff.http.get("/admin/notifications")
    assert page.status_code == 200 and "Mailbox" in page.text
    kinds = [k.value for k in Kind if k is not Kind.SHIPPING_UPDATE]
    response = await staff.post(
        "/admin/notifications/settings", {"kinds": kinds, "sms_confirmation_with_email": "1"}
    )
    assert response.status_code == 303
    async with database.read() as session:
        shop = await session.get_one(Shop, staff.shop_id)
    assert shop.notification_kinds_off == ["shipping_update"]
    assert shop.sms_confirmation_with_email


async def test_the_mailbox_shows_kept_messages(staff: Staff, database: Database) -> None:
    page = await staff.http.get("/admin/notifications/mailbox")
    assert page.status_code == 200 and "The mailbox is empty." in page.text
    assert (await staff.http.get("/admin/notifications/mailbox/999")).status_code == 404
    async with database.write() as session:
        shop = await session.get_one(Shop, staff.shop_id)
        await create_order(
            session=session, shop=shop, data=OrderInput.model_validate(order_payload()), actor="t"
        )
        row = await session.scalar(select(Notification))
        assert row is not None
        row.state = "held"
        row.payload = {"subject": "Order #1001 confirmed", "text": "Hi Kari", "html": "<p>Hi</p>"}
        held_id = row.id
    listing = await staff.http.get("/admin/notifications/mailbox")
    assert "Order #1001 confirmed" in listing.text and "kari@example.com" in listing.text
    message = await staff.http.get(f"/admin/notifications/mailbox/{held_id}")
    assert message.status_code == 200
    assert "Hi Kari" in message.text and 'srcdoc="&lt;p&gt;Hi&lt;/p&gt;"' in message.text


async def test_send_test_mails_the_edited_template_to_the_staff_member(
    staff: Staff, settings: object, api: object
) -> None:
    from tests.messaging import MailServer

    app = staff.http._transport.app  # type: ignore[attr-defined]
    without = await staff.post(EDITOR, {**source(), "action": "test"})
    assert without.status_code == 409 and "ORDERSTATUS_SMTP_URL" in without.text
    server = await MailServer().start()
    try:
        pages = app.state.pages
        pages.settings = pages.settings.model_copy(update={"smtp_url": server.url})
        sent = await staff.post(
            EDITOR,
            {
                **source(subject="Test of {{ order.name }} via {{ order_status_url }}"),
                "action": "test",
            },
        )
        assert sent.status_code == 200 and "A test message went to" in sent.text
        [message] = server.received
        assert message.subject.startswith("Test of #1001 via http")
    finally:
        await server.stop()


SLOW = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
"""A hundred million turns of a loop: far past the time budget, within the range cap."""
ENDLESS = (
    "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
HUGE = "{% for a in range(6000) %}lorem ipsum dolor sit amet, consectetur adipiscing {% endfor %}"


async def test_a_runaway_template_never_stalls_the_other_pages(
    staff: Staff, api: ShopClient, database: Database
) -> None:
    """The attack: a preview that loops for seconds used to block every shop's pages."""
    token = await staff.token()
    started = time.monotonic()
    preview = asyncio.create_task(
        staff.http.post(
            EDITOR, data={"csrf_token": token, **source(html=SLOW), "action": "preview"}
        )
    )
    await asyncio.sleep(0.2)
    asked = time.monotonic()
    health = await api.http.get("/healthz")
    answered = time.monotonic() - asked
    assert health.status_code == 200
    assert answered < 0.5, f"/healthz took {answered:.1f} s while a template ran"
    response = await preview
    assert time.monotonic() - started < 5
    assert response.status_code == 422
    assert 'id="e-html"' in response.text and "takes longer than 1 second" in response.text


@pytest.mark.parametrize(
    ("template", "says"),
    [
        (ENDLESS, "takes longer than 1 second"),
        (HUGE, "more than 256 KiB"),
        ("{% for a in range(100000) %}{% endfor %}", "range"),
        ("{{ 'x' * 1000000000 }}", "more than 256 KiB"),
        ("{{ 9 ** (9 ** 9) }}", "too large"),
        (
            "{% set s = namespace(t='ab') %}{% for i in range(60) %}{% set s.t = s.t ~ s.t %}"
            "{% endfor %}{{ s.t|length }}",
            "",
        ),
    ],
    ids=["endless", "huge", "range", "repeat", "power", "doubling"],
)
async def test_a_template_over_budget_is_refused_at_preview_and_save(
    staff: Staff, database: Database, template: str, says: str
) -> None:
    before = await row_counts(database)
    started = time.monotonic()
    preview = await staff.post(EDITOR, {**source(text=template), "action": "preview"})
    saved = await staff.post(EDITOR, {**source(text=template), "action": "save"})
    assert time.monotonic() - started < 8
    for response in (preview, saved):
        assert response.status_code == 422
        assert 'id="e-text"' in response.text and says in response.text
    assert "Nothing was saved" in saved.text
    assert await row_counts(database) == before
    fine = await staff.post(EDITOR, {**source(), "action": "preview"})
    assert fine.status_code == 200
