"""Message templates: every default renders, and a merchant's template stays in its box."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from orderstatus import i18n
from orderstatus.domain.links import page_link
from orderstatus.domain.notifications import Kind, sms_length
from orderstatus.notify import context as ctx
from orderstatus.notify.templates import (
    LANGUAGES,
    Renderer,
    TemplateError,
    TemplateSource,
    default_source,
    language_of,
)
from orderstatus.services.security import new_token

BASE = "https://status.example.com"
SHOP = ctx.ShopFacts(
    name="Fjord & Wool <b>",
    handle="fjord",
    logo_path=None,
    accent_color="#1f6f5c",
    contact_email="hello@fjord.example",
    website_url=None,
    timezone="Europe/Oslo",
    default_locale="en",
)
renderer = Renderer()
SENT_LINK = page_link(
    BASE, new_token(), secret_key="s" * 40, expires_at=datetime.now(UTC) + timedelta(days=30)
)
"""A link as messages carry it: a real status token and a key that opens the page."""


@pytest.mark.parametrize("language", ["en", "nb"])
@pytest.mark.parametrize("kind", list(Kind))
def test_every_default_renders_with_the_link_and_the_shop(kind: Kind, language: str) -> None:
    values = ctx.sample(kind, language, shop=SHOP, base_url=BASE)
    email = renderer.email(default_source(kind, language), values)
    link = values["status_url"]
    assert link.startswith(f"{BASE}/orders/preview?key=")  # as long as a real link
    assert "#1001" in email.subject and "\n" not in email.subject
    assert link in email.text and f'href="{link}"' in email.html
    assert "Fjord &amp; Wool &lt;b&gt;" in email.html and "<b>" not in email.html.split("<body")[0]
    assert "Fjord & Wool <b>" in email.text
    assert "\n\n\n" not in email.text
    if kind is not Kind.ORDER_CONFIRMATION:
        assert "370722150004528013" in email.text


def test_norwegian_reads_norwegian() -> None:
    values = ctx.sample(Kind.SHIPPING_UPDATE, "nb", shop=SHOP, base_url=BASE)
    email = renderer.email(default_source(Kind.SHIPPING_UPDATE, "nb"), values)
    assert email.subject == "Oppdatering om bestillingen din #1001"
    assert "Transportøren prøvde å levere" in email.text
    assert "Se bestillingen din" in email.html and 'lang="nb"' in email.html


def test_one_layout_serves_every_language_through_the_catalog() -> None:
    folder = resources.files("orderstatus.notify") / "default_templates"
    copies = [f"{lang}/{name}" for lang in LANGUAGES for name in ("layout.html", "layout.txt")]
    assert not [c for c in copies if (folder / c).is_file()], "a layout copied per language"
    for language in LANGUAGES:
        values = ctx.sample(Kind.ORDER_CONFIRMATION, language, shop=SHOP, base_url=BASE)
        email = renderer.email(default_source(Kind.ORDER_CONFIRMATION, language), values)
        i18n.activate(language)
        view, summary, reply = (
            i18n.gettext("View your order"),
            i18n.gettext("Order summary"),
            i18n.gettext("Questions? Reply to this e-mail or write to %(address)s."),
        )
        assert f"{view}: {BASE}/orders/preview?key=" in email.text
        assert f"{summary}:" in email.text and f">{summary}</h2>" in email.html
        assert reply % {"address": "hello@fjord.example"} in email.text
        assert f'lang="{language}"' in email.html
    assert view == "Se bestillingen din"
    assert 'skriv til <a href="mailto:hello@fjord.example"' in email.html


@pytest.mark.parametrize("language", ["en", "nb"])
def test_the_text_confirmation_fits_one_segment(language: str) -> None:
    long_name = replace(SHOP, name="The Extraordinarily Long Shop Name AS")
    values = ctx.sample(Kind.ORDER_CONFIRMATION, language, shop=long_name, base_url=BASE)
    values["status_url"] = SENT_LINK
    text = renderer.sms(default_source(Kind.ORDER_CONFIRMATION, language), values)
    assert text.segments == 1 and sms_length(text.body).encoding == "gsm7"
    assert text.body.startswith("The Extraordinarily…") or "Extraordinarily" in text.body
    assert text.body.endswith(values["status_url"])


@pytest.mark.parametrize("language", ["en", "nb"])
@pytest.mark.parametrize(
    "name", ["Sámi Duodji", "Árran julevsáme guovdásj", "Łódź Ceramika", "Café 😀 Żółć & Co"]
)
def test_a_shop_name_outside_gsm7_keeps_the_text_confirmation_in_one_segment(
    language: str, name: str
) -> None:
    values = ctx.sample(
        Kind.ORDER_CONFIRMATION, language, shop=replace(SHOP, name=name), base_url=BASE
    )
    values["status_url"] = SENT_LINK
    text = renderer.sms(default_source(Kind.ORDER_CONFIRMATION, language), values)
    assert (text.encoding, text.segments) == ("gsm7", 1)
    assert text.body.endswith(values["status_url"]) and "#1001" in text.body


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ order.name", "the subject template has an error (line 1)"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
        ("{{ shop.name.__globals__ }}", "the subject template has an error"),
        ("{{ ordr.name }}", "'ordr' is undefined"),
        ("{{ order.name | nosuchfilter }}", "nosuchfilter"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{% for i in range(10**9) %}{% endfor %}", "range() of more than 10000"),
    ],
)
def test_a_bad_template_is_a_clear_error_and_nothing_else(source: str, says: str) -> None:
    values = ctx.sample(Kind.DELIVERED, "en", shop=SHOP, base_url=BASE)
    good = default_source(Kind.DELIVERED, "en")
    with pytest.raises(TemplateError) as error:
        renderer.email(TemplateSource(source, good.text, good.html), values)
    assert error.value.part == "subject"
    assert says in str(error.value)


def test_a_template_may_not_change_what_it_is_given() -> None:
    values = ctx.sample(Kind.DELIVERED, "en", shop=SHOP, base_url=BASE)
    good = default_source(Kind.DELIVERED, "en")
    with pytest.raises(TemplateError):
        renderer.email(TemplateSource("{{ items.append(1) }}x", good.text, good.html), values)


def test_kinds_without_a_text_message_refuse_one() -> None:
    values = ctx.sample(Kind.DELIVERED, "en", shop=SHOP, base_url=BASE)
    with pytest.raises(TemplateError, match="this kind has no text message"):
        renderer.sms(default_source(Kind.DELIVERED, "en"), values)


@pytest.mark.parametrize(
    ("order", "shop", "language"),
    [
        ("nb-NO", "en", "nb"),
        ("no", "en", "nb"),
        ("nn_NO", "en", "nb"),
        ("en-GB", "nb", "en"),
        ("de-DE", "nb", "nb"),
        (None, "nb", "nb"),
        ("fr", "de", "en"),
    ],
)
def test_the_language_is_the_orders_then_the_shops(order: str, shop: str, language: str) -> None:
    assert language_of(order, shop) == language
