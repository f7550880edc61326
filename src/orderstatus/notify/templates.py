"""Message templates: the defaults that ship with the package and the merchant's own,
rendered in a sandbox.

A merchant's template is code written by someone we do not fully trust and cannot
test for them, so it runs in Jinja2's immutable sandbox, and every way it can go wrong
becomes a :class:`TemplateError` that fails that one message with a clear reason
instead of stopping the worker. The admin's editor uses :func:`check` to refuse a
template before it is saved.
"""

from __future__ import annotations

import re
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import PackageLoader, StrictUndefined, Template
from jinja2 import TemplateError as JinjaError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from orderstatus import i18n
from orderstatus.domain.notifications import Kind, fit_sms, sms_length

LANGUAGES = ("en", "nb")
"""Languages with default templates; any other order language gets English."""
DEFAULT_LANGUAGE = "en"
PARTS = ("subject", "text", "html", "sms")
MAX_SUBJECT = 200
MAX_SOURCE = 100_000
MAX_OUTPUT = 256 * 1024
"""Characters one part may render to."""
MAX_RANGE = 10_000
"""Numbers one ``range()`` may give."""
MAX_INT_BITS = 4096
"""Integers a template may compute: ``9 ** 9 ** 9`` would hold a CPU for hours."""
_PACKAGE = "orderstatus.notify"
_FOLDER = "default_templates"
_FILES = {"subject": "subject.txt", "text": "text.txt", "html": "html.html", "sms": "sms.txt"}
LAYOUT = "layout.html"
TEXT_LAYOUT = "layout.txt"
"""The frame every e-mail extends, one for all languages: its words come from the
catalogs (web/translations), so a new language is a catalog, not a copy."""


class TemplateError(Exception):
    """A template that cannot be rendered; the message says which part and why."""

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"the {part} template {reason}")
        self.part = part
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """One kind's wording in one language. ``sms`` only for kinds sent by SMS."""

    subject: str
    text: str
    html: str
    sms: str | None = None


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class RenderedPush:
    title: str
    body: str


MAX_PUSH_TITLE = 80
MAX_PUSH_BODY = 240
"""A notification shows a line or two; push services take 4 KiB in all."""


@dataclass(frozen=True, slots=True)
class RenderedSms:
    body: str
    encoding: str
    segments: int


def _supported(tag: str | None) -> str | None:
    base = (tag or "").replace("_", "-").split("-")[0].lower()
    base = {"no": "nb", "nn": "nb"}.get(base, base)
    return base if base in LANGUAGES else None


def language_of(order_locale: str | None, shop_locale: str | None = None) -> str:
    """The language to write to a customer in: the order's (``nb-NO`` → ``nb``), else
    the shop's, else English."""
    return _supported(order_locale) or _supported(shop_locale) or DEFAULT_LANGUAGE


@cache
def default_source(kind: Kind, language: str) -> TemplateSource:
    """The package's wording of a kind in a language (English when it has none)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    folder = resources.files(_PACKAGE) / _FOLDER / language / kind.value
    parts: dict[str, str | None] = {}
    for part, name in _FILES.items():
        path = folder / name
        parts[part] = path.read_text(encoding="utf-8") if path.is_file() else None
    subject, text, html = parts["subject"], parts["text"], parts["html"]
    assert subject is not None and text is not None and html is not None, folder
    return TemplateSource(subject=subject, text=text, html=html, sms=parts["sms"])


@cache
def default_push(kind: Kind, language: str) -> TemplateSource:
    """The package's push wording of a kind: the e-mail's subject as the title and its
    own short body. A push is ours, not the merchant's: it says only what a lock screen
    may show (see :func:`orderstatus.notify.context.for_push`)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    folder = resources.files(_PACKAGE) / _FOLDER / language / kind.value
    subject = (folder / _FILES["subject"]).read_text(encoding="utf-8")
    body = (folder / "push.txt").read_text(encoding="utf-8")
    return TemplateSource(subject=subject, text=body, html="")


def _cut(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


class OverBudget(Exception):
    """A template asked for more than a message may take; the text says what."""


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverBudget(f"uses a range() of more than {MAX_RANGE} numbers")
    return numbers


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``range`` capped and the two operators that make
    huge values from small ones (``'x' * 10**9``, ``9 ** 9 ** 9``) checked first.
    Intercepting them also keeps Jinja from folding such constants while compiling."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _range

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if isinstance(left, int) and isinstance(right, int):
            bits = abs(left).bit_length()
            if operator == "**" and bits > 1 and right > 0:
                size = bits * right
            else:
                size = bits + abs(right).bit_length()
            if size > MAX_INT_BITS:
                raise OverBudget("computes a number that is too large")
        elif operator == "*":
            length, times = (
                (_size(left), right) if _size(left) is not None else (_size(right), left)
            )
            if length is not None and isinstance(times, int) and length * times > MAX_OUTPUT:
                raise OverBudget(f"makes more than {MAX_OUTPUT // 1024} KiB")
        return super().call_binop(context, operator, left, right)


def _environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    env = BudgetedEnvironment(
        loader=PackageLoader(_PACKAGE, _FOLDER),
        autoescape=html,
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    return env


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


class Renderer:
    """Renders sources in the sandbox; compiled templates are kept by their text, so a
    busy worker compiles each merchant template once."""

    def __init__(self, cache_size: int = 512, on_part: Callable[[str], None] | None = None) -> None:
        self._on_part = on_part
        """Told which part is about to render (the sandbox's process reports it)."""
        self._html = _environment(html=True)
        self._text = _environment(html=False)
        self._compiled: OrderedDict[tuple[bool, str], Template] = OrderedDict()
        self._cache_size = cache_size

    def _compile(self, part: str, source: str, *, html: bool) -> Template:
        key = (html, source)
        template = self._compiled.get(key)
        if template is not None:
            self._compiled.move_to_end(key)
            return template
        if len(source) > MAX_SOURCE:
            raise TemplateError(part, f"is longer than {MAX_SOURCE} characters")
        try:
            template = (self._html if html else self._text).from_string(source)
        except JinjaError as exc:
            raise TemplateError(part, _reason(exc)) from None
        self._compiled[key] = template
        if len(self._compiled) > self._cache_size:
            self._compiled.popitem(last=False)
        return template

    def _render(self, part: str, source: str, context: dict[str, Any], *, html: bool) -> str:
        if self._on_part is not None:
            self._on_part(part)
        template = self._compile(part, source, html=html)
        chunks: list[str] = []
        size = 0
        try:
            for chunk in template.generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise OverBudget(f"makes more than {MAX_OUTPUT // 1024} KiB")
                chunks.append(chunk)
        except OverBudget as exc:
            raise TemplateError(part, str(exc)) from None
        except JinjaError as exc:
            raise TemplateError(part, _reason(exc)) from None
        except MemoryError:
            raise TemplateError(part, "needs too much memory") from None
        except Exception as exc:
            raise TemplateError(part, f"failed: {type(exc).__name__}: {exc}") from None
        return "".join(chunks)

    def email(self, source: TemplateSource, context: dict[str, Any]) -> RenderedEmail:
        # Rendering never awaits, so the language cannot leak into another task's render.
        i18n.activate(context.get("locale", DEFAULT_LANGUAGE))
        context = {**context, "layout": LAYOUT, "text_layout": TEXT_LAYOUT}
        subject = " ".join(self._render("subject", source.subject, context, html=False).split())
        if not subject:
            raise TemplateError("subject", "renders to nothing")
        subject = subject[:MAX_SUBJECT]
        context["subject"] = subject
        text = _tidy_text(self._render("text", source.text, context, html=False))
        html = self._render("html", source.html, context, html=True)
        return RenderedEmail(subject=subject, text=text, html=html)

    def push(self, source: TemplateSource, context: dict[str, Any]) -> RenderedPush:
        """A push from :func:`default_push`'s parts: title and body, each one line."""
        i18n.activate(context.get("locale", DEFAULT_LANGUAGE))
        title = _cut(self._render("subject", source.subject, context, html=False), MAX_PUSH_TITLE)
        body = _cut(self._render("text", source.text, context, html=False), MAX_PUSH_BODY)
        if not title:
            raise TemplateError("subject", "renders to nothing")
        return RenderedPush(title=title, body=body)

    def sms(self, source: TemplateSource, context: dict[str, Any]) -> RenderedSms:
        if not source.sms:
            raise TemplateError("sms", "is missing: this kind has no text message")
        body = fit_sms(self._render("sms", source.sms, context, html=False))
        if not body:
            raise TemplateError("sms", "renders to nothing")
        length = sms_length(body)
        return RenderedSms(body=body, encoding=length.encoding, segments=length.segments)


def _template_line(exc: BaseException) -> int | None:
    """Where a template failed while rendering: Jinja rewrites the traceback so that the
    merchant's template appears in it as "<template>" with its own line numbers."""
    lines = [
        f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"
    ]
    return lines[-1] if lines else None


def _reason(exc: JinjaError) -> str:
    line = getattr(exc, "lineno", None) or _template_line(exc)
    where = f" (line {line})" if line else ""
    return f"has an error{where}: {exc.message or type(exc).__name__}"
