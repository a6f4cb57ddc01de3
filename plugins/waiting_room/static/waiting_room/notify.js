/* The waiting room on every staff page: a sound and a desktop notification when a patient
 * arrives (at most one per interval, mutable per user), long-wait alerts, transfers to me,
 * the staff heartbeat (presence and the grace-period sweep) and the home-page widget.
 * The live list itself is dashboard.js; both share window.backofficeSocket.
 */
(function () {
  "use strict";
  var socket = window.backofficeSocket;
  if (!socket) { return; }
  var LAST_RING = "waiting_room.lastRing", LAST_ALERT = "waiting_room.lastAlert";
  var me = null, audio = null, heartbeatTimer = null, widgetTimer = null, rings = 0, beeps = 0;
  var api = window.waitingRoomNotify = { me: null };

  function emit(event, data) {
    return new Promise(function (resolve, reject) {
      socket.timeout(8000).emit(event, data || {}, function (err, ack) {
        if (err) { reject(new Error("The server did not answer; check your connection.")); }
        else if (!ack || !ack.ok) {
          var error = new Error(ack && ack.error ? ack.error.message : "Something went wrong.");
          error.code = ack && ack.error ? ack.error.code : "unknown";
          reject(error);
        } else { resolve(ack.data); }
      });
    });
  }
  function fire(name, detail) {
    document.dispatchEvent(new CustomEvent("waiting-room:" + name, { detail: detail }));
  }
  function setMe(data) {
    me = data;
    api.me = data;
    document.documentElement.dataset.wrMuted = data.muted ? "true" : "false";
    showSound();
    fire("me", data);
  }

  // --- sound: a short two-tone beep made with WebAudio, no file needed ----------------
  // Browsers start audio only after a person's gesture. Chromium carries that gesture over
  // a same-origin navigation (a menu click, a form sent), so the context is made at load and
  // is running at once on a page reached that way; on a page opened by typing its address
  // it waits for the first click or key, and the page says so (#wr-sound-state).
  function prime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") { audio.resume().then(showSound, showSound); }
      audio.onstatechange = showSound;
    } catch (e) { audio = null; }
    showSound();
  }
  function armed() { return !!audio && audio.state === "running"; }
  function soundBadge() {
    var badge = document.getElementById("wr-sound-state");
    var bar = document.querySelector(".bo-topbar .bo-user");
    if (!badge && bar) {
      badge = document.createElement("button");
      badge.type = "button";
      badge.id = "wr-sound-state";
      badge.className = "btn btn-warning btn-sm";
      badge.hidden = true;
      badge.innerHTML = '<i class="fa fa-volume-off" aria-hidden="true"></i> ';
      badge.appendChild(document.createTextNode("Arrival sound paused: click to turn it on"));
      badge.addEventListener("click", prime);
      bar.prepend(badge);
    }
    return badge;
  }
  function showSound() {
    var state = !me || me.muted ? "muted" : armed() ? "armed" : "not-armed";
    document.documentElement.dataset.wrSound = state;
    var badge = soundBadge();
    if (badge) { badge.hidden = state !== "not-armed"; }
  }
  ["click", "keydown", "touchstart"].forEach(function (name) {
    document.addEventListener(name, prime, { capture: true, passive: true });
  });
  prime();
  function beep() {
    if (!armed()) { return false; }
    try {
      [[660, 0], [880, 0.18]].forEach(function (tone) {
        var osc = audio.createOscillator(), gain = audio.createGain(), at = audio.currentTime + tone[1];
        osc.type = "sine";
        osc.frequency.value = tone[0];
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
        osc.connect(gain).connect(audio.destination);
        osc.start(at);
        osc.stop(at + 0.18);
      });
    } catch (e) { return false; /* no sound is no reason to fail */ }
    beeps += 1;
    document.documentElement.dataset.wrBeeps = String(beeps);
    return true;
  }

  function plural(count, one, many) { return count + " " + (count === 1 ? one : many); }
  function duration(seconds) {
    return seconds >= 60 ? plural(Math.floor(seconds / 60), "minute", "minutes")
      : plural(Math.max(1, Math.floor(seconds)), "second", "seconds");
  }
  function words(count) {
    var word = (me && me.person_word) || "patient";
    return plural(count, word, word + "s");
  }

  /* Sound and desktop notification, unless muted. ``limit`` names the limiter that spaces
   * them (shared by the user's tabs through localStorage) and its interval in seconds;
   * without one (transfers) they always sound. Arrivals and long waits have their own
   * limiters, so an alert never silences the next arrival. */
  function ring(title, body, tag, limit) {
    if (!me || me.muted) { return false; }
    var now = Date.now();
    if (limit) {
      var last = Number(localStorage.getItem(limit.key) || 0);
      if (now - last < limit.seconds * 1000) { return false; }
      localStorage.setItem(limit.key, String(now));
    }
    beep();
    if (window.Notification && Notification.permission === "granted") {
      try {
        var note = new Notification(title, { body: body, tag: tag, renotify: true });
        note.onclick = function () { window.focus(); note.close(); };
      } catch (e) { /* some browsers only notify from a service worker */ }
    }
    rings += 1;
    document.documentElement.dataset.wrRings = String(rings);
    fire("rang", { title: title, body: body, tag: tag });
    return true;
  }
  function concerns(entry) {
    if (!me) { return false; }
    if (!me.is_provider) { return true; }  // front desk: every arrival
    return entry.provider_id === me.user_id || entry.provider_id === null;
  }

  socket.on("waiting_room.update", function (update) {
    if (update.kind === "arrived" && concerns(update.entry)) {
      var who = update.entry.provider_name ? " for " + update.entry.provider_name : "";
      ring("Patient waiting", update.entry.name + " checked in" + who + ".", "waiting-room-arrival",
        { key: LAST_RING, seconds: me ? me.notify_interval : 0 });
    }
    refreshWidget();
  });
  socket.on("waiting_room.transferred", function (data) {
    ring(data.by + " transferred a patient to you",
      data.entry.name + (data.note ? ": " + data.note : ""), "waiting-room-transfer", null);
    fire("transferred", data);
  });

  /* Long waits: alerts that fall due together (one sweep sends them a few milliseconds
   * apart) become one notification; within the alert interval they wait and join the next
   * one, so none is lost and none floods. */
  var pendingAlerts = new Map(), alertTimer = null, GROUP_MS = 1000;
  socket.on("waiting_room.alert", function (alert) {
    pendingAlerts.set(alert.entry.id + ":" + alert.level, alert);
    fire("alert", alert);
    scheduleAlerts(GROUP_MS);
  });
  function scheduleAlerts(delay) {
    if (alertTimer === null) { alertTimer = setTimeout(flushAlerts, delay); }
  }
  function flushAlerts() {
    alertTimer = null;
    if (!pendingAlerts.size || !me) { return; }
    var interval = (me.alert_interval || 0) * 1000;
    var wait = Number(localStorage.getItem(LAST_ALERT) || 0) + interval - Date.now();
    if (wait > 0) { scheduleAlerts(wait); return; }
    var alerts = Array.from(pendingAlerts.values());
    pendingAlerts.clear();
    var text = alertText(alerts);
    localStorage.setItem(LAST_ALERT, String(Date.now()));
    ring("Long wait", text, "waiting-room-alert", null);
    fire("alerted", { count: alerts.length, alerts: alerts, text: text });
  }
  function alertText(alerts) {
    if (alerts.length === 1) {
      return alerts[0].entry.name + " has waited " + duration(alerts[0].waited_seconds) + ".";
    }
    var over = Math.min.apply(null, alerts.map(function (a) { return a.after_seconds || a.waited_seconds; }));
    var names = alerts.slice(0, 3).map(function (a) { return a.entry.name; }).join(", ");
    return words(alerts.length) + " have waited over " + duration(over) + ": " + names +
      (alerts.length > 3 ? " and " + (alerts.length - 3) + " more." : ".");
  }
  api.plural = plural;
  api.duration = duration;

  function subscribe() {
    emit("waiting_room.subscribe", {}).then(function (data) {
      setMe(data);
      clearInterval(heartbeatTimer);
      heartbeatTimer = setInterval(heartbeat, data.heartbeat * 1000);
    }, function () { /* no waiting-room permission: nothing to do on this page */ });
  }
  function heartbeat() {
    emit("waiting_room.heartbeat", {}).then(function (data) { fire("heartbeat", data); }, function () {});
  }
  socket.on("connect", subscribe);
  if (socket.connected) { subscribe(); }

  // --- the home page's widget, kept live --------------------------------------------
  function refreshWidget() {
    if (!document.getElementById("wr-widget")) { return; }
    clearTimeout(widgetTimer);
    widgetTimer = setTimeout(function () {
      emit("waiting_room.snapshot", { scope: "all" }).then(renderWidget, function () {});
    }, 300);
  }
  function renderWidget(snapshot) {
    var counts = document.getElementById("wr-widget-counts");
    var list = document.getElementById("wr-widget-list");
    var now = Date.parse(snapshot.server_time);
    var waiting = snapshot.entries.filter(function (e) { return e.status === "waiting"; });
    var mine = waiting.filter(function (e) { return e.provider_id === snapshot.me.user_id; }).length;
    var longest = waiting.reduce(function (max, e) { return Math.max(max, now - Date.parse(e.waiting_since)); }, -1);
    var admitted = snapshot.entries.length - waiting.length;
    counts.textContent = waiting.length + " waiting" + (mine ? ", " + mine + " for you" : "") +
      (admitted ? "; " + admitted + " admitted" : "") +
      (longest >= 0 ? "; longest wait " + Math.floor(longest / 60000) + " min" : "") + ".";
    list.textContent = "";
    snapshot.entries.slice(0, 8).forEach(function (e) {
      var item = document.createElement("li");
      item.dataset.status = e.status;
      var name = document.createElement("span");
      name.className = "wr-widget-name";
      name.textContent = e.name;
      var small = document.createElement("small");
      small.className = "text-muted";
      small.textContent = " " + (e.provider_name || "Unassigned") + " \u00B7 " + (e.status === "admitted"
        ? "admitted" : Math.floor((now - Date.parse(e.waiting_since)) / 60000) + " min");
      item.append(name, small);
      list.appendChild(item);
    });
    if (!snapshot.entries.length) {
      var none = document.createElement("li");
      none.className = "text-muted";
      none.textContent = "No one is waiting.";
      list.appendChild(none);
    }
  }

  api.emit = emit;
  api.ring = ring;
  api.setMuted = function (muted) {
    return emit("waiting_room.mute", { muted: muted }).then(function (data) { setMe(data); return data; });
  };
  api.setAvailability = function (availability, note) {
    return emit("waiting_room.availability", { availability: availability, note: note || null })
      .then(function (data) { setMe(data); return data; });
  };
})();
