"""The Jinja2 environment for pages: autoescaped, translated, with formatting filters."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from orderstatus import i18n
from orderstatus.domain.inputs import display_phone
from orderstatus.web import labels
from orderstatus.web.assets import app_assets


def map_label(event: Any, tz: str | None) -> str:
    """Where and when a position on the map was reported: "Oslo, Norway · 3 Mar, 14:05"."""
    return _map_label(event, tz, i18n.current())


@lru_cache(maxsize=8192)
def _map_label(event: Any, tz: str | None, locale: str) -> str:
    when = i18n.fmt_datetime(event.occurred_at, tz, "short")
    country = i18n.country_name(event.country_code) if event.country_code else None
    place = ", ".join(p for p in (event.city, country) if p)
    return f"{place} · {when}" if place else when


def map_points(positions: list[Any], tz: str | None) -> Markup:
    """A shipment's positions for the map script, as JSON safe inside a ``<script>``:
    coordinates and a label of place and time for each."""
    locale = i18n.current()
    points = ",".join(_map_point(event, tz, locale) for event in positions)
    return Markup(f"[{points}]")  # noqa: S704 (each point is HTML-safe JSON)


@lru_cache(maxsize=8192)
def _map_point(event: Any, tz: str | None, locale: str) -> str:
    point = {"lat": event.latitude, "lon": event.longitude, "label": _map_label(event, tz, locale)}
    return str(htmlsafe_json_dumps(point))


def _gettext(message: str, /, **variables: Any) -> Markup:
    """``_()`` in templates: the translation (trusted) with its values filled in, escaped."""
    return Markup(i18n.gettext(message)) % variables  # noqa: S704 (our own catalogues)


def _ngettext(singular: str, plural: str, num: int, /, **variables: Any) -> Markup:
    variables.setdefault("num", num)
    return Markup(i18n.ngettext(singular, plural, num)) % variables  # noqa: S704


def _memoized(render: Callable[..., Markup], size: int) -> Callable[..., Markup]:
    """A macro whose output depends only on its (immutable) arguments and the language:
    rendered once, then taken from the cache. The pieces repeated in lists (a timeline
    entry, an item line) are the same in every update of a status page."""

    @lru_cache(maxsize=size)
    def in_language(locale: str, *args: Any) -> Markup:
        return render(*args)

    def cached(*args: Any) -> Markup:
        return in_language(i18n.current(), *args)

    return cached


# Macros every status-page template uses, as globals: importing them with
# ``{% from … import … %}`` would build the import again on every render.
SHARED_MACROS = {"_labels.html": ("alert_text", "headline_text", "payment_label", "day_range")}
MEMOIZED_MACROS = {"_parts.html": {"event": 20_000, "item": 4096}}
"""Macro: how many renders of it to keep."""


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
    # The same behaviour as the extension's new-style callables, called directly: those
    # go through the template context three times per string.
    env.globals.update(_=_gettext, gettext=_gettext, ngettext=_ngettext)
    env.filters["datetime"] = i18n.fmt_datetime
    env.filters["date"] = i18n.fmt_date
    env.filters["day"] = i18n.fmt_day
    env.filters["time"] = i18n.fmt_time
    env.filters["money"] = i18n.fmt_money
    env.filters["country"] = i18n.country_name
    env.filters["phone"] = display_phone
    env.globals["languages"] = i18n.LANGUAGES
    env.globals["static_url"] = app_assets().url
    env.globals["map_points"] = map_points
    env.globals["map_label"] = map_label
    env.globals["status_label"] = labels.status_label
    env.globals["step_label"] = labels.step_label
    for name, macros in SHARED_MACROS.items():
        module = env.get_template(name).module
        env.globals.update({macro: getattr(module, macro) for macro in macros})
    for name, sizes in MEMOIZED_MACROS.items():
        module = env.get_template(name).module
        env.globals.update(
            {macro: _memoized(getattr(module, macro), size) for macro, size in sizes.items()}
        )
    return env


def render(env: Environment, name: str, locale: str, **context: Any) -> str:
    """Render in one language. Rendering never awaits, so the language cannot leak
    into another request's render."""
    i18n.activate(locale)
    return env.get_template(name).render(locale=locale, **context)
