"""The inbox markup in an e-mail: whatever the data, it stays one JSON-LD script that
parses back to the same data, placed inside the body."""

from __future__ import annotations

import json
import re

from orderstatus.notify.markup import embed

NASTY = {"name": '</script><script>alert("x")</script> & <!-- Mugs >'}


def _script(html: str) -> str:
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert len(found) == 1
    return str(found[0])


def test_nothing_in_the_data_closes_the_script() -> None:
    html = embed("<html><body><p>Hi</p></BODY></html>", NASTY)
    text = _script(html)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == NASTY
    assert html.index("application/ld+json") < html.index("</BODY>")


def test_a_fragment_without_a_body_gets_it_at_the_end() -> None:
    html = embed("<p>Snart!</p>", {"@type": "ParcelDelivery"})
    assert html.startswith("<p>Snart!</p><script")
    assert json.loads(_script(html)) == {"@type": "ParcelDelivery"}
