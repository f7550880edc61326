// "Add to Apple Wallet": shown only on Apple devices, where Wallet opens the order file.
// An iPad asking for the desktop site says "Macintosh" but has a touch screen.
(function () {
  "use strict";
  var agent = navigator.userAgent || "";
  var apple = /iPhone|iPad|iPod/.test(agent) ||
    (/Macintosh/.test(agent) && /Safari/.test(agent) && !/Chrome|Chromium|Firefox|Edg\//.test(agent));
  if (!apple) { return; }
  document.querySelectorAll("[data-apple-wallet]").forEach(function (card) {
    card.hidden = false;
  });
})();
