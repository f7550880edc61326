// Shipment maps: the latest position as a marker with its place and time, earlier ones
// as a thin line. Vector layers, so the marker and line show even when no tiles load.
// Without a tile server (data-tiles empty) land and borders come from the app's own
// base map (/static/basemap/world.<hash>.json, Natural Earth), fetched once for all maps on the
// page and kept by the browser; nothing is asked of any other site.
(function () {
  "use strict";
  var maps = {};
  window.orderstatusMaps = maps;
  var basemaps = {};
  // The base map holds detail for about zoom 6 (scripts/basemap.py): views are fitted
  // no closer, and zooming in stops where its coast would look crude.
  var BASEMAP_FIT_ZOOM = 6;
  var BASEMAP_MAX_ZOOM = 8;
  var LABEL_MARGIN = 6;

  // TopoJSON → Leaflet [lat, lon] rings: land (polygons of rings) and borders (lines).
  function decode(topology) {
    var scale = topology.transform.scale;
    var translate = topology.transform.translate;
    var arcs = topology.arcs.map(function (arc) {
      var x = 0, y = 0;
      return arc.map(function (delta) {
        x += delta[0];
        y += delta[1];
        return [y * scale[1] + translate[1], x * scale[0] + translate[0]];
      });
    });
    // A ring that crosses the antimeridian (Russia, Fiji) keeps going east past 180°
    // rather than jumping back across the whole map.
    function line(indices) {
      var out = [];
      var shift = 0;
      indices.forEach(function (index) {
        var arc = index >= 0 ? arcs[index] : arcs[~index].slice().reverse();
        for (var i = out.length ? 1 : 0; i < arc.length; i++) {
          var lon = arc[i][1] + shift;
          if (out.length) {
            var step = lon - out[out.length - 1][1];
            if (step > 180) { shift -= 360; lon -= 360; } else if (step < -180) { shift += 360; lon += 360; }
          }
          out.push([arc[i][0], lon]);
        }
      });
      return out;
    }
    return {
      land: topology.objects.land.arcs.map(function (polygon) { return polygon.map(line); }),
      borders: topology.objects.borders.arcs.map(line)
    };
  }

  function loadBasemap(url) {
    if (!basemaps[url]) {
      basemaps[url] = fetch(url, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok) { throw new Error("base map: " + response.status); }
        return response.json();
      }).then(decode);
    }
    return basemaps[url];
  }

  function addBasemap(map, url) {
    var pane = map.createPane("basemap");
    pane.style.zIndex = 250; // above the (empty) tile pane, below the route and marker
    var renderer = L.svg({ pane: "basemap" });
    loadBasemap(url).then(function (shapes) {
      L.polygon(shapes.land, {
        pane: "basemap", renderer: renderer, interactive: false, className: "basemap-land",
        color: "#a9b9c2", weight: 1, fillColor: "#f6f4ee", fillOpacity: 1,
        attribution: "Natural Earth"
      }).addTo(map);
      L.polyline(shapes.borders, {
        pane: "basemap", renderer: renderer, interactive: false, className: "basemap-borders",
        color: "#b9a99a", weight: 1, dashArray: "4 3"
      }).addTo(map);
    }).catch(function () { /* the route and marker still show on the sea colour */ });
  }

  // A label near an edge would be cut off by the map's frame: move the map under it.
  function keepLabelInside(entry) {
    var tooltip = entry.marker.getTooltip();
    var el = tooltip && tooltip.getElement();
    var box = entry.map.getContainer().getBoundingClientRect();
    if (!el || !box.width || !box.height) { return; }
    var label = el.getBoundingClientRect();
    var dx = 0, dy = 0;
    if (label.top < box.top + LABEL_MARGIN) { dy = label.top - box.top - LABEL_MARGIN; }
    if (label.left < box.left + LABEL_MARGIN) {
      dx = label.left - box.left - LABEL_MARGIN;
    } else if (label.right > box.right - LABEL_MARGIN) {
      dx = label.right - box.right + LABEL_MARGIN;
    }
    if (dx || dy) { entry.map.panBy([dx, dy], { animate: false }); }
  }

  function fit(entry) {
    var map = entry.map;
    var latlngs = entry.line.getLatLngs();
    if (latlngs.length > 1) {
      // Room at the top for the label, should the last place be the northernmost.
      map.fitBounds(entry.line.getBounds(), {
        paddingTopLeft: [30, 64], paddingBottomRight: [30, 24], maxZoom: entry.fitZoom, animate: false
      });
    } else {
      map.setView(entry.marker.getLatLng(), entry.fitZoom, { animate: false });
    }
    keepLabelInside(entry);
  }

  function create(slot, id) {
    var tiles = slot.getAttribute("data-tiles");
    var map = L.map(slot, {
      scrollWheelZoom: false, attributionControl: true, fadeAnimation: false,
      maxZoom: tiles ? 18 : BASEMAP_MAX_ZOOM, minZoom: tiles ? 0 : 2
    });
    var entry = { map: map, line: null, marker: null, drawn: null, fitZoom: tiles ? 10 : BASEMAP_FIT_ZOOM };
    maps[id] = entry;
    var basemapWanted = !tiles;
    // A hidden map (behind "Show map") fetches the base map only once it is shown.
    function basemapWhenShown() {
      if (basemapWanted && (!window.ResizeObserver || (slot.clientWidth && slot.clientHeight))) {
        basemapWanted = false;
        addBasemap(map, slot.getAttribute("data-basemap"));
      }
    }
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 18, attribution: slot.getAttribute("data-attribution") }).addTo(map);
    }
    basemapWhenShown();
    // A map laid out while hidden (or resized) gets its size and view again when shown.
    if (window.ResizeObserver) {
      var size = [slot.clientWidth, slot.clientHeight];
      new ResizeObserver(function () {
        if (slot.clientWidth === size[0] && slot.clientHeight === size[1]) { return; }
        size = [slot.clientWidth, slot.clientHeight];
        map.invalidateSize({ pan: false });
        if (entry.line && size[0] && size[1]) { fit(entry); }
        basemapWhenShown();
      }).observe(slot);
    }
    return entry;
  }

  function draw(slot) {
    var id = slot.getAttribute("data-map");
    var data = document.getElementById("map-data-" + id);
    if (!data || typeof L === "undefined") { return; }
    var text = data.textContent || "[]";
    var entry = maps[id];
    // A live update that leaves this shipment's positions alone leaves its map alone.
    if (entry && entry.drawn === text) { return; }
    var points = JSON.parse(text);
    if (!points.length) { return; }
    entry = entry || create(slot, id);
    entry.drawn = text;
    var map = entry.map;
    if (entry.line) { entry.line.remove(); }
    if (entry.marker) { entry.marker.unbindTooltip(); entry.marker.remove(); }
    var accent = (getComputedStyle(document.documentElement).getPropertyValue("--accent") || "#1f6f5c").trim();
    var latlngs = points.map(function (p) { return [p.lat, p.lon]; });
    entry.line = L.polyline(latlngs, { color: accent, weight: 2, opacity: 0.7 }).addTo(map);
    var last = points[points.length - 1];
    entry.marker = L.circleMarker([last.lat, last.lon], {
      radius: 9, color: "#fff", weight: 3, fillColor: accent, fillOpacity: 1
    }).addTo(map);
    // A place name comes from carriers' data: Leaflet treats a string as HTML, so the
    // label is given as an element holding it as text.
    var label = document.createElement("span");
    label.textContent = last.label;
    entry.marker.bindTooltip(label, { permanent: true, direction: "top", offset: [0, -8] });
    fit(entry);
  }

  function drawAll() {
    document.querySelectorAll("[data-map]").forEach(draw);
  }

  window.orderstatusDrawMaps = drawAll;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
