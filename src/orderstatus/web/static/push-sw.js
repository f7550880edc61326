// The service worker of the status pages: it shows the pushes a page turned on, and a
// click opens the order's page (a pre-authenticated link of this site). It handles no
// fetch: pages load from the network as always.
"use strict";

self.addEventListener("push", function (event) {
  var message = {};
  try { message = event.data ? event.data.json() : {}; } catch (err) { message = {}; }
  if (!message.title) { return; }
  event.waitUntil(self.registration.showNotification(message.title, {
    body: message.body || "",
    icon: message.icon || "/favicon.ico",
    lang: message.lang || "",
    tag: message.tag || "",
    renotify: Boolean(message.tag),
    data: { url: message.url || "/" }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  if (url.origin !== self.location.origin) { return; }
  event.waitUntil(self.clients.openWindow(url.href));
});
