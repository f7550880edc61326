"""Rendering: a claimed row made into the message it stands for. The order, shop,
shipment and event it speaks of are read for a whole batch at once into plain facts,
then each job is rendered from the shop's own template (in the sandbox) or the
package's (in place) and built into an e-mail or an SMS."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import formataddr

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from orderstatus.config import Settings
from orderstatus.db.engine import Database
from orderstatus.db.models import (
    Fulfillment,
    NotificationTemplate,
    Order,
    PushSubscription,
    Shop,
    TrackingEvent,
)
from orderstatus.domain.notifications import SHIPMENT_KINDS, Channel, Kind, State
from orderstatus.notify import context as ctx
from orderstatus.notify import markup
from orderstatus.notify.email import build_message, message_bytes, message_id
from orderstatus.notify.jobs import Job, Outcome
from orderstatus.notify.sandbox import sandbox
from orderstatus.notify.templates import (
    Renderer,
    TemplateError,
    TemplateSource,
    default_push,
    default_source,
    language_of,
)
from orderstatus.notify.webpush import Subscription

log = logging.getLogger("orderstatus.notify")


@dataclass(slots=True)
class Loaded:
    """What a batch of jobs speaks of, by id."""

    orders: dict[int, ctx.OrderFacts]
    shops: dict[int, ctx.ShopFacts]
    shipments: dict[int, ctx.ShipmentFacts]
    events: dict[int, ctx.EventFacts]
    templates: dict[tuple[int, str, str], TemplateSource]
    devices: dict[int, Device]


@dataclass(frozen=True, slots=True)
class Device:
    """A push subscription as the worker needs it."""

    order_id: int
    subscription: Subscription
    locale: str | None


async def load(database: Database, jobs: Sequence[Job]) -> Loaded:
    order_ids = {j.order_id for j in jobs}
    device_ids = {
        int(j.recipient) for j in jobs if j.channel is Channel.PUSH and j.recipient.isdigit()
    }
    shop_ids = {j.shop_id for j in jobs}
    shipment_ids = {j.fulfillment_id for j in jobs if j.fulfillment_id is not None}
    async with database.read() as session:
        orders = (
            await session.scalars(
                select(Order).where(Order.id.in_(order_ids)).options(selectinload(Order.line_items))
            )
        ).all()
        shops = (await session.scalars(select(Shop).where(Shop.id.in_(shop_ids)))).all()
        fulfillments: Sequence[Fulfillment] = []
        latest: dict[int, TrackingEvent] = {}
        if shipment_ids:
            fulfillments = (
                await session.scalars(
                    select(Fulfillment)
                    .where(Fulfillment.id.in_(shipment_ids))
                    .options(selectinload(Fulfillment.items))
                )
            ).all()
            events = await session.scalars(
                select(TrackingEvent)
                .where(TrackingEvent.fulfillment_id.in_(shipment_ids))
                .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc())
            )
            for event in events:
                latest.setdefault(event.fulfillment_id, event)
        event_ids = {j.cause["event_id"] for j in jobs if j.cause.get("event_id")}
        causes: Sequence[TrackingEvent] = []
        if event_ids:
            causes = (
                await session.scalars(select(TrackingEvent).where(TrackingEvent.id.in_(event_ids)))
            ).all()
        devices: Sequence[PushSubscription] = []
        if device_ids:
            devices = (
                await session.scalars(
                    select(PushSubscription).where(PushSubscription.id.in_(device_ids))
                )
            ).all()
        templates = (
            await session.scalars(
                select(NotificationTemplate).where(
                    NotificationTemplate.shop_id.in_(shop_ids),
                    NotificationTemplate.kind.in_({j.kind.value for j in jobs}),
                )
            )
        ).all()
    return Loaded(
        orders={o.id: order_facts(o) for o in orders},
        shops={s.id: shop_facts(s) for s in shops},
        shipments={f.id: shipment_facts(f, latest.get(f.id)) for f in fulfillments},
        events={e.id: event_facts(e) for e in causes},
        templates={
            (t.shop_id, t.kind, t.locale): TemplateSource(t.subject, t.text, t.html, t.sms)
            for t in templates
        },
        devices={
            d.id: Device(d.order_id, Subscription(d.endpoint, d.p256dh, d.auth), d.locale)
            for d in devices
        },
    )


class Composer:
    """Renders jobs in place: a job ready to send, or the outcome when it must not be."""

    def __init__(self, settings: Settings, sender: str) -> None:
        self.settings = settings
        self.sender = sender
        self._secret_key = settings.resolved_secret_key() if settings.link_days else None
        self.renderer = Renderer()
        """The package's own templates, rendered in place."""
        self.sandbox = sandbox
        """The shop's own templates, rendered apart with a time budget."""

    def _rights(self, channel: Channel) -> ctx.LinkRights:
        """Links in messages rendered now open the owner's view from now on for the
        configured days, and say which kind of message they came in (a push's clicks
        count as other links)."""
        via = {Channel.SMS: "s", Channel.PUSH: "p"}.get(channel, "e")
        return ctx.LinkRights(self._secret_key, self.settings.link_days, datetime.now(UTC), via)

    async def prepare(self, job: Job, loaded: Loaded) -> Outcome | None:
        """Render the job in place; an outcome when it must not be sent."""
        order = loaded.orders.get(job.order_id)
        shop = loaded.shops.get(job.shop_id)
        shipment = loaded.shipments.get(job.fulfillment_id) if job.fulfillment_id else None
        if order is None or shop is None or (job.fulfillment_id and shipment is None):
            return Outcome(job, State.SKIPPED, error="the order or shipment no longer exists")
        if shipment is not None and shipment.cancelled:
            return Outcome(job, State.SKIPPED, error="the shipment was cancelled")
        if shipment is not None and job.kind is Kind.SHIPPING_CONFIRMATION:
            shipment = replace(shipment, latest_event=None)
        elif shipment is not None and job.cause.get("status"):
            event = loaded.events.get(job.cause.get("event_id") or 0)
            shipment = replace(
                shipment,
                status=str(job.cause["status"]),
                latest_event=event or shipment.latest_event,
            )
        if job.channel is Channel.PUSH:
            return self._prepare_push(job, loaded, order, shop, shipment)
        language = language_of(order.locale, shop.default_locale)
        own = loaded.templates.get((job.shop_id, job.kind.value, language))
        source = own or default_source(job.kind, language)
        try:
            values = ctx.build(
                kind=job.kind,
                language=language,
                order=order,
                shop=shop,
                shipment=shipment,
                base_url=self.settings.base_url,
                rights=self._rights(job.channel),
            )
            if job.channel is Channel.SMS:
                job.sms = (
                    await self.sandbox.sms(source, values)
                    if own
                    else self.renderer.sms(source, values)
                )
                sms_from = self.settings.sms_from or ""
                job.summary = {"body": job.sms.body, "segments": job.sms.segments}
                job.mailbox = {
                    "from": sms_from,
                    "to": job.recipient,
                    "body": job.sms.body,
                    "encoding": job.sms.encoding,
                    "segments": job.sms.segments,
                }
                return None
            rendered = (
                await self.sandbox.email(source, values)
                if own
                else self.renderer.email(source, values)
            )
            if shipment is not None and job.kind in SHIPMENT_KINDS:
                delivery = markup.parcel_delivery(
                    order=order, shop=shop, shipment=shipment, values=values
                )
                rendered = replace(rendered, html=markup.embed(rendered.html, delivery))
        except TemplateError as exc:
            return Outcome(job, State.FAILED, error=str(exc))
        except Exception as exc:
            log.exception("cannot render notification %d", job.id)
            return Outcome(job, State.FAILED, error=f"cannot render: {type(exc).__name__}: {exc}")
        mid = message_id(job.key, job.created_at, self.sender)
        message = build_message(
            rendered,
            sender=self.sender,
            sender_name=shop.name,
            recipient=job.recipient,
            reply_to=shop.contact_email,
            message_id=mid,
            language=language,
        )
        job.email = message_bytes(message)
        job.summary = {"subject": rendered.subject, "message_id": mid}
        job.mailbox = {
            "from": formataddr((shop.name, self.sender)),
            "to": job.recipient,
            "reply_to": shop.contact_email,
            "subject": rendered.subject,
            "text": rendered.text,
            "html": rendered.html,
            "message_id": mid,
            "date": str(message["Date"]),
        }
        return None

    def _prepare_push(
        self,
        job: Job,
        loaded: Loaded,
        order: ctx.OrderFacts,
        shop: ctx.ShopFacts,
        shipment: ctx.ShipmentFacts | None,
    ) -> Outcome | None:
        """A push: title, short body, the shop's icon and the page's pre-authenticated
        link, in the language the device asked in, from our own wording only."""
        device = loaded.devices.get(int(job.recipient)) if job.recipient.isdigit() else None
        if device is None or device.order_id != job.order_id:
            return Outcome(job, State.SKIPPED, error="the device turned these notifications off")
        language = language_of(device.locale or order.locale, shop.default_locale)
        base_url = self.settings.base_url
        try:
            values = ctx.build(
                kind=job.kind,
                language=language,
                order=order,
                shop=shop,
                shipment=shipment,
                base_url=base_url,
                rights=self._rights(job.channel),
            )
            rendered = self.renderer.push(default_push(job.kind, language), ctx.for_push(values))
        except Exception as exc:
            log.exception("cannot render notification %d", job.id)
            return Outcome(job, State.FAILED, error=f"cannot render: {type(exc).__name__}: {exc}")
        message = push_message(
            title=rendered.title,
            body=rendered.body,
            icon=f"{base_url}/media/{shop.logo_path}" if shop.logo_path else None,
            url=values["status_url"],
            tag=f"order-{order.number}-{job.fulfillment_id or 0}",
            language=language,
        )
        job.push = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        job.device = device.subscription
        job.summary = {"title": rendered.title, "body": rendered.body}
        return None


def push_message(
    *, title: str, body: str, icon: str | None, url: str, tag: str, language: str
) -> dict[str, str]:
    """What the service worker shows (static/push-sw.js): the notification and where a
    click goes. The icon is the shop's logo, else the browser shows the site's own."""
    message = {"title": title, "body": body, "url": url, "tag": tag, "lang": language}
    if icon:
        message["icon"] = icon
    return message


# -- facts from rows (plain values the renderer can hold after the session closes) ----


def order_facts(order: Order) -> ctx.OrderFacts:
    address = order.shipping_address or {}
    return ctx.OrderFacts(
        id=order.id,
        number=order.number,
        status_token=order.status_token,
        locale=order.locale,
        currency=order.currency,
        first_name=order.customer_first_name,
        last_name=order.customer_last_name,
        phone=order.phone,
        created_at=order.created_at,
        subtotal=order.subtotal,
        shipping_total=order.shipping_total,
        discount_total=order.discount_total,
        tax_total=order.tax_total,
        taxes_included=order.taxes_included,
        total=order.total,
        fulfillment_status=order.fulfillment_status,
        shipping_zip=address.get("zip"),
        shipping_country=address.get("country_code"),
        shipping_address=order.shipping_address,
        items=[
            ctx.ItemFacts(i.id, i.title, i.variant, i.quantity, i.unit_price, i.image_url)
            for i in order.line_items
        ],
    )


def shop_facts(shop: Shop) -> ctx.ShopFacts:
    return ctx.ShopFacts(
        name=shop.name,
        handle=shop.handle,
        logo_path=shop.logo_path,
        accent_color=shop.accent_color,
        contact_email=shop.contact_email,
        website_url=shop.website_url,
        timezone=shop.timezone,
        default_locale=shop.default_locale,
    )


def event_facts(event: TrackingEvent) -> ctx.EventFacts:
    return ctx.EventFacts(
        event.status, event.occurred_at, event.message, event.city, event.country_code
    )


def shipment_facts(fulfillment: Fulfillment, latest: TrackingEvent | None) -> ctx.ShipmentFacts:
    return ctx.ShipmentFacts(
        id=fulfillment.id,
        status=fulfillment.status,
        carrier_code=fulfillment.carrier_code,
        tracking_number=fulfillment.tracking_number,
        tracking_url=fulfillment.tracking_url,
        estimated_delivery=fulfillment.estimated_delivery,
        items=[(i.line_item_id, i.quantity) for i in fulfillment.items],
        latest_event=event_facts(latest) if latest is not None else None,
        cancelled=fulfillment.cancelled_at is not None,
    )
