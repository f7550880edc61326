"""The helper processes that render shops' own templates: the budget, and life after it."""

from __future__ import annotations

import asyncio
import time

import pytest

from orderstatus.notify.sandbox import TemplateSandbox
from orderstatus.notify.templates import TemplateError, TemplateSource

ENDLESS = "{% for a in range(9999) %}{% for b in range(9999) %}{% endfor %}{% endfor %}"
CONTEXT = {"locale": "en", "order": {"name": "#1001"}}


async def test_a_runaway_part_is_named_and_the_next_render_works() -> None:
    sandbox = TemplateSandbox(seconds=0.5, processes=1)
    try:
        started = time.monotonic()
        with pytest.raises(TemplateError) as refused:
            await sandbox.email(TemplateSource("Hi {{ order.name }}", "ok", ENDLESS), CONTEXT)
        assert time.monotonic() - started < 3
        assert str(refused.value) == "the html template takes longer than 0.5 seconds to render"
        fine = await sandbox.email(
            TemplateSource("Hi {{ order.name }}", "ok", "<p>ok</p>"), CONTEXT
        )
        assert fine.subject == "Hi #1001"
    finally:
        sandbox.close()


async def test_one_runaway_does_not_hold_up_the_others() -> None:
    sandbox = TemplateSandbox(seconds=1.0, processes=2)
    sms = TemplateSource("x", "x", "x", sms="Order {{ order.name }}")
    try:
        await asyncio.gather(sandbox.sms(sms, CONTEXT), sandbox.sms(sms, CONTEXT))  # both up
        runaway = asyncio.ensure_future(
            sandbox.email(TemplateSource("x", ENDLESS, "<p>x</p>"), CONTEXT)
        )
        await asyncio.sleep(0.1)
        started = time.monotonic()
        for _ in range(5):
            assert (await sandbox.sms(sms, CONTEXT)).body == "Order #1001"
        assert time.monotonic() - started < 0.9
        with pytest.raises(TemplateError, match="the text template takes longer"):
            await runaway
    finally:
        sandbox.close()
