"""The Jinja2 environment for pages: autoescaped, translated, with formatting filters."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from orderstatus.web import i18n, labels


def map_points(positions: list[Any], tz: str | None) -> list[dict[str, Any]]:
    """A shipment's positions for the map script: coordinates and a label of place and time."""
    points = []
    for event in positions:
        place = ", ".join(
            p
            for p in (
                event.city,
                i18n.country_name(event.country_code) if event.country_code else None,
            )
            if p
        )
        label = (
            f"{place} · {i18n.fmt_datetime(event.occurred_at, tz, 'short')}"
            if place
            else (i18n.fmt_datetime(event.occurred_at, tz, "short"))
        )
        points.append({"lat": event.latitude, "lon": event.longitude, "label": label})
    return points


def create_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("orderstatus.web", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters["datetime"] = i18n.fmt_datetime
    env.filters["date"] = i18n.fmt_date
    env.filters["time"] = i18n.fmt_time
    env.filters["money"] = i18n.fmt_money
    env.filters["country"] = i18n.country_name
    env.globals["languages"] = i18n.LANGUAGES
    env.globals["map_points"] = map_points
    env.globals["status_label"] = labels.status_label
    env.globals["step_label"] = labels.step_label
    return env


def render(env: Environment, name: str, locale: str, **context: Any) -> str:
    """Render in one language. Rendering never awaits, so the language cannot leak
    into another request's render."""
    i18n.activate(locale)
    return env.get_template(name).render(locale=locale, **context)
