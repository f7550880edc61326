// "Notify me on this device": registers the status pages' service worker, subscribes
// this browser to pushes with the server's key and hands the subscription to the page's
// order; "Turn off" takes it back. One browser subscription serves every order turned
// on in it, so it is dropped only when the last of them is turned off.
(function () {
  "use strict";
  var card = document.getElementById("push-card");
  if (!card) { return; }
  var path = card.getAttribute("data-push");
  var storeKey = "orderstatus-push-orders";
  var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  var apple = /iPad|iPhone|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);

  function orders() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "[]"); } catch (err) { return []; }
  }
  function remember(on) {
    var list = orders().filter(function (p) { return p !== path; });
    if (on) { list.push(path); }
    try { localStorage.setItem(storeKey, JSON.stringify(list)); } catch (err) { /* private mode */ }
    return list;
  }
  function show(state) {
    card.hidden = false;
    card.querySelectorAll("[data-push-state]").forEach(function (el) {
      el.hidden = el.getAttribute("data-push-state") !== state;
    });
    card.querySelector("[data-push-on]").hidden = state !== "off";
    card.querySelector("[data-push-off]").hidden = state !== "on";
  }
  function said(text) { card.querySelector(".push-status").textContent = text || ""; }
  function failed() { said(card.querySelector(".push-status").getAttribute("data-failed-text")); }
  function key() {
    var text = card.getAttribute("data-push-key").replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(text + "===".slice((text.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }
  function post(url, fields) {
    var body = new URLSearchParams(fields);
    body.set("csrf_token", card.querySelector("input[name=csrf_token]").value);
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } });
  }

  if (!supported) {
    if (apple && !navigator.standalone) { show("apple"); }
    return;
  }
  // Shown at once as it will most likely stay; a device already on is known a moment later.
  show(Notification.permission === "denied" ? "blocked" : "off");
  var ready = navigator.serviceWorker.register(card.getAttribute("data-sw"), { scope: "/orders/" })
    .then(function () { return navigator.serviceWorker.ready; });

  function refresh() {
    if (Notification.permission === "denied") { show("blocked"); return Promise.resolve(); }
    return ready.then(function (registration) { return registration.pushManager.getSubscription(); })
      .then(function (subscription) {
        var on = subscription && orders().indexOf(path) >= 0;
        show(on ? "on" : "off");
        // A browser may renew its subscription: the server then gets the new one.
        if (on && sent() !== subscription.endpoint) { hand(subscription).catch(function () {}); }
      }, function () { show("off"); });
  }
  refresh();

  function sent() {
    try { return localStorage.getItem(storeKey + ":" + path); } catch (err) { return null; }
  }
  function hand(subscription) {
    var json = subscription.toJSON();
    return post(path, {
      endpoint: json.endpoint, p256dh: (json.keys || {}).p256dh || "", auth: (json.keys || {}).auth || ""
    }).then(function () {
      try { localStorage.setItem(storeKey + ":" + path, json.endpoint); } catch (err) { /* private mode */ }
    });
  }

  card.querySelector("[data-push-on]").addEventListener("click", function () {
    said("");
    ready.then(function (registration) {
      return registration.pushManager.getSubscription().then(function (existing) {
        return existing || registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: key()
        });
      });
    }).then(hand).then(function () {
      remember(true);
      show("on");
      said(card.getAttribute("data-on-text"));
    }, function () {
      if (Notification.permission === "denied") { show("blocked"); } else { failed(); }
    });
  });

  card.querySelector("[data-push-off]").addEventListener("click", function () {
    said("");
    ready.then(function (registration) { return registration.pushManager.getSubscription(); })
      .then(function (subscription) {
        var done = subscription ? post(path + "/off", { endpoint: subscription.endpoint }) : Promise.resolve();
        return done.then(function () {
          try { localStorage.removeItem(storeKey + ":" + path); } catch (err) { /* private mode */ }
          if (remember(false).length === 0 && subscription) { return subscription.unsubscribe(); }
          return true;
        });
      }).then(function () {
        show("off");
        said(card.getAttribute("data-off-text"));
      }, failed);
  });
})();
