"""Insights: what the shop's orders, deliveries, messages and pages say over a period,
with charts drawn on the server and a CSV of the same figures."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from orderstatus.carriers.registry import get_carrier
from orderstatus.domain.insights import Period, column_chart, period, row_chart
from orderstatus.i18n import N_, zone
from orderstatus.services import insights
from orderstatus.web.admin.common import gettext
from orderstatus.web.admin.forms import Admin, AdminDep

router = APIRouter(prefix="/admin/insights", include_in_schema=False)

PRESETS = (7, 30, 90, 365)


def _carrier_name(code: str) -> str:
    carrier = get_carrier(code)
    return carrier.name if carrier is not None else code


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _period(admin: Admin) -> tuple[Period, int | None]:
    params = admin.request.query_params
    today = datetime.now(zone(admin.staff.shop_timezone)).date()
    days = params.get("days", "")
    if days.isascii() and days.isdigit() and int(days) in PRESETS:
        return period(None, None, today, default_days=int(days)), int(days)
    start, end = _day(params.get("from")), _day(params.get("to"))
    chosen = period(start, end, today)
    return chosen, None if start or end else 30


@router.get("", response_class=HTMLResponse)
async def insights_page(admin: AdminDep) -> Response:
    span, preset = _period(admin)
    async with admin.read() as session:
        summary = await insights.load_summary(session, shop_id=admin.shop_id, span=span)
    daily = column_chart([(d.day.isoformat(), d.orders) for d in summary.days])
    exceptions = row_chart(list(summary.exceptions.items()))
    return admin.render(
        "insights.html",
        section="insights",
        title=gettext(N_("Insights")),
        summary=summary,
        span=span,
        preset=preset,
        presets=PRESETS,
        daily=daily,
        exceptions=exceptions,
        channels=sorted(set(summary.sent) | set(summary.failed)),
        carrier_names={t.carrier: _carrier_name(t.carrier) for t in summary.delivery_times},
    )


@router.get(".csv")
async def insights_csv(admin: AdminDep) -> Response:
    span, _preset = _period(admin)
    async with admin.read() as session:
        body = await insights.summary_csv(session, shop_id=admin.shop_id, span=span)
    name = f"insights-{span.start.isoformat()}-{span.end.isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
