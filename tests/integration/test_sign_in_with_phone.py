"""Signing in and looking an order up with the phone number given at checkout, and forms
that keep what was typed."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import ShopClient
from tests.integration.helpers import create_order
from tests.integration.test_status_page import csrf_of, path_of

PHONE = "+4791234567"


async def sign_in(
    browser: httpx.AsyncClient, path: str, number: str, contact: str
) -> httpx.Response:
    page = await browser.get(path)
    return await browser.post(
        f"{path}/login",
        data={"number": number, "contact": contact, "csrf_token": csrf_of(page.text)},
    )


def alert(html: str) -> str:
    match = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    assert match, "no error shown"
    return match.group(1)


@pytest.mark.parametrize("typed", ["912 34 567", "+47 91234567", "0047 912 34 567", "91234567"])
async def test_a_phone_only_customer_signs_in_with_her_number_as_she_writes_it(
    api: ShopClient, browser: httpx.AsyncClient, typed: str
) -> None:
    order = await create_order(api.http, email=None, phone=PHONE)
    path = path_of(order)
    assert "Storgata 1" not in (await browser.get(path)).text
    signed_in = await sign_in(browser, path, "#1001", typed)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == path
    assert "Storgata 1" in (await browser.get(path)).text


async def test_a_wrong_number_and_text_that_is_no_contact_get_the_same_answer(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http, email=None, phone=PHONE)
    path = path_of(order)
    answers = []
    for typed in ("912 34 568", "not a contact", "kari@example.com"):
        response = await sign_in(browser, path, "1001", typed)
        answers.append((response.status_code, alert(response.text)))
        # What was typed comes back, to correct it.
        assert f'value="{typed}"' in response.text
        assert 'value="1001"' in response.text
    assert len(set(answers)) == 1 and answers[0][0] == 401
    assert "e-mail or phone" in answers[0][1]
    assert "Storgata 1" not in (await browser.get(path)).text


async def test_phone_guesses_count_against_the_order_like_e_mail_guesses(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http, email=None, phone=PHONE)
    path = path_of(order)
    codes = [(await sign_in(browser, path, "1001", f"9123456{i}")).status_code for i in range(5)]
    assert codes == [401] * 5
    # The limit is the order's, however the guess is written: the right number waits too.
    assert (await sign_in(browser, path, "1001", "912 34 567")).status_code == 429


async def test_lookup_finds_a_phone_only_order_and_keeps_what_was_typed(
    api: ShopClient, browser: httpx.AsyncClient
) -> None:
    order = await create_order(api.http, email=None, phone=PHONE)
    token = csrf_of((await browser.get("/shop/acme/order-status")).text)
    miss = await browser.post(
        "/shop/acme/order-status",
        data={"number": "1001", "contact": "912 00 000", "csrf_token": token},
    )
    assert miss.status_code == 401
    assert 'value="912 00 000"' in miss.text and 'value="1001"' in miss.text
    hit = await browser.post(
        "/shop/acme/order-status",
        data={"number": "1001", "contact": "0047 912 34 567", "csrf_token": token},
    )
    assert hit.status_code == 303 and hit.headers["location"] == path_of(order)
    assert "Storgata 1" in (await browser.get(path_of(order))).text


@pytest.mark.usefixtures("storefront")
async def test_checkout_shows_every_error_at_once_and_keeps_the_fields(
    browser: httpx.AsyncClient,
) -> None:
    form = await browser.get("/shop/acme/checkout", params={"qty_mug": 1})
    refused = await browser.post(
        "/shop/acme/checkout",
        data={
            "csrf_token": csrf_of(form.text),
            "qty_mug": "1",
            "first_name": "",
            "last_name": "Nordmann",
            "address1": "Kirkegata 5",
            "zip": "0153",
            "city": "",
            "country_code": "NO",
            "payment": "card",
        },
    )
    assert refused.status_code == 422
    html = refused.text
    assert 'id="e-contact"' in html  # neither e-mail nor phone
    assert 'id="e-first_name"' in html and 'id="e-city"' in html
    assert 'value="Nordmann"' in html and 'value="Kirkegata 5"' in html
    bad_email = await browser.post(
        "/shop/acme/checkout",
        data={
            "csrf_token": csrf_of(form.text),
            "qty_mug": "1",
            "email": "ola@",
            "first_name": "Ola",
            "address1": "",
            "city": "Oslo",
            "country_code": "NO",
            "payment": "card",
        },
    )
    assert bad_email.status_code == 422
    assert 'value="ola@"' in bad_email.text
    assert 'id="e-email"' in bad_email.text and 'id="e-address1"' in bad_email.text
