// Shipment maps: the latest position as a marker with its place and time, earlier ones
// as a thin line. Vector layers, so the marker and line show even when no tiles load.
(function () {
  "use strict";
  var maps = {};
  window.orderstatusMaps = maps;

  function draw(slot) {
    var id = slot.getAttribute("data-map");
    var data = document.getElementById("map-data-" + id);
    if (!data || typeof L === "undefined") { return; }
    var points = JSON.parse(data.textContent || "[]");
    if (!points.length) { return; }
    var latlngs = points.map(function (p) { return [p.lat, p.lon]; });
    var map = maps[id] ? maps[id].map : L.map(slot, { scrollWheelZoom: false, attributionControl: true, fadeAnimation: false });
    if (!maps[id]) {
      L.tileLayer(slot.getAttribute("data-tiles"), {
        maxZoom: 18,
        attribution: slot.getAttribute("data-attribution")
      }).addTo(map);
      maps[id] = { map: map, line: null, marker: null };
    }
    var entry = maps[id];
    if (entry.line) { entry.line.remove(); }
    if (entry.marker) { entry.marker.unbindTooltip(); entry.marker.remove(); }
    var accent = getComputedStyle(document.documentElement).getPropertyValue("--accent") || "#1f6f5c";
    entry.line = L.polyline(latlngs, { color: accent.trim(), weight: 2, opacity: 0.7 }).addTo(map);
    var last = points[points.length - 1];
    entry.marker = L.circleMarker([last.lat, last.lon], {
      radius: 9, color: "#fff", weight: 3, fillColor: accent.trim(), fillOpacity: 1
    }).addTo(map);
    // A place name comes from carriers' data: Leaflet treats a string as HTML, so the
    // label is given as an element holding it as text.
    var label = document.createElement("span");
    label.textContent = last.label;
    entry.marker.bindTooltip(label, { permanent: true, direction: "top", offset: [0, -8] });
    if (latlngs.length > 1) {
      map.fitBounds(entry.line.getBounds(), { padding: [30, 30], maxZoom: 10 });
    } else {
      map.setView([last.lat, last.lon], 9);
    }
  }

  // A map behind a closed "Show map" is drawn when it is opened (it has no size before).
  function drawAll() {
    document.querySelectorAll("[data-map]").forEach(function (slot) {
      if (!slot.closest("details:not([open])")) { draw(slot); }
    });
  }

  document.addEventListener("toggle", function (event) {
    if (!event.target.open) { return; }
    event.target.querySelectorAll("[data-map]").forEach(function (slot) {
      var entry = maps[slot.getAttribute("data-map")];
      if (entry) { entry.map.invalidateSize(); }
      draw(slot);
    });
  }, true);

  window.orderstatusDrawMaps = drawAll;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
