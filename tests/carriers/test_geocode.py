"""Placing scans on the map from place names, offline, and never in a wrong place."""

from __future__ import annotations

import pytest

from orderstatus.carriers.geocode import Gazetteer, fold


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
