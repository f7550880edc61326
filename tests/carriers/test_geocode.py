"""Placing scans on the map from place names, offline, and never in a wrong place."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import pytest

from orderstatus.carriers import geocode
from orderstatus.carriers.geocode import Gazetteer, fold
from tests.process_groups import output_of_own_group


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    from tests.conftest import run_sync

    shared = Gazetteer()
    run_sync(shared.load())
    return shared


def test_names_fold_as_carriers_write_them() -> None:
    assert fold("TROMSØ") == fold("Tromso") == "tromso"
    assert fold("Bærum") == "baerum"
    assert fold("Saint-Étienne") == "saint etienne"


@pytest.mark.parametrize(
    ("city", "country", "region", "near"),
    [
        ("BERGEN", "NO", None, (60.39, 5.32)),
        ("tromso", "no", None, (69.65, 18.96)),
        ("Göteborg", "SE", None, (57.71, 11.97)),
        ("Louisville", "US", "KY", (38.25, -85.76)),
        ("Springfield", "US", "IL", (39.80, -89.64)),
    ],
)
def test_known_places_are_found(
    gazetteer: Gazetteer, city: str, country: str, region: str | None, near: tuple[float, float]
) -> None:
    place = gazetteer.lookup(city, country, region)
    assert place is not None
    assert abs(place.latitude - near[0]) < 0.05 and abs(place.longitude - near[1]) < 0.05


@pytest.mark.parametrize(
    ("city", "country"),
    [("Springfield", "US"), ("Atlantis", "NO"), ("Bergen", None), (None, "NO"), ("Oslo", "SE")],
)
def test_unknown_or_ambiguous_places_get_no_position(
    gazetteer: Gazetteer, city: str | None, country: str | None
) -> None:
    assert gazetteer.lookup(city, country) is None


def test_the_time_zone_comes_with_the_place(gazetteer: Gazetteer) -> None:
    place = gazetteer.lookup("Bergen", "NO")
    assert place is not None and place.timezone == "Europe/Oslo"


STOPPED_WHILE_READING = """
import asyncio, os, signal, sys
from orderstatus.carriers.geocode import Gazetteer
from tests.process_groups import output_of_own_group

# The parent stays up to finish its requests, as uvicorn does on SIGTERM.
signal.signal(signal.SIGTERM, lambda *_: None)


async def main() -> None:
    gazetteer = Gazetteer()
    loading = asyncio.ensure_future(gazetteer.load())
    await asyncio.sleep(0.5)  # the child is reading
    os.killpg(0, signal.SIGTERM)  # as systemd stops a service: the whole group
    await loading
    place = gazetteer.lookup("Bergen", "NO")
    print("found" if place is not None else "missing")


asyncio.run(main())
"""


def test_a_stop_signal_to_the_group_does_not_kill_the_reading_child() -> None:
    """The requests waiting for the index while the server shuts down still get it."""
    assert output_of_own_group(STOPPED_WHILE_READING) == "found"


async def test_a_child_that_dies_leaves_places_unknown_then_tries_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tries: list[str] = []

    async def dies() -> geocode.Index:
        tries.append("died")
        raise BrokenProcessPool("killed")

    async def reads() -> geocode.Index:
        tries.append("read")
        return {("NO", "bergen"): [(60.39, 5.32, 285_000, "12", "Europe/Oslo")]}

    gazetteer = Gazetteer()
    monkeypatch.setattr(geocode, "_load_in_child", dies)
    await gazetteer.load()  # no error: the caller goes on without positions
    assert gazetteer.lookup("Bergen", "NO") is None
    monkeypatch.setattr(geocode, "_load_in_child", reads)
    await gazetteer.load()  # too soon to try again
    assert tries == ["died"]
    monkeypatch.setattr(geocode, "RETRY_LOAD_AFTER", 0.0)
    await gazetteer.load()
    assert tries == ["died", "read"]
    place = gazetteer.lookup("Bergen", "NO")
    assert place is not None and place.timezone == "Europe/Oslo"
