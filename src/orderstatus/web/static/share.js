// Share link: "Copy link" and, where the browser has it, the system's share sheet. Without
// JavaScript the link is a plain link to copy by hand. Clicks are caught on the document, so
// a share card the live script swapped in works too.
(function () {
  "use strict";
  var html = document.documentElement;
  html.classList.add("can-copy");
  if (navigator.share) { html.classList.add("can-share"); }

  function said(card, text) {
    var status = card.querySelector(".share-done");
    if (status) { status.textContent = text || status.getAttribute("data-copied-text"); }
  }

  function copyByHand(text) {
    var field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.style.position = "fixed";
    field.style.opacity = "0";
    document.body.appendChild(field);
    field.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (err) { done = false; }
    field.remove();
    return done;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-link], [data-share-link]");
    if (!button) { return; }
    var card = button.closest("section");
    var link = card && card.querySelector("[data-share-url]");
    if (!link) { return; }
    var url = link.getAttribute("href");
    if (button.hasAttribute("data-share-link")) {
      navigator.share({ title: button.getAttribute("data-title"), url: url }).catch(function () {});
      return;
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(
        function () { said(card); },
        function () { if (copyByHand(url)) { said(card); } }
      );
    } else if (copyByHand(url)) {
      said(card);
    }
  });
})();
