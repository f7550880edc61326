"""The helper processes that render shops' own templates: the budget, and life after it."""

from __future__ import annotations

import asyncio
import time

import pytest

from orderstatus.notify.sandbox import TemplateSandbox
from orderstatus.notify.templates import TemplateError, TemplateSource
from tests.process_groups import output_of_own_group

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


STOPPED_WHILE_RENDERING = """
import asyncio, os, signal
from orderstatus.notify.sandbox import TemplateSandbox
from orderstatus.notify.templates import TemplateSource
from tests.process_groups import output_of_own_group

signal.signal(signal.SIGTERM, lambda *_: None)  # the parent finishes its work first
SLOW = "{% for a in range(9999) %}{% for b in range(4000) %}{% endfor %}{% endfor %}done"
CONTEXT = {"locale": "en", "order": {"name": "#1001"}}


async def main() -> None:
    sandbox = TemplateSandbox(seconds=30.0, processes=1)
    try:
        await sandbox.email(TemplateSource("up", "up", "<p>up</p>"), CONTEXT)
        rendering = asyncio.ensure_future(
            sandbox.email(TemplateSource("Hi", SLOW, "<p>x</p>"), CONTEXT)
        )
        await asyncio.sleep(0.3)
        assert not rendering.done(), "render too fast to be stopped half-way"
        os.killpg(0, signal.SIGTERM)  # as systemd stops a service: the whole group
        print((await rendering).text)
    finally:
        sandbox.close()


asyncio.run(main())
"""


def test_a_stop_signal_to_the_group_lets_a_render_under_way_finish() -> None:
    """A message being rendered while the worker stops is not failed for it."""
    assert output_of_own_group(STOPPED_WHILE_RENDERING) == "done"
