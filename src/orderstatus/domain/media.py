"""Product images on pages: which address a page shows for a merchant's image URL, and
which files count as images."""

from __future__ import annotations

import hashlib

MAX_PRODUCT_IMAGE_BYTES = 2 * 1024 * 1024
"""2 MiB: a thumbnail is shown at 56 px; anything bigger is refused, not resized."""

PRODUCT_IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}

PRODUCTS_PATH = "/media/products/"


def image_key(url: str) -> str:
    """The stored copy's name: the same URL always gives the same name, so a page can
    refer to the copy before it exists (a placeholder is served until then)."""
    return hashlib.sha256(url.encode()).hexdigest()[:40]


def page_image_url(url: str | None, base_url: str) -> str | None:
    """The address a page shows for a line item's image: our own copy of it. An image
    already on our own address (the demo's) is shown as it is."""
    if not url:
        return None
    if url.startswith(f"{base_url}/static/"):
        return url
    return f"{base_url}{PRODUCTS_PATH}{image_key(url)}"


def sniff_product_image(head: bytes) -> str | None:
    """The format of an image by its first bytes (``png``, ``jpg``, ``webp``, ``gif``),
    whatever the sender's Content-Type said; None for anything else (SVG included: it is
    a document that can carry script)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None
