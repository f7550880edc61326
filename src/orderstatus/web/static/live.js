// Live status page: the server pushes the parts of the page that changed (Server-Sent
// Events); they replace the old ones in place and the change is read out to screen
// readers. Browsers without EventSource reload the page now and then instead.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) { return; }
  var announcer = document.getElementById("live-announcer");
  var FALLBACK_RELOAD_MS = 60000;

  function busy() {
    var el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
  }

  if (!("EventSource" in window)) {
    window.setInterval(function () { if (!busy()) { window.location.reload(); } }, FALLBACK_RELOAD_MS);
    return;
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function sameShipments(ids) {
    var shown = Array.prototype.map.call(
      document.querySelectorAll("section[data-shipment]"),
      function (el) { return el.getAttribute("data-shipment"); }
    );
    return shown.length === ids.length && ids.every(function (id) { return shown.indexOf(id) >= 0; });
  }

  function replaceShipment(id, html) {
    var old = document.querySelector('section[data-shipment="' + id + '"]');
    var fresh = fragment(html);
    if (!old || !fresh) { return false; }
    var oldMap = old.querySelector("figure.map");
    var newMap = fresh.querySelector("figure.map");
    if (!oldMap && newMap) { return false; }
    if (oldMap && newMap) {
      // Keep the drawn map; take the new positions and caption.
      oldMap.querySelector("script").textContent = newMap.querySelector("script").textContent;
      oldMap.querySelector("figcaption").textContent = newMap.querySelector("figcaption").textContent;
      newMap.replaceWith(oldMap);
    }
    var openDetails = old.querySelector("details[open]") !== null;
    old.replaceWith(fresh);
    if (openDetails) {
      var details = fresh.querySelector("details");
      if (details) { details.open = true; }
    }
    return true;
  }

  function apply(data) {
    var ids = Object.keys(data.shipments);
    var unshipped = document.getElementById("unshipped") ? 1 : 0;
    if (!sameShipments(ids) || (data.unshipped > 0 ? 1 : 0) !== unshipped) {
      window.location.reload();
      return;
    }
    for (var i = 0; i < ids.length; i++) {
      if (!replaceShipment(ids[i], data.shipments[ids[i]])) {
        window.location.reload();
        return;
      }
    }
    var headline = fragment(data.headline);
    document.getElementById("headline-card").replaceWith(headline);
    root.setAttribute("data-version", String(data.version));
    if (window.orderstatusDrawMaps) { window.orderstatusDrawMaps(); }
    if (announcer) {
      var title = headline.querySelector("h2");
      announcer.textContent = title ? title.textContent.trim() : "";
    }
  }

  var source = new EventSource(root.getAttribute("data-live") + "?v=" + root.getAttribute("data-version"));
  // The page is no longer there (a share link was revoked): show what is there now.
  source.addEventListener("gone", function () {
    source.close();
    window.location.reload();
  });
  source.addEventListener("update", function (event) {
    try {
      apply(JSON.parse(event.data));
    } catch (err) {
      window.location.reload();
    }
  });
})();
