/* The waiting room on every staff page: a sound and a desktop notification when a patient
 * arrives (at most one per interval, mutable per user), long-wait alerts, transfers to me,
 * the staff heartbeat (presence and the grace-period sweep) and the home-page widget.
 * The live list itself is dashboard.js; both share window.backofficeSocket.
 */
(function () {
  "use strict";
  var socket = window.backofficeSocket;
  if (!socket) { return; }
  var LAST_RING = "waiting_room.lastRing";
  var me = null, audio = null, heartbeatTimer = null, widgetTimer = null, rings = 0;
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
    fire("me", data);
  }

  // --- sound: a short two-tone beep made with WebAudio, no file needed ----------------
  function prime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") { audio.resume(); }
    } catch (e) { audio = null; }
  }
  ["click", "keydown", "touchstart"].forEach(function (name) {
    document.addEventListener(name, prime, { capture: true, passive: true });
  });
  function beep() {
    if (!audio) { return; }
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
    } catch (e) { /* no sound is no reason to fail */ }
  }

  /* Sound and desktop notification, unless muted; arrivals at most once per interval
   * (shared by the user's tabs through localStorage), transfers and alerts always. */
  function ring(title, body, tag, always) {
    if (!me || me.muted) { return false; }
    var now = Date.now();
    var last = Number(localStorage.getItem(LAST_RING) || 0);
    if (!always && now - last < me.notify_interval * 1000) { return false; }
    localStorage.setItem(LAST_RING, String(now));
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
      ring("Patient waiting", update.entry.name + " checked in" + who + ".", "waiting-room-arrival", false);
    }
    refreshWidget();
  });
  socket.on("waiting_room.transferred", function (data) {
    ring(data.by + " transferred a patient to you",
      data.entry.name + (data.note ? ": " + data.note : ""), "waiting-room-transfer", true);
    fire("transferred", data);
  });
  socket.on("waiting_room.alert", function (alert) {
    var minutes = Math.round(alert.waited_seconds / 60);
    ring("Long wait", alert.entry.name + " has waited " + minutes + " minutes.", "waiting-room-alert", true);
    fire("alert", alert);
  });

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
