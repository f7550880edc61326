"""The translation catalogs are complete, well-formed and used at run time.

The extraction below reads babel.cfg, the same mapping scripts/translations.sh uses, so a
string marked in a template or in Python code without a translation fails here with its
place in the source. Run scripts/translations.sh, translate the new entries, and re-run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from orderstatus import i18n
from orderstatus.domain.statuses import EventStatus
from orderstatus.domain.view import EventView
from orderstatus.notify.templates import Renderer
from orderstatus.web.templating import create_environment, map_points

ROOT = Path(__file__).resolve().parents[1]
BABEL_CFG = ROOT / "babel.cfg"
PACKAGE = ROOT / "src" / "orderstatus"
TEMPLATES = PACKAGE / "web" / "templates"
TRANSLATIONS = PACKAGE / "web" / "translations"
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
"""Babel's default gettext names plus ``-k N_``, as in scripts/translations.sh."""

LANGUAGES = [tag for tag in i18n.LANGUAGES if tag != i18n.SOURCE_LOCALE]

PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]"
)


def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    with BABEL_CFG.open(encoding="utf-8") as handle:
        return parse_mapping_cfg(handle)


def _extract() -> Catalog:
    method_map, options_map = _mapping()
    extracted = Catalog(locale=i18n.SOURCE_LOCALE)
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(PACKAGE), method_map, options_map, keywords=KEYWORDS
    ):
        place = (str((PACKAGE / filename).relative_to(ROOT)), lineno)
        extracted.add(message, None, [place], context=context)
    return extracted


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return _extract()


def _catalog(tag: str) -> Catalog:
    with (TRANSLATIONS / tag / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=tag)


def _messages(catalog: Catalog) -> Iterator[Message]:
    return (message for message in catalog if message.id)


def _where(message: Message) -> str:
    return ", ".join(f"{path}:{line}" for path, line in message.locations)


def _placeholders(text: str) -> set[str]:
    return {match.group(0) for match in PLACEHOLDER.finditer(text) if match.group(0) != "%%"}


@pytest.fixture
def restore_locale() -> Iterator[None]:
    before = i18n.current()
    yield
    i18n.activate(before)


def test_babel_cfg_parses_templates_like_the_page_environment() -> None:
    method_map, options_map = _mapping()
    methods = dict(method_map)
    assert "python" in methods.values()
    assert "jinja2" in methods.values()
    patterns = [pattern for pattern, method in method_map if method == "jinja2"]
    # The pages' templates, and the e-mail layout that every language shares.
    assert len(patterns) == 2
    envs = {
        patterns[0]: create_environment(),
        patterns[1]: Renderer()._html,
    }
    for pattern, env in envs.items():
        options = options_map[pattern]

        def flag(name: str, options: dict[str, str] = options) -> bool:
            return options.get(name, "false").lower() in {"1", "on", "yes", "true"}

        assert "jinja2.ext.i18n" in {e.strip() for e in options.get("extensions", "").split(",")}
        assert "jinja2.ext.InternationalizationExtension" in env.extensions
        assert flag("newstyle_gettext") is bool(getattr(env, "newstyle_gettext", False))
        assert flag("trim_blocks") is env.trim_blocks
        assert flag("lstrip_blocks") is env.lstrip_blocks
        assert flag("keep_trailing_newline") is env.keep_trailing_newline


def test_extraction_finds_strings_in_every_kind_of_source(extracted: Catalog) -> None:
    from_files = {path for message in _messages(extracted) for path, _line in message.locations}
    assert any(path.endswith(".py") for path in from_files)
    for template in sorted(TEMPLATES.glob("*.html")):
        source = template.read_text(encoding="utf-8")
        if re.search(r"\b(?:_|gettext|ngettext)\(", source):
            assert str(template.relative_to(ROOT)) in from_files, f"nothing from {template.name}"
    ids = {message.id for message in _messages(extracted)}
    assert "Not shipped yet" in ids
    assert "Order %(name)s" in ids
    assert "That order number and e-mail or phone don't match our records." in ids
    assert (
        "Too many tries. Please wait %(num)d minute and try again.",
        "Too many tries. Please wait %(num)d minutes and try again.",
    ) in ids


@pytest.mark.parametrize("tag", LANGUAGES)
def test_every_source_string_is_in_the_catalog(tag: str, extracted: Catalog) -> None:
    catalog = _catalog(tag)
    problems = []
    for message in _messages(extracted):
        entry = catalog.get(message.id, context=message.context)
        if entry is None:
            problems.append(f"missing: {message.id!r} ({_where(message)})")
        elif entry.id != message.id:
            problems.append(f"plural changed: {message.id!r} ({_where(message)})")
    assert not problems, (
        f"{len(problems)} source string(s) not in the {tag} catalog; run "
        "scripts/translations.sh and translate them:\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("tag", LANGUAGES)
def test_catalog_header(tag: str) -> None:
    catalog = _catalog(tag)
    headers = dict(catalog.mime_headers)
    assert headers["Language"] == tag
    assert "charset=utf-8" in headers["Content-Type"].lower().replace(" ", "")
    assert not catalog.fuzzy
    plural = get_plural(tag)
    assert (catalog.num_plurals, catalog.plural_expr) == (plural.num_plurals, plural.plural_expr)
    assert f"nplurals={plural.num_plurals};" in headers["Plural-Forms"].replace(" ", "")


@pytest.mark.parametrize("tag", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(tag: str) -> None:
    catalog = _catalog(tag)
    problems = []
    for message in _messages(catalog):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set().union(*(_placeholders(text) for text in ids))
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            problems.append(f"{len(strings)} plural forms, not {catalog.num_plurals}: {ids[0]!r}")
        for form, text in enumerate(strings):
            if not text or not text.strip():
                problems.append(f"untranslated: {ids[0]!r} (form {form})")
                continue
            found = _placeholders(text)
            if found != expected:
                problems.append(
                    f"placeholders {sorted(found)} instead of {sorted(expected)}: "
                    f"{ids[0]!r} (form {form}) -> {text!r}"
                )
                continue
            values = {match.group("name"): 1 for match in PLACEHOLDER.finditer(text)}
            try:
                text % values
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"does not format ({exc}): {text!r}")
    summary = f"{len(problems)} problem(s) in the {tag} catalog:"
    assert not problems, "\n".join([summary, *problems])


@pytest.mark.usefixtures("restore_locale")
def test_norwegian_at_run_time() -> None:
    i18n.activate("nb")
    assert i18n.gettext("Delivered") == "Levert"
    assert i18n.gettext("Not shipped yet") == "Ikke sendt ennå"
    singular, plural = (
        "Too many tries. Please wait %(num)d minute and try again.",
        "Too many tries. Please wait %(num)d minutes and try again.",
    )
    assert i18n.ngettext(singular, plural, 1) % {"num": 1} == (
        "For mange forsøk. Vent 1 minutt og prøv igjen."
    )
    assert i18n.ngettext(singular, plural, 3) % {"num": 3} == (
        "For mange forsøk. Vent 3 minutter og prøv igjen."
    )

    i18n.activate("en")
    assert i18n.gettext("Delivered") == "Delivered"


@pytest.mark.usefixtures("restore_locale")
def test_norwegian_in_templates() -> None:
    env = create_environment()
    template = env.from_string(
        '{{ _("Order %(name)s", name=number) }} | '
        '{{ ngettext("Show %(num)d earlier update", "Show %(num)d earlier updates", n) }}'
    )
    i18n.activate("nb")
    assert template.render(number="#1001", n=1) == "Bestilling #1001 | Vis 1 tidligere oppdatering"
    assert template.render(number="#1001", n=3) == (
        "Bestilling #1001 | Vis 3 tidligere oppdateringer"
    )


@pytest.mark.usefixtures("restore_locale")
def test_cached_timeline_entries_follow_the_language() -> None:
    env = create_environment()
    entry = env.from_string("{{ event(e, 'Europe/Oslo') }}")
    scan = EventView(
        id=1,
        status=EventStatus.DELIVERED,
        occurred_at=datetime(2026, 3, 3, 13, 5, tzinfo=UTC),
        message="Left at <door>",
        city="Oslo",
        region=None,
        country_code="NO",
        latitude=None,
        longitude=None,
    )
    i18n.activate("en")
    english = entry.render(e=scan)
    i18n.activate("nb")
    norwegian = entry.render(e=scan)
    assert "Delivered" in english and "Norway" in english
    assert "Levert" in norwegian and "Norge" in norwegian
    assert "Left at &lt;door&gt;" in norwegian  # cached, and still escaped
    i18n.activate("en")
    assert entry.render(e=scan) == english


@pytest.mark.usefixtures("restore_locale")
def test_plural_with_its_own_number_and_escaped_values() -> None:
    env = create_environment()
    i18n.activate("en")
    template = env.from_string(
        '{{ ngettext("%(num)d of %(total)d shipment delivered", '
        '"%(num)d of %(total)d shipments delivered", total, total=total, num=done) }} | '
        '{{ _("Thank you, %(name)s!", name=name) }}'
    )
    assert template.render(total=2, done=1, name="<b>Kari</b>") == (
        "1 of 2 shipments delivered | Thank you, &lt;b&gt;Kari&lt;/b&gt;!"
    )


def test_map_points_are_json_that_cannot_close_the_script() -> None:
    spot = EventView(
        id=1,
        status=EventStatus.IN_TRANSIT,
        occurred_at=datetime(2026, 3, 3, 13, 5, tzinfo=UTC),
        message=None,
        city="</script><script>alert(1)",
        region=None,
        country_code=None,
        latitude=59.91,
        longitude=10.75,
    )
    text = str(map_points([spot, spot], "UTC"))
    assert "</script>" not in text
    [first, second] = json.loads(text)
    assert first == second
    assert first["lat"] == 59.91 and first["label"].startswith("</script><script>alert(1) · ")
