/* The patient's waiting room: device check, check-in, waiting, messages, admission.
 *
 * The patient token is kept in localStorage under a key per invite (or join code), so a
 * refresh, a dropped network or coming back within the grace period finds the same entry.
 * The server is the source of truth: on every (re)connect the page asks for its status,
 * and every push it receives is a whole view (the newest version wins).
 */
(function () {
  "use strict";
  var root = document.getElementById("wr-patient");
  if (!root) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var cfg = root.dataset;
  var KEY = cfg.storageKey;
  var STEPS = ["loading", "check", "form", "wait", "ended"];
  var ENDED_TEXT = {
    left: "You left the waiting room.",
    removed: "The practice ended this check-in. If this is a mistake, please call the practice.",
    no_show: "The practice closed this visit. If this is a mistake, please call the practice.",
    completed: "Thank you for your visit.",
  };
  var AVAILABILITY_TEXT = {
    available: "is online and will be with you soon",
    busy: "is with another patient",
    running_late: "is running late",
    away: "stepped away for a moment",
    offline: "has not signed in yet",
  };

  var socket = null, token = null, view = null, lastVersion = -1;
  var heartbeatTimer = null, clockTimer = null, titleTimer = null;
  var serverOffset = 0, admittedAt = null, joined = false;
  var check = null, checkStream = null, meter = null;
  var audio = null, originalTitle = document.title;

  function show(step) {
    STEPS.forEach(function (name) { $("wr-step-" + name).hidden = name !== step; });
    root.dataset.step = step;
  }
  function store(value) {
    try {
      if (value) { localStorage.setItem(KEY, value); } else { localStorage.removeItem(KEY); }
    } catch (e) { /* private mode: the place is kept for this page only */ }
  }
  function stored() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function call(event, data) {
    return new Promise(function (resolve, reject) {
      if (!socket) { reject(new Error("not connected")); return; }
      socket.timeout(8000).emit(event, data || {}, function (err, ack) {
        if (err) { reject(new Error("The connection is slow; trying again.")); }
        else if (!ack || !ack.ok) {
          var error = new Error(ack && ack.error ? ack.error.message : "Something went wrong.");
          error.code = ack && ack.error ? ack.error.code : "unknown";
          reject(error);
        } else { resolve(ack.data); }
      });
    });
  }

  // --- sound, notification and title flash (also in a background tab) -------------
  function primeAudio() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") { audio.resume(); }
    } catch (e) { audio = null; }
  }
  function beep() {
    if (!audio) { return; }
    try {
      [0, 0.25].forEach(function (at) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, audio.currentTime + at);
        gain.gain.exponentialRampToValueAtTime(0.3, audio.currentTime + at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + at + 0.2);
        osc.connect(gain).connect(audio.destination);
        osc.start(audio.currentTime + at);
        osc.stop(audio.currentTime + at + 0.22);
      });
    } catch (e) { /* no sound is no reason to fail */ }
  }
  function flashTitle(text) {
    stopFlash();
    var on = false;
    titleTimer = setInterval(function () {
      on = !on;
      document.title = on ? text : originalTitle;
    }, 1000);
    document.title = text;
  }
  function stopFlash() {
    if (titleTimer) { clearInterval(titleTimer); titleTimer = null; }
    document.title = originalTitle;
  }
  function tellAdmitted() {
    beep();
    flashTitle("\u25B6 It's your turn");
    if (navigator.vibrate) { navigator.vibrate([200, 100, 200]); }
    if (window.Notification && Notification.permission === "granted") {
      try {
        var note = new Notification(cfg.practice, {
          body: "It's your turn: your clinician is ready for you.", tag: "waiting-room-admitted",
          requireInteraction: true,
        });
        note.onclick = function () { window.focus(); note.close(); };
      } catch (e) { /* some browsers only notify from a service worker */ }
    }
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !(view && view.status === "admitted")) { stopFlash(); }
  });
  window.addEventListener("focus", function () { if (view && view.status !== "admitted") { stopFlash(); } });

  // --- the device check ----------------------------------------------------------
  function mark(id, state, text) {
    var item = $(id);
    item.dataset.state = state;
    item.querySelector(".wr-check-result").textContent = text;
  }
  function stopCheck() {
    if (checkStream) { checkStream.getTracks().forEach(function (t) { t.stop(); }); checkStream = null; }
    if (meter) { meter(); meter = null; }
    $("wr-preview").srcObject = null;
  }
  // The camera, microphone and level meter: the same code as Tools → Webcam Check.
  var devices = window.BackofficeDeviceCheck;
  function listen(stream) {
    meter = devices.meter(stream, function (level) { $("wr-level-bar").style.width = level + "%"; });
  }
  async function httpLatency() {
    var samples = [];
    for (var i = 0; i < 3; i++) {
      var start = performance.now();
      await fetch(cfg.pingUrl, { cache: "no-store" });
      samples.push(performance.now() - start);
    }
    samples.sort(function (a, b) { return a - b; });
    return samples[1];
  }
  async function runCheck() {
    $("wr-check-start").disabled = true;
    $("wr-check-advice").textContent = "Checking\u2026 your browser may ask to use the camera and microphone.";
    stopCheck();
    var result = { camera: false, microphone: false, skipped: false, latency_ms: null, error: null,
                   browser: navigator.userAgent.slice(0, 200) };
    var media = await devices.check();
    var problem = media.error;
    if (media.stream) {
      checkStream = media.stream;
      result.camera = media.camera;
      result.microphone = media.microphone;
      $("wr-preview").srcObject = media.stream;
      if (result.microphone) { listen(media.stream); }
    }
    mark("wr-check-camera", result.camera ? "ok" : "failed", result.camera ? "Working" : "Not available");
    mark("wr-check-microphone", result.microphone ? "ok" : "failed", result.microphone ? "Working: speak to see the level move" : "Not available");
    try {
      result.latency_ms = Math.round(await httpLatency());
      var slow = result.latency_ms > 400;
      mark("wr-check-connection", slow ? "warning" : "ok",
        (slow ? "Slow" : "Good") + " (" + result.latency_ms + " ms)");
    } catch (e) {
      mark("wr-check-connection", "failed", "No answer from the practice's server");
    }
    if (!result.camera || !result.microphone) {
      result.error = (problem && problem.name) || (navigator.mediaDevices ? "unavailable" : "insecure");
      $("wr-check-advice").textContent = devices.explain(problem) + " You can still check in; the practice will see this.";
    } else {
      $("wr-check-advice").textContent = "Everything works.";
    }
    check = result;
    root.dataset.check = result.camera && result.microphone ? "ok" : "problem";
    $("wr-check-start").disabled = false;
    $("wr-check-start").textContent = "Check again";
    $("wr-check-start").className = "wr-btn";
    $("wr-check-continue").hidden = false;
  }
  function openCheck() {
    $("wr-check-continue").textContent = joined ? "Back to the waiting room" : "Continue";
    $("wr-check-skip").hidden = joined;
    show("check");
  }
  async function afterCheck() {
    stopCheck();
    if (!joined) { show("form"); $("wr-name").focus(); return; }
    show("wait");
    await sendCheck();
  }
  async function socketLatency() {
    var start = performance.now();
    try {
      await call("tools.ping", { sent_at: Date.now() / 1000 });
    } catch (e) {  // Tools switched off: time our own status call instead
      start = performance.now();
      await call("waiting_room.status", {});
    }
    return Math.round(performance.now() - start);
  }
  async function sendCheck() {
    if (!check || !socket || !socket.connected) { return; }
    var payload = Object.assign({}, check);
    try { payload.socket_latency_ms = await socketLatency(); } catch (e) { payload.socket_latency_ms = null; }
    try {
      apply(await call("waiting_room.device_check", payload));
      check = null;  // sent
    } catch (e) { /* sent again after the next reconnect */ }
  }

  // --- checking in -----------------------------------------------------------------
  async function enter(event) {
    event.preventDefault();
    primeAudio();  // a click: browsers allow sound from now on
    if (window.Notification && Notification.permission === "default") {
      try { Notification.requestPermission(); } catch (e) { /* old browsers */ }
    }
    var error = $("wr-form-error");
    error.hidden = true;
    var body = { name: $("wr-name").value.trim() };
    if ($("wr-dob")) { body.date_of_birth = $("wr-dob").value || null; }
    if ($("wr-provider") && $("wr-provider").value) { body.provider_id = Number($("wr-provider").value); }
    if (!body.name) { error.textContent = "Please enter your name."; error.hidden = false; return; }
    if ($("wr-dob") && !body.date_of_birth) { error.textContent = "Please enter your date of birth."; error.hidden = false; return; }
    $("wr-join").disabled = true;
    try {
      var response = await fetch(cfg.enterUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": cfg.csrf, "Accept": "application/json" },
        body: JSON.stringify(body),
      });
      var data = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        if (response.status === 400 && !data.error) { window.location.reload(); return; }  // stale form
        throw new Error(data.error || "Check-in failed; please try again.");
      }
      token = data.token;
      store(token);
      joined = true;
      show("loading");
      connect();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      $("wr-join").disabled = false;
    }
  }

  // --- waiting ---------------------------------------------------------------------
  function connect() {
    if (socket) { socket.disconnect(); }
    socket = io("/patient", { auth: { token: token }, transports: ["websocket", "polling"] });
    socket.on("connect", function () {
      $("wr-connection").hidden = true;
      refresh().then(function () { if (check) { sendCheck(); } });
      startHeartbeat();
    });
    socket.on("disconnect", function () {
      if (joined) { $("wr-connection").hidden = false; }
      stopHeartbeat();
    });
    socket.on("connect_error", function (error) {
      if (error && /invalid or expired/.test(error.message)) { forget("Your check-in expired. Please check in again."); }
      else if (joined) {
        $("wr-connection").hidden = false;
        $("wr-step-loading").querySelector("p").textContent = "Reconnecting\u2026 your place is kept.";
      }
    });
    socket.on("waiting_room.status", apply);
    socket.on("waiting_room.position", moved);
    socket.on("core.resync", refresh);
  }
  // The heartbeat (a status call) runs off a worker's clock where possible: timers of a
  // background tab may wake only once a minute, which would look like a patient gone.
  var ticker = null;
  function startHeartbeat() {
    stopHeartbeat();
    var seconds = Number(cfg.heartbeat || 15);
    var fallback = function () {
      if (ticker) { ticker.terminate(); ticker = null; }
      root.dataset.clock = "timer";
      clearTimeout(heartbeatTimer);
      (function beat() {  // 85-100 % of the interval each time, as ticker.js does
        heartbeatTimer = setTimeout(function () {
          if (socket && socket.connected) { refresh(); }
          beat();
        }, seconds * 1000 * (0.85 + 0.15 * Math.random()));
      })();
    };
    try {
      ticker = new Worker(cfg.tickerUrl);
      ticker.onmessage = function () {
        root.dataset.clock = "worker";
        if (socket && socket.connected) { refresh(); }
      };
      ticker.onerror = fallback;
      ticker.postMessage(seconds);
    } catch (e) {
      fallback();
    }
  }
  function stopHeartbeat() {
    if (ticker) { ticker.terminate(); ticker = null; }
    clearTimeout(heartbeatTimer);
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && socket && socket.connected) { refresh(); }
  });
  function refresh() {
    var known = view && view.live ? view.entry_version : null;
    return call("waiting_room.status", { known: known }).then(function (next) {
      $("wr-connection").hidden = true;
      // Nothing changed since the view we hold: the answer leaves the chat out.
      if (next.unchanged && view) { next = Object.assign({}, view, next); }
      apply(next);
    }, function (error) {
      if (error.code === "no_entry") { forget("Your check-in expired. Please check in again."); }
      // The practice's server is briefly unavailable: the heartbeat keeps asking.
      if (error.code === "unavailable") { $("wr-connection").hidden = false; }
    });
  }
  function forget(message) {
    store(null);
    token = null; joined = false; view = null; lastVersion = -1;
    if (socket) { socket.disconnect(); socket = null; }
    stopHeartbeat();
    $("wr-check-advice").textContent = message || "";
    openCheck();
  }
  function minutes(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(total / 60), s = total % 60;
    return m + " min " + (s < 10 ? "0" : "") + s + " s";
  }
  function tick() {
    if (!view || view.status !== "waiting") { return; }
    $("wr-waited").textContent = minutes(Date.now() + serverOffset - Date.parse(view.waiting_since));
  }
  function apply(next) {
    if (!next || next.version < lastVersion) { return; }
    lastVersion = next.version;
    view = next;
    joined = true;
    serverOffset = Date.parse(next.server_time) - Date.now();
    root.dataset.entryId = String(next.entry_id);
    root.dataset.status = next.status;
    if (!next.live) {
      stopFlash();
      $("wr-ended-message").textContent = ENDED_TEXT[next.status] || "";
      show("ended");
      store(null);
      stopHeartbeat();
      return;
    }
    if (root.dataset.step !== "check" || next.status === "admitted") { stopCheck(); show("wait"); }
    $("wr-status").dataset.status = next.status;
    $("wr-status").textContent = next.status === "admitted" ? "Your clinician is ready" : "Waiting";
    $("wr-position").textContent = next.position ? ordinal(next.position) + " in line" : "\u2014";
    var provider = next.provider;
    $("wr-provider-status").textContent = provider
      ? provider.name + " " + (AVAILABILITY_TEXT[provider.availability] || "") + (provider.note ? " (" + provider.note + ")" : "")
      : "The next available clinician will see you";
    $("wr-provider-status").dataset.availability = provider ? provider.availability : "unassigned";
    var admitted = next.status === "admitted";
    $("wr-admitted").hidden = !admitted;
    $("wr-wait-title").textContent = admitted ? "It's your turn" : "You are checked in";
    $("wr-waiting-message").hidden = admitted;
    $("wr-fact-position").hidden = admitted;
    $("wr-fact-waited").hidden = admitted;
    var link = $("wr-session-link");
    link.hidden = !(admitted && next.session_url);
    if (next.session_url) { link.href = next.session_url.replace("{token}", encodeURIComponent(token || "")); }
    if (admitted && admittedAt !== next.admitted_at) { admittedAt = next.admitted_at; tellAdmitted(); }
    if (!admitted) { admittedAt = null; }
    if (admitted) { $("wr-waited").textContent = "\u2014"; } else { tick(); }
    renderMessages(next.messages);
  }
  // Someone ahead left the line: only the place changed, the rest of the view stands.
  function moved(update) {
    if (!view || update.version < lastVersion || view.status !== "waiting") { return; }
    lastVersion = update.version;
    view.position = update.position;
    $("wr-position").textContent = ordinal(update.position) + " in line";
  }
  function ordinal(n) {
    var s = ["th", "st", "nd", "rd"], v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }
  function renderMessages(messages) {
    var list = $("wr-messages");
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    var before = list.children.length;
    list.textContent = "";
    messages.forEach(function (m) {
      var item = document.createElement("li");
      item.className = "wr-msg wr-msg-" + m.sender;
      item.dataset.sender = m.sender;
      var who = document.createElement("span");
      who.className = "wr-msg-author";
      who.textContent = m.sender === "patient" ? "You" : m.author;
      var body = document.createElement("span");
      body.className = "wr-msg-body";
      body.textContent = m.body;
      item.append(who, body);
      list.appendChild(item);
    });
    if (atBottom || messages.length > before) { list.scrollTop = list.scrollHeight; }
    var last = messages[messages.length - 1];
    if (messages.length > before && before > 0 && last && last.sender === "staff") {
      beep();
      if (document.hidden) { flashTitle("New message from the practice"); }
    }
  }

  $("wr-chat-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("wr-chat-input"), body = input.value.trim();
    if (!body) { return; }
    input.disabled = true;
    call("waiting_room.message", { body: body }).then(function (next) {
      input.value = "";
      apply(next);
    }, function (error) { alert(error.message); }).finally(function () {
      input.disabled = false; input.focus();
    });
  });
  $("wr-leave").addEventListener("click", function () {
    if (!confirm("Leave the waiting room? You will lose your place.")) { return; }
    call("waiting_room.leave", {}).then(apply);
  });
  $("wr-again").addEventListener("click", function () { forget(""); });
  $("wr-recheck").addEventListener("click", openCheck);
  $("wr-check-start").addEventListener("click", runCheck);
  $("wr-check-continue").addEventListener("click", afterCheck);
  $("wr-check-skip").addEventListener("click", function () {
    check = { camera: false, microphone: false, skipped: true, latency_ms: null, error: null, browser: null };
    afterCheck();
  });
  $("wr-form").addEventListener("submit", enter);

  // A closing (or reloading) page starts the grace period now rather than when the
  // heartbeat goes quiet; coming back within it keeps the place.
  window.addEventListener("pagehide", function () {
    if (!token || !navigator.sendBeacon) { return; }
    var form = new FormData();
    form.append("token", token);
    form.append("csrf_token", cfg.csrf);
    navigator.sendBeacon(cfg.awayUrl, form);
  });
  clockTimer = setInterval(tick, 1000);

  token = stored();
  if (token) { joined = true; connect(); } else { openCheck(); }
})();
