"""The whole deployment under a minute of mixed load, with faults.

nginx, configured from ``deploy/nginx``, in front of two ``orderstatus serve`` processes on
PostgreSQL and a Redis of their own, two ``orderstatus worker`` processes sending to an SMTP
server (aiosmtpd, in this test), all on free ports of 127.0.0.1. While the load of
``tests/system/load.py`` runs (orders, fulfilments, tracking events through the API and as
EasyPost webhooks, status pages read, 200 live pages open), one web process is killed
(SIGKILL) and started again, a worker is killed, Redis is restarted, and the SMTP server
refuses every message for 10 s. Afterwards:

- every event the server accepted is stored once, and every order ends delivered;
- every message that should exist arrived exactly once (by Message-ID), none for a change
  that was refused;
- every live page ends on its order's final state (its streams reconnected and resumed from
  Last-Event-ID);
- no log has an error but those the faults explain.

Runs with ORDERSTATUS_TEST_SYSTEM=1 (``.ci/run`` sets it) where nginx is installed and
ORDERSTATUS_TEST_DATABASE_URL names a PostgreSQL server; it takes about two minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import Counter

import aiohttp
import pytest

from orderstatus.web.assets import app_assets
from tests.messaging import MailServer
from tests.system.cluster import nginx_available, running_cluster
from tests.system.load import (
    JOURNEY,
    MESSAGE_KEY,
    NOTIFIED,
    Load,
    current_message,
    wait_until,
)

PG_ENV = "ORDERSTATUS_TEST_DATABASE_URL"
ENABLED = os.environ.get("ORDERSTATUS_TEST_SYSTEM") == "1"
ORDERS = 240
SECONDS = 60.0
LIVE_PAGES = 200
SMTP_REFUSAL = 10.0
CRASH_WINDOW = 3.0
"""How long before its SIGKILL a worker may have sent a message it could not record
(milliseconds on an idle machine; seconds on a busy one)."""

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        not (ENABLED and nginx_available() and os.environ.get(PG_ENV)),
        reason=f"system test: set ORDERSTATUS_TEST_SYSTEM=1 and {PG_ENV}, install nginx",
    ),
]

# What the faults may put in the logs, and nothing else.
FAULT_LINES = [
    # nginx: a web process killed or not yet listening again.
    re.compile(
        r"\[error\] .*(connect\(\) failed \(111: Connection refused\)|"
        r"upstream prematurely closed connection|recv\(\) failed \(104: Connection reset)"
    ),
    # nginx: the test's own bodies over the limit.
    re.compile(r"\[error\] .*client intended to send too large body"),
    # A worker: the SMTP server refusing for a while (tried again later).
    re.compile(r"451 4\.3\.0 Try again later"),
]


ERROR_WORDS = ("ERROR", "CRITICAL", "Traceback", "[error]", "[crit]", "[alert]", "[emerg]")


def error_lines(logs: dict[str, str]) -> tuple[Counter[str], list[str]]:
    """Error lines (and tracebacks) by log that a fault of this test explains, and those
    that none does. A traceback is judged with the lines that follow it."""
    explained: Counter[str] = Counter()
    problems: list[str] = []
    for name, text in logs.items():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if not any(word in line for word in ERROR_WORDS):
                continue
            context = "\n".join(lines[i : i + 40]) if "Traceback" in line else line
            if any(pattern.search(context) for pattern in FAULT_LINES):
                explained[name] += 1
            else:
                problems.append(f"{name}: {line}")
    return explained, problems


async def check_front_door(base: str) -> None:
    """What nginx does itself: static files from disk, cached for good and compressed;
    bodies over the app's limit refused there, with the app's JSON answer."""
    assets = app_assets()
    async with aiohttp.ClientSession() as http:
        hashed = assets.url("app.css")
        async with http.get(f"{base}{hashed}", headers={"Accept-Encoding": "gzip"}) as r:
            assert r.status == 200
            assert "immutable" in r.headers["Cache-Control"]
            assert r.headers.get("Content-Encoding") == "gzip"
            assert r.headers["Content-Type"].startswith("text/css")
            assert "Server" in r.headers and "nginx" in r.headers["Server"]
        async with http.get(f"{base}{assets.url('leaflet/leaflet.js')}") as r:
            assert r.status == 200
            assert "immutable" in r.headers["Cache-Control"]
        for plain in ("/static/app.css", "/static/leaflet/images/marker-icon.png"):
            async with http.get(f"{base}{plain}") as r:
                assert r.status == 200, plain
                assert r.headers["Cache-Control"] == "public, no-cache", plain
        for size in (1024 * 1024 + 1, 3 << 20):
            async with http.post(f"{base}/api/v1/orders", data=b"x" * size) as r:
                assert r.status == 413
                assert (await r.json())["error"]["code"] == "payload_too_large"
        # The logo upload may be larger: the app answers (here: sign in first).
        async with http.post(
            f"{base}/admin/page/logo", data=b"x" * (3 << 20), allow_redirects=False
        ) as r:
            assert r.status < 500 and r.status != 413, r.status


async def test_the_deployment_survives_a_minute_of_load_and_faults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    mail = await MailServer().start()
    refusing = False
    refused: list[str] = []
    accepted: dict[str, list[float]] = {}
    """When the SMTP server accepted each copy of each message, by Message-ID."""
    worker_killed_at = float("inf")

    def defer(message: object) -> bool:
        message_id = str(message["Message-ID"]).strip()  # type: ignore[index]
        if refusing:
            refused.append(message_id)
        else:
            accepted.setdefault(message_id, []).append(time.monotonic())
        return refusing

    mail.defer = defer  # type: ignore[assignment]
    started = time.monotonic()
    try:
        async with running_cluster(os.environ[PG_ENV], smtp_url=mail.url) as cluster:
            await check_front_door(cluster.base)
            async with Load(
                cluster.base,
                cluster.api_key,
                cluster.webhook_secret,
                "system",
                live_pages=LIVE_PAGES,
            ) as load:
                faults: list[str] = []

                async def at(second: float) -> None:
                    await asyncio.sleep(max(0.0, t0 + second - time.monotonic()))

                async def inject() -> None:
                    nonlocal refusing, worker_killed_at
                    await at(12)
                    await cluster.kill_serve(0)
                    faults.append(f"{time.monotonic() - t0:.0f} s: SIGKILL serve-0")
                    await at(16)
                    await cluster.start_serve(0)
                    faults.append(f"{time.monotonic() - t0:.0f} s: serve-0 answers again")
                    await at(22)
                    worker_killed_at = time.monotonic()
                    await cluster.kill_worker(0)
                    faults.append(f"{time.monotonic() - t0:.0f} s: SIGKILL worker-0")
                    await at(27)
                    await cluster.start_worker(0)
                    await at(32)
                    await cluster.restart_redis(down=2.0)
                    faults.append(f"{time.monotonic() - t0:.0f} s: Redis restarted")
                    await at(40)
                    refusing = True
                    faults.append(f"{time.monotonic() - t0:.0f} s: SMTP refuses for 10 s")
                    await at(40 + SMTP_REFUSAL)
                    refusing = False

                t0 = time.monotonic()
                await asyncio.gather(
                    load.paced(ORDERS, SECONDS, readers=2, reader_pause=0.1), inject()
                )
                load_seconds = time.monotonic() - t0
                flows = load.flows
                tally = load.tally

                # Every change was answered, the refused ones refused.
                assert not tally.errors, f"unexpected answers: {dict(tally.errors)} {tally.samples}"
                assert all(f.done for f in flows), [f.n for f in flows if not f.done]
                refusals = Counter(s for f in flows for s in f.refused)
                assert set(refusals) <= {400, 401, 409}, refusals

                # Every accepted event is stored once; every order ends delivered.
                async with aiohttp.ClientSession(
                    headers={"Authorization": f"Bearer {cluster.api_key}"}
                ) as http:
                    for flow in flows:
                        url = f"{cluster.base}/api/v1/orders/{flow.order_id}/status"
                        async with http.get(url) as resp:
                            assert resp.status == 200
                            status = await resp.json()
                        (shipment,) = status["fulfillments"]
                        statuses = [e["status"] for e in shipment["events"]]
                        assert sorted(statuses) == sorted(JOURNEY), (flow.n, statuses)
                        assert shipment["status"] == "delivered", (flow.n, shipment["status"])

                # Every message that should exist arrives once; none for a refused change.
                expected = Counter(
                    (f.order_id, f.fulfillment_id if kind != "order_confirmation" else 0, kind)
                    for f in flows
                    for kind in NOTIFIED
                )

                def received() -> Counter[tuple[int, int, str]]:
                    found: Counter[tuple[int, int, str]] = Counter()
                    for message_id, count in mail.ids().items():
                        match = MESSAGE_KEY.match(message_id)
                        assert match, message_id
                        key = (int(match.group(1)), int(match.group(2)), match.group(3))
                        found[key] += count
                    return found

                async def all_arrived() -> bool:
                    return set(received()) >= set(expected)

                arrived = await wait_until(all_arrived, limit=90.0)
                await asyncio.sleep(3.0)  # a copy sent twice would come now
                got = received()
                missing = set(expected) - set(got)
                assert arrived and not missing, (
                    f"{len(missing)} never arrived, e.g. {sorted(missing)[:5]}"
                )
                extra = set(got) - set(expected)
                assert not extra, f"messages for no change: {sorted(extra)[:5]}"
                # The one copy the README allows: the killed worker's last message, sent
                # and not yet recorded when it died, sent again once its lease ran out.
                twice = {k: v for k, v in accepted.items() if len(v) > 1}
                crash_copies = {
                    k: v
                    for k, v in twice.items()
                    if len(v) == 2
                    and worker_killed_at - CRASH_WINDOW <= v[0] <= worker_killed_at
                    and v[1] >= worker_killed_at + cluster.worker_lease / 2
                }
                assert twice == crash_copies, f"sent more than once: {twice}"
                assert refused, "the SMTP server never had to refuse a message"

                # Every live page ends on its order's final state.
                pages = load.pages
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
                    finals = dict(
                        zip(
                            (p.path for p in pages),
                            await asyncio.gather(
                                *(current_message(http, cluster.base, p.path) for p in pages)
                            ),
                            strict=True,
                        )
                    )

                async def pages_final() -> bool:
                    return all((p.last_id, p.last_data) == finals[p.path] for p in pages)

                settled = await wait_until(pages_final, limit=40.0)
                behind = [p for p in pages if (p.last_id, p.last_data) != finals[p.path]]
                assert settled and not behind, (
                    f"{len(behind)} live pages behind, e.g. "
                    f"{[(p.last_id, finals[p.path][0]) for p in behind[:5]]}"
                )
                assert len(pages) == LIVE_PAGES
                reconnected = sum(p.connects > 1 for p in pages)
                assert reconnected, "no live page had to reconnect: the faults did not bite"
                await load.close_pages()

            await cluster.stop()
            logs = cluster.logs()
            explained, problems = error_lines(logs)
            assert not problems, "\n".join(problems[:20])
            secrets = {f.status_path.rsplit("/", 1)[-1] for f in flows if f.status_path}
            secrets |= {cluster.api_key, cluster.webhook_secret}
            leaks = [name for name, text in logs.items() if any(s in text for s in secrets)]
            assert not leaks, f"a token or key in the logs of {leaks}"
            figures = figures_text(
                load,
                faults,
                load_seconds,
                got,
                refused,
                explained,
                len(crash_copies),
                time.monotonic() - started,
            )
    finally:
        await mail.stop()
    with capsys.disabled():
        print("\n" + figures)


def figures_text(
    load: Load,
    faults: list[str],
    seconds: float,
    got: Counter[tuple[int, int, str]],
    refused: list[str],
    explained: Counter[str],
    crash_copies: int,
    total: float,
) -> str:
    t = load.tally

    def p99(kind: str) -> str:
        values = sorted(t.latencies.get(kind, []))
        if not values:
            return "-"
        worst = values[min(len(values) - 1, int(len(values) * 0.99))]
        return f"{len(values)} answered, p99 {worst * 1000:.0f} ms"

    return "\n".join(
        [
            f"system test: {len(load.flows)} orders in {seconds:.0f} s of load, "
            f"{total:.0f} s in all",
            *(f"  fault at {line}" for line in faults),
            f"  orders        {p99('order')}",
            f"  fulfilments   {p99('fulfil')}",
            f"  API events    {p99('event')}",
            f"  webhooks      {p99('webhook')}",
            f"  pages read    {p99('page')}",
            f"  tried again   {sum(t.retries.values())} ({json.dumps(dict(t.retries))})",
            f"  live pages    {len(load.pages)}, {sum(p.connects for p in load.pages)} "
            f"connections, {sum(p.updates for p in load.pages)} updates",
            f"  messages      {sum(got.values())} delivered, {len(refused)} refused for a while, "
            f"{crash_copies} sent twice by the SIGKILL (same Message-ID)",
            f"  error lines   {sum(explained.values())}, each from a fault ({dict(explained)})",
        ]
    )
