"""Staff sign-in: passwords, the session cookie and its limits, sign-out, throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from orderstatus.db.engine import Database
from orderstatus.db.models import Activity, StaffSession
from tests.conftest import ShopClient
from tests.integration.admin.conftest import (
    PASSWORD,
    Staff,
    add_staff,
    browser_for,
    csrf_of,
    sign_in,
)

SECRET = "s" * 40  # the settings fixture's key


def session_cookie(response: httpx.Response) -> str:
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("os_staff="))
    return cookie


async def test_the_admin_asks_to_sign_in_first(api: ShopClient) -> None:
    async with browser_for(api) as http:
        response = await http.get("/admin/orders?state=delivered")
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/login?next=/admin/orders%3Fstate%3Ddelivered"
        page = await http.get(response.headers["location"])
        assert page.status_code == 200 and "Sign in to the admin" in page.text


async def test_signing_in_sets_a_safe_cookie_and_goes_back(
    api: ShopClient, database: Database
) -> None:
    await add_staff(database, "acme", "anna@acme.example")
    async with browser_for(api) as http:
        form = await http.get("/admin/login?next=/admin/settings")
        response = await http.post(
            "/admin/login",
            data={
                "csrf_token": csrf_of(form.text),
                "email": "Anna@Acme.example",
                "password": PASSWORD,
                "next": "/admin/settings",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/settings"
        cookie = session_cookie(response)
        for flag in ("HttpOnly", "Path=/", "SameSite=lax", "Secure", "Max-Age=43200"):
            assert flag in cookie
        assert (await http.get("/admin/settings")).status_code == 200
    async with database.read() as session:
        kinds = (await session.scalars(select(Activity.kind))).all()
    assert "staff_signed_in" in kinds


async def test_next_never_leads_off_the_admin(api: ShopClient, database: Database) -> None:
    await add_staff(database, "acme", "anna@acme.example")
    for target in ("https://evil.example/", "//evil.example", "/orders/x", "/admin\\@evil"):
        async with browser_for(api) as http:
            form = await http.get("/admin/login")
            response = await http.post(
                "/admin/login",
                data={
                    "csrf_token": csrf_of(form.text),
                    "email": "anna@acme.example",
                    "password": PASSWORD,
                    "next": target,
                },
            )
            assert response.headers["location"] == "/admin/orders"


async def test_a_wrong_password_and_an_unknown_address_get_one_answer(
    api: ShopClient, database: Database
) -> None:
    await add_staff(database, "acme", "anna@acme.example")
    async with browser_for(api) as http:
        wrong = await sign_in(http, "anna@acme.example", "not the password")
        unknown = await sign_in(http, "nobody@acme.example", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    message = "That e-mail address and password don&#39;t match an account."
    assert message in wrong.text and message in unknown.text
    assert "os_staff" not in wrong.headers.get("set-cookie", "")


async def test_sign_in_is_throttled_per_address(api: ShopClient, database: Database) -> None:
    await add_staff(database, "acme", "anna@acme.example")
    await add_staff(database, "acme", "bob@acme.example")
    async with browser_for(api) as http:
        for _ in range(5):
            assert (await sign_in(http, "anna@acme.example", "guess")).status_code == 401
        blocked = await sign_in(http, "anna@acme.example", PASSWORD)
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert "Too many tries" in blocked.text
        assert "os_staff" not in blocked.headers.get("set-cookie", "")
        # Another account from the same place is not locked out by it.
        assert (await sign_in(http, "bob@acme.example")).status_code == 303


async def test_sign_in_is_throttled_per_client(api: ShopClient, database: Database) -> None:
    await add_staff(database, "acme", "anna@acme.example")
    async with browser_for(api) as http:
        for n in range(20):
            assert (await sign_in(http, f"guess{n}@acme.example", "guess")).status_code == 401
        assert (await sign_in(http, "anna@acme.example")).status_code == 429


async def test_a_form_without_its_token_signs_nobody_in(
    api: ShopClient, database: Database
) -> None:
    await add_staff(database, "acme", "anna@acme.example")
    async with browser_for(api) as http:
        await http.get("/admin/login")
        response = await http.post(
            "/admin/login", data={"email": "anna@acme.example", "password": PASSWORD}
        )
        assert response.status_code == 400
        assert "os_staff" not in response.headers.get("set-cookie", "")


async def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    staff: Staff, database: Database
) -> None:
    copied = staff.http.cookies.get("os_staff")
    assert copied
    response = await staff.post("/admin/logout")
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert 'os_staff=""' in response.headers["set-cookie"]
    assert (await staff.http.get("/admin/orders")).status_code == 303
    async with httpx.AsyncClient(
        transport=staff.http._transport, base_url="https://testserver"
    ) as thief:
        thief.cookies.set("os_staff", copied, domain="testserver.local")
        assert (await thief.get("/admin/orders")).status_code == 303
    async with database.read() as session:
        assert await session.scalar(select(func.count()).select_from(StaffSession)) == 0


class _Clock(TimestampSigner):
    """Signs as if it were ``ago`` earlier."""

    ago = timedelta(0)

    def get_timestamp(self) -> int:
        return int((datetime.now(UTC) - self.ago).timestamp())


def _resigned(value: str, ago: timedelta) -> str:
    plain = URLSafeTimedSerializer(SECRET, salt="staff-session")
    token = plain.loads(value)
    signer = type("Clock", (_Clock,), {"ago": ago})
    return URLSafeTimedSerializer(SECRET, salt="staff-session", signer=signer).dumps(token)


async def test_an_idle_session_ends_after_12_hours(staff: Staff) -> None:
    value = staff.http.cookies["os_staff"]
    staff.http.cookies.set(
        "os_staff", _resigned(value, timedelta(hours=12, minutes=1)), domain="testserver.local"
    )
    assert (await staff.http.get("/admin/orders")).status_code == 303


async def test_a_used_session_is_signed_again_to_stay_alive(staff: Staff) -> None:
    value = staff.http.cookies["os_staff"]
    staff.http.cookies.set(
        "os_staff", _resigned(value, timedelta(hours=11)), domain="testserver.local"
    )
    response = await staff.http.get("/admin/orders")
    assert response.status_code == 200
    assert "os_staff=" in response.headers.get("set-cookie", "")


async def test_no_session_lasts_beyond_seven_days(staff: Staff, database: Database) -> None:
    async with database.write() as session:
        await session.execute(
            update(StaffSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await staff.http.get("/admin/orders")).status_code == 303


async def test_a_forged_cookie_is_nobody(api: ShopClient) -> None:
    async with browser_for(api) as http:
        forged = URLSafeTimedSerializer("x" * 40, salt="staff-session").dumps("anything")
        http.cookies.set("os_staff", forged, domain="testserver.local")
        assert (await http.get("/admin/orders")).status_code == 303


async def test_a_respelled_address_gets_no_fresh_tries(api: ShopClient, database: Database) -> None:
    """The address is throttled as sign-in reads it: a fullwidth letter in the domain,
    or capitals, name the same account and share its budget."""
    await add_staff(database, "acme", "anna@acme.example")
    spellings = ["anna@acme.example", "ANNA@acme.example", "anna@\uff41cme.example"]
    for n in range(5):
        transport = httpx.ASGITransport(
            app=api.http._transport.app,  # type: ignore[attr-defined]
            client=(f"198.51.100.{n}", 40000),
        )
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            failed = await sign_in(http, spellings[n % len(spellings)], "guess")
            assert failed.status_code == 401
    for n, spelling in enumerate(spellings, start=10):
        transport = httpx.ASGITransport(
            app=api.http._transport.app,  # type: ignore[attr-defined]
            client=(f"198.51.100.{n}", 40000),
        )
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            blocked = await sign_in(http, spelling, PASSWORD)
            assert blocked.status_code == 429, spelling
            assert "os_staff" not in blocked.headers.get("set-cookie", "")
