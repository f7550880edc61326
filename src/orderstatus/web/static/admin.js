// The admin's small conveniences; every page works without them.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }

  // "/" jumps to the order search from anywhere (or to the orders list, which has it).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typing(document.activeElement)) { return; }
    var search = document.querySelector("[data-search-key]");
    event.preventDefault();
    if (search) { search.focus(); search.select(); } else { window.location.href = "/admin/orders"; }
  });

  // Forms that undo something ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  document.querySelectorAll("[data-select-all]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });

  // The carrier is guessed from the tracking number as it is typed.
  document.querySelectorAll("[data-tracking]").forEach(function (box) {
    var number = box.querySelector("[data-detect]");
    var select = box.querySelector("select[name=carrier]");
    var said = box.querySelector("[data-detected]");
    if (!number || !select || !said) { return; }
    var chosenByHand = false;
    var timer = null;
    var asked = 0;
    select.addEventListener("change", function () { chosenByHand = true; });
    function show(carriers) {
      if (!number.value.trim()) { said.textContent = ""; return; }
      if (!carriers.length) {
        said.textContent = said.getAttribute("data-unknown") || "";
        return;
      }
      var names = carriers.map(function (c) { return c.name; }).join(", ");
      said.textContent = (said.getAttribute("data-found") || "{carriers}").replace("{carriers}", names);
      if (!chosenByHand) { select.value = carriers[0].code; }
    }
    number.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var mine = ++asked;
        var value = number.value.trim();
        if (value.length < 3) { show([]); return; }
        fetch(number.getAttribute("data-detect") + "?number=" + encodeURIComponent(value), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { carriers: [] }; })
          .then(function (data) { if (mine === asked) { show(data.carriers || []); } })
          .catch(function () {});
      }, 250);
    });
  });

  // A logo over the limit is refused before it is sent.
  document.querySelectorAll("form[data-max-bytes]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    form.addEventListener("submit", function (event) {
      if (input && input.files && input.files[0] && input.files[0].size > max) {
        event.preventDefault();
        input.setCustomValidity(form.getAttribute("data-too-large"));
        input.reportValidity();
      }
    });
    if (input) { input.addEventListener("change", function () { input.setCustomValidity(""); }); }
  });

  // The colour picker and the colour's text field stay in step.
  document.querySelectorAll("[data-color-for]").forEach(function (picker) {
    var field = document.getElementById(picker.getAttribute("data-color-for"));
    if (!field) { return; }
    picker.addEventListener("input", function () {
      field.value = picker.value;
      field.dispatchEvent(new Event("input", { bubbles: true }));
    });
    field.addEventListener("input", function () {
      if (/^#[0-9a-fA-F]{6}$/.test(field.value.trim())) { picker.value = field.value.trim(); }
    });
  });

  // The status page preview follows the forms before they are saved.
  var frame = document.querySelector("[data-preview-frame]");
  if (frame) {
    var pending = null;
    var logo = null;
    function value(name) {
      var el = document.querySelector('[data-preview="' + name + '"]:checked') || document.querySelector('[data-preview="' + name + '"]');
      return el ? el.value : "";
    }
    function refresh() {
      var params = new URLSearchParams();
      params.set("status", value("status") || "in_transit");
      ["name", "accent_color", "note", "placement"].forEach(function (name) {
        var v = value(name);
        if (v) { params.set(name, v); }
      });
      frame.src = "/admin/page/preview?" + params.toString();
    }
    function later() { window.clearTimeout(pending); pending = window.setTimeout(refresh, 300); }
    document.querySelectorAll("[data-preview]").forEach(function (el) {
      if (el.type === "file") {
        el.addEventListener("change", function () {
          var file = el.files && el.files[0];
          if (!file || file.size > 1024 * 1024 || !/^image\/(png|jpeg|webp)$/.test(file.type)) { logo = null; return; }
          var reader = new FileReader();
          reader.onload = function () { logo = reader.result; refresh(); };
          reader.readAsDataURL(file);
        });
      } else {
        el.addEventListener("input", later);
        el.addEventListener("change", later);
      }
    });
    frame.addEventListener("load", function () {
      if (!logo) { return; }
      var doc = frame.contentDocument;
      var header = doc && doc.querySelector(".shop-header .wrap");
      if (!header) { return; }
      var img = doc.createElement("img");
      img.className = "logo";
      img.height = 40;
      img.alt = value("name");
      img.src = logo;
      header.replaceChildren(img);
    });
  }

  // The order page follows its order: when it changes (a carrier event, a message sent,
  // a colleague's action) the page shows the new state, unless someone is typing, who
  // gets a note with a link instead.
  var live = document.getElementById("admin-live");
  if (live && "EventSource" in window) {
    var note = document.getElementById("admin-live-note");
    var dirty = false;
    document.addEventListener("input", function () { dirty = true; });
    var source = new EventSource(live.getAttribute("data-live") + "?v=" + live.getAttribute("data-version"));
    source.addEventListener("changed", function () {
      if (dirty || typing(document.activeElement)) {
        if (note) { note.hidden = false; }
        return;
      }
      source.close();
      window.location.reload();
    });
  }
})();
