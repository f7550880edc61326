// Live status page: the server pushes the page's order content again, rendered by the
// same template as the page, whenever the order changes (Server-Sent Events). Parts that
// changed are swapped in place, the others are left alone (a half-typed form, an open
// "earlier updates" list), drawn maps are kept, and the new headline is read out to
// screen readers. Browsers without EventSource reload the page now and then instead.
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

  // The message's forms have no token: they take the one this page was given.
  function keepToken(fresh) {
    var current = document.querySelector("input[name=csrf_token]");
    if (!current) { return; }
    fresh.querySelectorAll("input[name=csrf_token]").forEach(function (input) {
      input.value = current.value;
      input.setAttribute("value", current.value);
    });
  }

  // A map Leaflet has drawn stays (it is redrawn with the new positions); "details" the
  // customer opened stay open.
  function carryOver(old, fresh) {
    old.querySelectorAll("[data-map]").forEach(function (slot) {
      var twin = fresh.querySelector('[data-map="' + slot.getAttribute("data-map") + '"]');
      if (twin) { twin.replaceWith(slot); }
    });
    old.querySelectorAll("details[open][id]").forEach(function (details) {
      var twin = fresh.querySelector("#" + CSS.escape(details.id));
      if (twin && twin.tagName === "DETAILS") { twin.open = true; }
    });
  }

  // Make box's children those of freshBox: a part (a child with an id) that is unchanged
  // stays where it is, untouched; one that changed is swapped; parts come and go.
  function sync(box, freshBox) {
    var wanted = Array.prototype.map.call(freshBox.childNodes, function (fresh) {
      var old = fresh.nodeType === 1 && fresh.id ? document.getElementById(fresh.id) : null;
      if (!old || old.parentNode !== box) { return fresh; }
      // A part this page's own script keeps up (notifications on this device) stays.
      if (old.hasAttribute("data-live-keep")) { return old; }
      if (old.hasAttribute("data-parts") && fresh.hasAttribute("data-parts")) {
        syncAttributes(old, fresh);
        sync(old, fresh);
        return old;
      }
      if (old.isEqualNode(fresh)) { return old; }
      carryOver(old, fresh);
      return fresh;
    });
    var keep = new Set(wanted);
    Array.prototype.slice.call(box.childNodes).forEach(function (node) {
      if (!keep.has(node)) { node.remove(); }
    });
    var cursor = box.firstChild;
    wanted.forEach(function (node) {
      if (node === cursor) {
        cursor = cursor.nextSibling;
      } else {
        box.insertBefore(node, cursor);
      }
    });
  }

  function syncAttributes(old, fresh) {
    Array.prototype.slice.call(old.attributes).forEach(function (a) {
      if (!fresh.hasAttribute(a.name)) { old.removeAttribute(a.name); }
    });
    Array.prototype.slice.call(fresh.attributes).forEach(function (a) {
      if (old.getAttribute(a.name) !== a.value) { old.setAttribute(a.name, a.value); }
    });
  }

  function apply(data) {
    var fresh = fragment(data.main);
    var parts = document.getElementById("page-parts");
    if (!fresh || !parts || fresh.id !== "page-parts") {
      window.location.reload();
      return;
    }
    if (fresh.querySelector("[data-map]") && !window.orderstatusDrawMaps) {
      window.location.reload();  // the first map on this page: load the map script
      return;
    }
    keepToken(fresh);
    var before = document.getElementById("headline");
    var said = before ? before.textContent.trim() : "";
    sync(parts, fresh);
    root.setAttribute("data-version", String(data.version));
    if (window.orderstatusDrawMaps) { window.orderstatusDrawMaps(); }
    var title = document.getElementById("headline");
    var now = title ? title.textContent.trim() : "";
    if (announcer && now !== said) { announcer.textContent = now; }
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
