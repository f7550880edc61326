#!/usr/bin/env python3
"""Make the offline base map, src/orderstatus/web/static/basemap/world.json.

The shipment map draws land and country borders from this file when no tile server is
configured, so a map is useful without any request to a third party.

Source: Natural Earth 1:50m countries (public domain), as redistributed in the npm
package world-atlas 2.0.2 (TopoJSON, ISC licence). Fetch it and run:

    cd "$(mktemp -d)" && npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 scripts/basemap.py "$PWD/package/countries-50m.json"

What it does, with the standard library only:
- keeps two things of the topology: the land (one MultiPolygon) and the borders between
  countries (the arcs two countries share), no names or other properties;
- simplifies every arc (Douglas-Peucker in Web Mercator, so the tolerance is the same on
  screen everywhere; an arc's ends stay, so land and borders still meet);
- drops islands too small to see at the zoom the map is drawn at, and Antarctica;
- writes TopoJSON again, quantised and delta-encoded, which web/static/map.js reads.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/orderstatus/web/static/basemap/world.json"

TOLERANCE = 1.0
"""Pixels at DETAIL_ZOOM a simplified line may stray from the original."""
DETAIL_ZOOM = 6
"""The closest zoom the map is drawn at without tiles (see MAX_ZOOM in map.js)."""
MIN_RING_PIXELS = 6.0
"""Rings whose extent is smaller than this many pixels at DETAIL_ZOOM are dropped."""
SOUTH = -60.0
"""Land wholly south of this (Antarctica) is left out: no parcels go there."""
GRID = 1 << 15
"""Quantisation: this many steps across the world's width (and height, -85..85°)."""

Point = tuple[float, float]  # (lon, lat)


def decode_arcs(topology: dict) -> list[list[Point]]:
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def pixels(point: Point) -> tuple[float, float]:
    """Web Mercator pixel at DETAIL_ZOOM."""
    lon, lat = point
    lat = max(-85.0, min(85.0, lat))
    size = 256 * 2**DETAIL_ZOOM
    x = (lon + 180) / 360 * size
    y = 1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi
    return x, y / 2 * size


def simplify(points: list[Point], tolerance: float) -> list[Point]:
    """Douglas-Peucker on screen pixels; keeps both ends."""
    if len(points) < 3:
        return points
    xy = [pixels(p) for p in points]
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = xy[first], xy[last]
        length = math.hypot(bx - ax, by - ay)
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            px, py = xy[i]
            if length == 0:
                d = math.hypot(px - ax, py - ay)
            else:
                d = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
            if d > worst:
                worst, index = d, i
        if worst > tolerance and index > 0:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [p for p, k in zip(points, keep, strict=True) if k]


def arc_indices(geometry: dict) -> list[list[list[int]]]:
    """A (Multi)Polygon's arcs as polygons of rings."""
    if geometry["type"] == "Polygon":
        return [geometry["arcs"]]
    if geometry["type"] == "MultiPolygon":
        return list(geometry["arcs"])
    return []


def ring_points(ring: list[int], arcs: list[list[Point]]) -> list[Point]:
    points: list[Point] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def visible(points: list[Point]) -> bool:
    if all(lat < SOUTH for _lon, lat in points):
        return False
    xy = [pixels(p) for p in points]
    xs = [x for x, _ in xy]
    ys = [y for _, y in xy]
    return len(points) >= 4 and max(max(xs) - min(xs), max(ys) - min(ys)) >= MIN_RING_PIXELS


def build(topology: dict) -> dict:
    original = decode_arcs(topology)
    arcs = [simplify(arc, TOLERANCE) for arc in original]

    land = [
        [ring for ring in polygon if visible(ring_points(ring, arcs))]
        for geometry in topology["objects"]["land"]["geometries"]
        for polygon in arc_indices(geometry)
        if visible(ring_points(polygon[0], arcs))
    ]

    # A border is an arc two different countries share (topojson.mesh with a !== b).
    users: dict[int, set[int]] = {}
    for number, geometry in enumerate(topology["objects"]["countries"]["geometries"]):
        for polygon in arc_indices(geometry):
            for ring in polygon:
                for index in ring:
                    users.setdefault(index if index >= 0 else ~index, set()).add(number)
    borders = sorted(index for index, who in users.items() if len(who) > 1)

    # Keep only the arcs used, numbered anew.
    used = sorted({i if i >= 0 else ~i for p in land for r in p for i in r} | set(borders))
    renumber = {old: new for new, old in enumerate(used)}

    def new_index(index: int) -> int:
        return renumber[index] if index >= 0 else ~renumber[~index]

    scale = (360 / GRID, 170 / GRID)
    translate = (-180.0, -85.0)

    def quantise(arc: list[Point]) -> list[list[int]]:
        out: list[list[int]] = []
        px = py = 0
        for lon, lat in arc:
            x = round((lon - translate[0]) / scale[0])
            y = round((max(-85.0, min(85.0, lat)) - translate[1]) / scale[1])
            if out and x == px and y == py:
                continue
            out.append([x - px, y - py])
            px, py = x, y
        return out

    return {
        "type": "Topology",
        "transform": {"scale": list(scale), "translate": list(translate)},
        "objects": {
            "land": {
                "type": "MultiPolygon",
                "arcs": [[[new_index(i) for i in ring] for ring in polygon] for polygon in land],
            },
            "borders": {"type": "MultiLineString", "arcs": [[renumber[i]] for i in borders]},
        },
        "arcs": [quantise(arcs[old]) for old in used],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="world-atlas's countries-50m.json")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    topology = build(json.loads(args.source.read_text()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(topology, separators=(",", ":"))
    args.out.write_text(text + "\n")
    points = sum(len(a) for a in topology["arcs"])
    print(f"{args.out}: {len(text) / 1024:.0f} KiB, {len(topology['arcs'])} arcs, {points} points")


if __name__ == "__main__":
    main()
