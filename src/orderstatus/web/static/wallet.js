// "Add to Apple Wallet": shown only on Apple devices, where Wallet opens the order file.
// The mark is on the root element, which live updates of the page never replace. An iPad
// asking for the desktop site says "Macintosh".
(function () {
  "use strict";
  var agent = navigator.userAgent || "";
  var mac = /Macintosh/.test(agent) && /Safari/.test(agent) &&
    !/Chrome|Chromium|Firefox|Edg\//.test(agent);
  if (/iPhone|iPad|iPod/.test(agent) || mac) {
    document.documentElement.classList.add("apple-device");
  }
})();
