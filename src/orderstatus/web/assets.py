"""Static files from memory.

Every file of the app's static folders is read once, when the first app of the process is
made, and named by its content: ``/static/app.css`` is also ``/static/app.<hash>.css``.
Pages link the hashed names (``static_url``), which browsers and proxies may keep for a
year without asking again (``immutable``); a plain or outdated name is answered too, with
``no-cache`` so that it is checked each time (an ETag makes that a 304). Gzip and Brotli
copies are made in a thread the first time a browser asks for one, then kept.

Answered before the rest of the app's middleware, without a thread or the disk per
request: a static file costs about what the HTTP parsing costs.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import brotli
from starlette.types import ASGIApp, Receive, Scope, Send

from orderstatus.web.accesslog import ROUTE

PREFIX: Final = "/static/"
STATIC_ROUTE: Final = "/static/{path}"
"""The route label of every static file in the metrics and the logs."""
IMMUTABLE: Final = b"public, max-age=31536000, immutable"
REVALIDATE: Final = b"public, no-cache"
HASH_LENGTH: Final = 12
_HASHED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{12})(?P<suffix>\.[A-Za-z0-9]+)$")
_COMPRESSIBLE = re.compile(r"^(text/|application/(javascript|json|xml)|image/svg\+xml)")
_TYPES = {".js": "text/javascript", ".json": "application/json", ".svg": "image/svg+xml"}
MIN_COMPRESS = 256
"""Smaller files go as they are: the headers would cost more than the saving."""


def _content_type(path: Path) -> str:
    kind = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    kind = kind or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") else kind


def _hashed_name(name: str, digest: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot or "/" in suffix:
        return f"{name}.{digest}"
    return f"{stem}.{digest}.{suffix}"


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    etag: bytes
    headers: list[tuple[bytes, bytes]]
    """Without Content-Length (a 304 has none)."""
    length: bytes


@dataclass(slots=True)
class Asset:
    """One file, its hash and its compressed copies as they are made."""

    name: str
    """Below /static/, e.g. ``leaflet/leaflet.js``."""
    body: bytes
    content_type: str
    digest: str
    compressed: dict[str, bytes | None] = field(default_factory=dict)
    """By content coding ("br", "gzip"): the copy, or None where it saves nothing."""
    lock: asyncio.Lock | None = None
    answers: dict[tuple[str, bool], Answer] = field(default_factory=dict)

    def answer(self, coding: str, immutable: bool) -> Answer:
        """The body and headers for this coding ("" for none), made once."""
        made = self.answers.get((coding, immutable))
        if made is None:
            body = self.compressed.get(coding) or self.body if coding else self.body
            etag = f'"{self.digest}{"-" + coding if coding else ""}"'.encode()
            headers = [
                (b"content-type", self.content_type.encode()),
                (b"etag", etag),
                (b"cache-control", IMMUTABLE if immutable else REVALIDATE),
            ]
            if self.compressible:
                headers.append((b"vary", b"Accept-Encoding"))
            if coding:
                headers.append((b"content-encoding", coding.encode()))
            made = Answer(body, etag, headers, str(len(body)).encode())
            self.answers[(coding, immutable)] = made
        return made

    @property
    def hashed(self) -> str:
        return _hashed_name(self.name, self.digest)

    @property
    def compressible(self) -> bool:
        return len(self.body) >= MIN_COMPRESS and bool(_COMPRESSIBLE.match(self.content_type))

    async def encoded(self, coding: str) -> bytes | None:
        """The copy in ``coding``, made once (in a thread: Brotli at its best takes a
        while on a large file); None when it is no smaller."""
        if coding in self.compressed:
            return self.compressed[coding]
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if coding not in self.compressed:
                copy = await asyncio.to_thread(_compress, self.body, coding)
                self.compressed[coding] = copy if len(copy) < len(self.body) * 0.95 else None
        return self.compressed[coding]


def _compress(body: bytes, coding: str) -> bytes:
    if coding == "br":
        return bytes(brotli.compress(body, quality=11))
    return gzip.compress(body, compresslevel=9, mtime=0)


class Assets:
    """The files under /static/, by name and by hashed name."""

    def __init__(self, folders: Iterable[tuple[str, Path]]) -> None:
        """``folders``: (where below /static/ they go, e.g. "" or "leaflet/", folder)."""
        self.files: dict[str, Asset] = {}
        for base, folder in folders:
            for path in sorted(folder.rglob("*")):
                if not path.is_file() or path.name.startswith("."):
                    continue
                name = base + path.relative_to(folder).as_posix()
                body = path.read_bytes()
                digest = hashlib.sha256(body).hexdigest()[:HASH_LENGTH]
                self.files.setdefault(name, Asset(name, body, _content_type(path), digest))

    def url(self, name: str) -> str:
        """The address to link: hashed, so it can be kept for a year. A name that is not
        a static file is a mistake in a template: KeyError."""
        return PREFIX + self.files[name.removeprefix(PREFIX)].hashed

    def find(self, name: str) -> tuple[Asset, bool] | None:
        """The file at this name below /static/, and whether the name is its current
        hashed one (then it never changes)."""
        asset = self.files.get(name)
        if asset is not None:
            return asset, False
        match = _HASHED.match(name)
        if match is None:
            return None
        asset = self.files.get(match["stem"] + match["suffix"])
        if asset is None:
            return None
        return asset, asset.digest == match["hash"]


def accepted_codings(header: str) -> set[str]:
    """The content codings an Accept-Encoding header allows (q=0 refuses one)."""
    codings = set()
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        quality = params.strip().removeprefix("q=").strip() if params else "1"
        try:
            allowed = float(quality) > 0
        except ValueError:
            allowed = False
        if token and allowed:
            codings.add(token.strip().lower())
    return codings


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


class StaticAssets:
    """Pure ASGI: GET and HEAD under /static/ for a known file are answered here, before
    the app's middleware and routes; anything else goes on to the app."""

    def __init__(self, app: ASGIApp, *, assets: Assets) -> None:
        self.app = app
        self.assets = assets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        found = self.assets.find(path[len(PREFIX) :]) if path.startswith(PREFIX) else None
        if found is None:
            await self.app(scope, receive, send)
            return
        scope[ROUTE] = STATIC_ROUTE
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _answer(send, 405, [(b"allow", b"GET, HEAD")], b"")
            return
        asset, immutable = found
        await self._serve(scope, send, asset, immutable, head=method == "HEAD")

    async def _serve(
        self, scope: Scope, send: Send, asset: Asset, immutable: bool, *, head: bool
    ) -> None:
        request_headers = scope["headers"]
        coding = ""
        if asset.compressible:
            for candidate in _preferred(_header(request_headers, b"accept-encoding")):
                copy = asset.compressed.get(candidate, MISSING)
                if copy is MISSING:
                    copy = await asset.encoded(candidate)
                if copy is not None:
                    coding = candidate
                    break
        answer = asset.answer(coding, immutable)
        if answer.etag in _etags(_header(request_headers, b"if-none-match")):
            await _answer(send, 304, answer.headers, b"", length_given=True)  # no body
            return
        headers = [*answer.headers, (b"content-length", answer.length)]
        await _answer(send, 200, headers, b"" if head else answer.body, length_given=True)


MISSING: Final = b"missing"
_PREFERRED: dict[str, tuple[str, ...]] = {}


def _preferred(accept_encoding: str) -> tuple[str, ...]:
    """The codings we have that this Accept-Encoding allows, best first; remembered, as
    browsers send one of a few headers."""
    known = _PREFERRED.get(accept_encoding)
    if known is None:
        allowed = accepted_codings(accept_encoding)
        known = tuple(coding for coding in ("br", "gzip") if coding in allowed)
        if len(_PREFERRED) >= 256:
            _PREFERRED.clear()
        _PREFERRED[accept_encoding] = known
    return known


def _etags(header: str) -> set[bytes]:
    return {tag.strip().removeprefix("W/").encode() for tag in header.split(",") if tag.strip()}


async def _answer(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    *,
    length_given: bool = False,
) -> None:
    if not length_given:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_SHARED: dict[tuple[tuple[str, str], ...], Assets] = {}


def shared(folders: Mapping[str, Path]) -> Assets:
    """One copy a process of the same folders (the package's files do not change while
    it runs), however many apps it makes."""
    key = tuple(sorted((base, str(folder)) for base, folder in folders.items()))
    if key not in _SHARED:
        _SHARED[key] = Assets(folders.items())
    return _SHARED[key]


def app_assets() -> Assets:
    """The app's own files, and Leaflet's under ``leaflet/``."""
    from xstatic.pkg import leaflet

    return shared({"": Path(__file__).parent / "static", "leaflet/": Path(leaflet.BASE_DIR)})
