/* The video call, for both sides: the clinician's page (data-role="staff", on the shell's
 * /staff socket) and the patient's or guest's page (data-role="patient", its own /patient
 * socket with the link's token).
 *
 * Signalling: on every (re)connect the page sends video.join; the ack lists the participants
 * and the joiner offers to each one already there. Offers, answers and ICE candidates travel
 * as video.signal through the host to the other person's personal room. Each pair of
 * browsers runs "perfect negotiation" (the participant with the greater key is polite), so
 * crossing offers after a double reconnect resolve by themselves. Every peer connection
 * carries a random id ("pc"): an offer from a new id means the other page was reloaded, and
 * the old connection is replaced rather than renegotiated. A re-join after a dropped network
 * restarts ICE on the existing connections.
 *
 * The connection state is on #video-state[data-state] (starting, joining, waiting,
 * connecting, connected, reconnecting, ended, sent_back, left, error). Chat text is only
 * ever inserted as text, never as HTML.
 */
(function () {
  "use strict";
  var root = document.getElementById("video-call");
  if (!root) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var cfg = root.dataset;
  var staffSide = cfg.role === "staff";
  var sessionId = Number(cfg.sessionId);
  var me = cfg.me;

  var STATE_TEXT = {
    starting: "Starting your camera\u2026",
    joining: "Joining the session\u2026",
    waiting: staffSide ? "Waiting for the patient to join" : "Waiting for your clinician to join",
    connecting: "Connecting\u2026",
    connected: "Connected",
    reconnecting: "Connection lost \u2014 reconnecting\u2026",
    ended: "The session has ended",
    sent_back: "You are back in the waiting room",
    left: "You left the session",
    error: "Something went wrong",
  };
  var ACTIVITY_EVERY = 60000;  // keep the clinician signed in while the call runs
  var HEARTBEAT_KEY = "backoffice.video.call";
  // "bo-companion…" windows are the back office's companions (core's shell.js): they never
  // take the live tab from the main window.
  var CALL_WINDOW = "bo-companion-video-call";

  var socket = staffSide ? window.backofficeSocket
    : (typeof io === "function" ? io("/patient", { auth: { token: cfg.token }, transports: ["websocket", "polling"] }) : null);
  var iceServers = [];
  var peers = {};          // key -> peer (see makePeer)
  var participants = {};   // key -> participant view from the server
  var pendingCandidates = {};  // key -> [{pc, candidate}] that arrived before their description
  var chatShown = {};
  var localStream = new MediaStream();
  var cameraTrack = null, micTrack = null, screenTrack = null;
  var muted = false, cameraOff = false;
  var joined = false, over = false, poppedOut = false;
  var startedAt = null, clockTimer = null;
  var state = "starting";

  // --- the status line ---------------------------------------------------------------
  function setState(next, detail) {
    state = next;
    var label = $("video-state");
    label.dataset.state = next;
    label.textContent = detail || STATE_TEXT[next] || next;
    root.dataset.state = next;
  }
  function refreshState() {
    if (over) { return; }
    var keys = Object.keys(peers);
    var anyConnected = keys.some(function (k) { return peers[k].pc.connectionState === "connected"; });
    if (anyConnected) { setState("connected"); }
    else if (!socket || !socket.connected) { setState(joined ? "reconnecting" : "joining"); }
    else if (!joined) { setState("joining"); }
    else if (!others().length) { setState("waiting"); }
    else { setState("connecting"); }
  }
  function notice(text) {
    var box = $("video-notice");
    box.textContent = text || "";
    box.hidden = !text;
  }
  function others() {
    return Object.keys(participants).filter(function (k) { return k !== me && participants[k].present; });
  }
  function randomId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- local media --------------------------------------------------------------------
  function explain(error) {
    if (!navigator.mediaDevices) { return "This page needs a secure (https) connection to use your camera."; }
    if (error && error.name === "NotAllowedError") { return "Camera and microphone are blocked. Allow them in the address bar, then reload the page. The others can still see your messages."; }
    if (error && error.name === "NotFoundError") { return "No camera or microphone was found. You can still hear and see the others."; }
    if (error && error.name === "NotReadableError") { return "Another program is using your camera. Close it, then reload the page."; }
    return "Your camera could not start" + (error && error.message ? ": " + error.message : ".");
  }
  function constraint(selectId) {
    var value = $(selectId).value;
    return value ? { deviceId: { exact: value } } : true;
  }
  async function getMedia(video, audio) {
    if (!navigator.mediaDevices) { throw new Error("insecure"); }
    return navigator.mediaDevices.getUserMedia({ video: video, audio: audio });
  }
  async function startMedia() {
    var stream = null, problem = null;
    var attempts = [[true, true], [false, true], [true, false]];
    for (var i = 0; i < attempts.length && !stream; i++) {
      try {
        stream = await getMedia(attempts[i][0] ? constraint("video-camera") : false,
          attempts[i][1] ? constraint("video-mic") : false);
      } catch (error) { problem = problem || error; }
    }
    if (!stream) { notice(explain(problem)); return; }
    if (problem) { notice(explain(problem)); }
    cameraTrack = stream.getVideoTracks()[0] || null;
    micTrack = stream.getAudioTracks()[0] || null;
    [cameraTrack, micTrack].forEach(function (t) { if (t) { localStream.addTrack(t); } });
    showLocal();
    await fillDevices();
  }
  function showLocal() {
    var video = $("video-local");
    var shown = new MediaStream();
    var track = screenTrack || cameraTrack;
    if (track) { shown.addTrack(track); }
    video.srcObject = shown;
    $("video-local-tile").classList.toggle("is-screen", !!screenTrack);
  }
  async function fillDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) { return; }
    var devices = await navigator.mediaDevices.enumerateDevices();
    [["videoinput", "video-camera", cameraTrack], ["audioinput", "video-mic", micTrack]].forEach(function (item) {
      var select = $(item[1]);
      var current = item[2] && item[2].getSettings ? item[2].getSettings().deviceId : select.value;
      select.textContent = "";
      devices.filter(function (d) { return d.kind === item[0]; }).forEach(function (d, i) {
        select.add(new Option(d.label || ((item[0] === "videoinput" ? "Camera " : "Microphone ") + (i + 1)), d.deviceId));
      });
      if (current) { select.value = current; }
    });
  }
  function senderFor(peer, kind) {
    var found = null;
    peer.pc.getTransceivers().forEach(function (t) {
      if (found || t.stopped || t.currentDirection === "stopped") { return; }
      var k = (t.sender.track && t.sender.track.kind) || (t.receiver.track && t.receiver.track.kind);
      if (k === kind) { found = t; }
    });
    return found;
  }
  // Resolves once every peer sends the new track, so the buttons never run ahead of the media.
  function sendTrack(kind, track) {
    return Promise.all(Object.keys(peers).map(function (key) {
      var transceiver = senderFor(peers[key], kind);
      if (!transceiver) {
        if (track) { peers[key].pc.addTrack(track, localStream); }
        return Promise.resolve();
      }
      if (track && (transceiver.direction === "recvonly" || transceiver.direction === "inactive")) {
        transceiver.direction = "sendrecv";  // renegotiates through negotiationneeded
      }
      return transceiver.sender.replaceTrack(track).catch(function (e) { console.warn("replaceTrack", e); });
    }));
  }
  async function switchDevice(kind) {
    try {
      var stream = kind === "video" ? await getMedia(constraint("video-camera"), false)
        : await getMedia(false, constraint("video-mic"));
      var track = stream.getTracks()[0];
      var old = kind === "video" ? cameraTrack : micTrack;
      if (old) { localStream.removeTrack(old); old.stop(); }
      localStream.addTrack(track);
      if (kind === "video") { cameraTrack = track; track.enabled = !cameraOff; }
      else { micTrack = track; track.enabled = !muted; }
      if (!(kind === "video" && screenTrack)) { sendTrack(kind, track); }
      showLocal();
      notice("");
    } catch (error) { notice(explain(error)); }
  }
  function toggleButton(id, pressed, text) {
    var button = $(id);
    button.setAttribute("aria-pressed", pressed ? "true" : "false");
    button.querySelector("span").textContent = text;
  }
  function toggleMute() {
    muted = !muted;
    if (micTrack) { micTrack.enabled = !muted; }
    toggleButton("video-mute", muted, muted ? "Unmute" : "Mute");
  }
  function toggleCamera() {
    cameraOff = !cameraOff;
    if (cameraTrack) { cameraTrack.enabled = !cameraOff; }
    toggleButton("video-camera-off", cameraOff, cameraOff ? "Camera on" : "Camera off");
  }
  async function toggleShare() {
    if (screenTrack) { stopShare(); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      notice("This browser cannot share its screen."); return;
    }
    try {
      var stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      screenTrack = stream.getVideoTracks()[0];
      screenTrack.onended = stopShare;
      await sendTrack("video", screenTrack);
      showLocal();
      toggleButton("video-share", true, "Stop sharing");
    } catch (error) {
      if (error && error.name !== "NotAllowedError") { notice("Screen sharing did not start: " + error.message); }
    }
  }
  async function stopShare() {
    if (!screenTrack) { return; }
    var track = screenTrack;
    screenTrack = null;
    track.onended = null;
    track.stop();
    await sendTrack("video", cameraTrack);
    showLocal();
    toggleButton("video-share", false, "Share screen");
  }
  function stopMedia() {
    [cameraTrack, micTrack, screenTrack].forEach(function (t) { if (t) { t.stop(); } });
  }

  // --- peers ----------------------------------------------------------------------------
  function send(event, data, done) {
    if (!socket) { return; }
    socket.timeout(10000).emit(event, data, function (err, ack) {
      if (err) { if (done) { done({ ok: false, error: { code: "timeout", message: "The server did not answer." } }); } return; }
      if (ack && !ack.ok && event === "video.signal") { console.warn("video.signal", ack.error); }
      if (done) { done(ack || { ok: false, error: { code: "no_answer", message: "No answer" } }); }
    });
  }
  function signal(peer, body) {
    body.session_id = sessionId;
    body.to = peer.key;
    body.pc = peer.id;
    send("video.signal", body);
  }
  function makePeer(key) {
    var pc = new RTCPeerConnection({ iceServers: iceServers });
    var peer = {
      key: key, pc: pc, id: randomId(), remoteId: null,
      polite: me > key, makingOffer: false, ignoreOffer: false,
      stream: new MediaStream(), restartTimer: null,
    };
    peers[key] = peer;
    [micTrack, screenTrack || cameraTrack].forEach(function (track) {
      if (track) { pc.addTrack(track, localStream); }
    });
    if (!micTrack) { pc.addTransceiver("audio", { direction: "recvonly" }); }
    if (!cameraTrack && !screenTrack) { pc.addTransceiver("video", { direction: "recvonly" }); }
    pc.onicecandidate = function (event) {
      if (event.candidate) { signal(peer, { candidate: event.candidate.toJSON() }); }
    };
    pc.onnegotiationneeded = async function () {
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        signal(peer, { description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
      } catch (error) {
        console.warn("negotiation", key, error);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.ontrack = function (event) {
      var stream = peer.stream;
      stream.getTracks().filter(function (t) { return t.kind === event.track.kind; })
        .forEach(function (t) { stream.removeTrack(t); });
      stream.addTrack(event.track);
      var video = tile(key).querySelector("video");
      if (video.srcObject !== stream) { video.srcObject = stream; }
      video.play().catch(function () { /* autoplay waits for a gesture on some phones */ });
    };
    pc.onconnectionstatechange = function () {
      var tileNode = tile(key);
      tileNode.dataset.state = pc.connectionState;
      clearTimeout(peer.restartTimer);
      if (pc.connectionState === "failed") {
        pc.restartIce();
      } else if (pc.connectionState === "disconnected") {
        peer.restartTimer = setTimeout(function () {
          if (peers[key] === peer && pc.connectionState !== "connected") { pc.restartIce(); }
        }, 4000);
      }
      if (pc.connectionState === "connected" && !startedAt) { startClock(new Date()); }
      refreshState();
    };
    tile(key).dataset.state = "connecting";
    layout();
    return peer;
  }
  function closePeer(key) {
    var peer = peers[key];
    if (!peer) { return; }
    delete peers[key];
    clearTimeout(peer.restartTimer);
    try { peer.pc.close(); } catch (e) { /* already closed */ }
    var node = document.querySelector('.video-tile[data-key="' + CSS.escape(key) + '"]');
    if (node) { node.remove(); }
    layout();
    refreshState();
  }
  function tile(key) {
    var node = document.querySelector('.video-tile[data-key="' + CSS.escape(key) + '"]');
    if (node) { return node; }
    node = document.createElement("figure");
    node.className = "video-tile video-tile-remote";
    node.dataset.key = key;
    var video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    var caption = document.createElement("figcaption");
    caption.textContent = (participants[key] && participants[key].display_name) || "Participant";
    node.appendChild(video);
    node.appendChild(caption);
    $("video-grid").insertBefore(node, $("video-local-tile"));
    layout();
    return node;
  }
  function layout() {
    $("video-grid").dataset.count = String(document.querySelectorAll("#video-grid .video-tile").length);
  }
  async function offerTo(key, restart) {
    var peer = peers[key];
    if (peer && restart && peer.pc.connectionState !== "closed") {
      peer.pc.restartIce();  // negotiationneeded sends an ICE-restart offer
      return;
    }
    if (peer) { closePeer(key); }
    makePeer(key);  // negotiationneeded sends the first offer
  }
  async function onSignal(message) {
    if (!message || message.session_id !== sessionId || over) { return; }
    var key = message.from;
    var peer = peers[key];
    if (message.description) {
      var description = message.description;
      if (description.type === "offer" && peer && peer.remoteId && message.pc && message.pc !== peer.remoteId) {
        closePeer(key);  // the other page was reloaded: a new connection, not a renegotiation
        peer = null;
      }
      if (!peer) {
        if (description.type !== "offer") { return; }  // an answer for a connection we dropped
        peer = makePeer(key);
      }
      if (message.pc) { peer.remoteId = message.pc; }
      var pc = peer.pc;
      var collision = description.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
      peer.ignoreOffer = !peer.polite && collision;
      if (peer.ignoreOffer) { return; }
      try {
        await pc.setRemoteDescription(description);
        flushCandidates(peer);
        if (description.type === "offer") {
          await pc.setLocalDescription();
          signal(peer, { description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
        }
      } catch (error) {
        console.warn("description from", key, error);
      }
    } else if (message.candidate) {
      if (!peer || !peer.pc.remoteDescription || (message.pc && peer.remoteId !== message.pc)) {
        var queue = pendingCandidates[key] = pendingCandidates[key] || [];
        if (queue.length < 200) { queue.push({ pc: message.pc, candidate: message.candidate }); }
        return;
      }
      addCandidate(peer, message.candidate);
    }
  }
  function addCandidate(peer, candidate) {
    peer.pc.addIceCandidate(candidate).catch(function (error) {
      if (!peer.ignoreOffer) { console.warn("candidate", peer.key, error); }
    });
  }
  function flushCandidates(peer) {
    var queue = pendingCandidates[peer.key] || [];
    pendingCandidates[peer.key] = queue.filter(function (item) {
      if (item.pc && item.pc !== peer.remoteId) { return true; }  // for a later connection
      addCandidate(peer, item.candidate);
      return false;
    });
  }

  // --- participants and chat -----------------------------------------------------------
  function renderParticipants() {
    var list = $("video-participants");
    list.textContent = "";
    Object.keys(participants).forEach(function (key) {
      var p = participants[key];
      var item = document.createElement("li");
      item.dataset.key = key;
      item.dataset.kind = p.kind;
      item.dataset.present = p.present ? "true" : "false";
      item.dataset.dropped = p.dropped ? "true" : "false";
      item.textContent = shownName(key) +
        (p.kind === "guest" ? " \u00b7 guest" : "") +
        (p.present ? "" : (p.dropped ? " \u00b7 connection lost" : " \u00b7 left"));
      list.appendChild(item);
      var node = document.querySelector('.video-tile[data-key="' + CSS.escape(key) + '"] figcaption');
      if (node) { node.textContent = p.display_name; }
    });
  }
  // A patient or guest sees themselves as "You"; staff see "Casey Morgan (you)".
  function selfIsStaff() { return !!(participants[me] && participants[me].kind === "staff"); }
  function shownName(key) {
    var p = participants[key];
    if (key !== me) { return p.display_name; }
    return selfIsStaff() ? p.display_name + " (you)" : "You";
  }
  function when(iso) {
    var date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function showChat(line) {
    if (!line || chatShown[line.id] || line.session_id !== sessionId) { return; }
    chatShown[line.id] = true;
    var log = $("video-chat-log");
    var item = document.createElement("li");
    item.className = "video-chat-line";
    item.dataset.id = String(line.id);
    item.dataset.kind = line.sender_kind;
    var who = document.createElement("span");
    who.className = "video-chat-who";
    var mine = line.sender_kind === "patient" && participants[me] && participants[me].kind === "patient";
    who.textContent = (mine ? "You" : line.sender_name) + ":";
    var body = document.createElement("span");
    body.className = "video-chat-body";
    body.textContent = line.body;
    var at = document.createElement("time");
    at.className = "video-chat-at";
    at.dateTime = line.at;
    at.textContent = when(line.at);
    item.appendChild(who);
    item.appendChild(body);
    item.appendChild(at);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }
  function sendChat(event) {
    event.preventDefault();
    var input = $("video-chat-body");
    var body = input.value.trim();
    if (!body || over) { return; }
    $("video-chat-error").textContent = "";
    send("video.chat", { session_id: sessionId, body: body }, function (ack) {
      if (ack.ok) { input.value = ""; showChat(ack.data); }
      else { $("video-chat-error").textContent = ack.error.message || "The message was not sent."; }
    });
  }

  // --- the session ---------------------------------------------------------------------------
  function join() {
    if (over || !socket) { return; }
    refreshState();
    send("video.join", { session_id: sessionId }, function (ack) {
      if (!ack.ok) {
        if (ack.error.code === "ended") { finish("ended", "This session has ended."); return; }
        setState("error", ack.error.message || STATE_TEXT.error);
        if (ack.error.code === "timeout") { setTimeout(join, 2000); }
        return;
      }
      var data = ack.data;
      var rejoin = joined;
      joined = true;
      iceServers = data.ice_servers || [];
      me = data.me.key;
      participants = {};
      data.participants.forEach(function (p) { participants[p.key] = p; });
      renderParticipants();
      data.chat.forEach(showChat);
      if (data.session.started_at && !startedAt) { startClock(new Date(data.session.started_at)); }
      // Connections to people who left meanwhile go; the joiner calls everyone there.
      Object.keys(peers).forEach(function (key) { if (others().indexOf(key) < 0) { closePeer(key); } });
      others().forEach(function (key) { offerTo(key, rejoin || !!peers[key]); });
      refreshState();
    });
  }
  function startClock(since) {
    startedAt = since;
    clearInterval(clockTimer);
    var tick = function () {
      var seconds = Math.max(0, Math.round((Date.now() - startedAt.getTime()) / 1000));
      var m = Math.floor(seconds / 60), s = seconds % 60;
      $("video-clock").textContent = m + ":" + (s < 10 ? "0" : "") + s;
    };
    tick();
    clockTimer = setInterval(tick, 1000);
  }
  function finish(kind, message, returnUrl) {
    if (over) { return; }
    over = true;
    clearInterval(clockTimer);
    Object.keys(peers).forEach(closePeer);
    stopShare();
    stopMedia();
    if (document.pictureInPictureElement) { document.exitPictureInPicture().catch(function () {}); }
    setState(kind);
    root.classList.add("is-over");
    $("video-ended-title").textContent = STATE_TEXT[kind];
    $("video-ended-message").textContent = message || "";
    $("video-ended").hidden = false;
    $("video-chat-body").disabled = true;
    $("video-chat-send").disabled = true;
    var back = $("video-return");
    if (back && returnUrl) { back.href = returnUrl; back.hidden = false; }
    try { localStorage.removeItem(HEARTBEAT_KEY); } catch (e) { /* storage off */ }
    if (!staffSide && socket) { socket.disconnect(); }
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return ""; }
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return " It lasted " + m + " min " + s + " s.";
  }
  function waitingRoomUrl(url) {
    if (url) { return url; }
    try {
      var ref = document.referrer ? new URL(document.referrer) : null;
      if (ref && ref.origin === window.location.origin && ref.pathname.indexOf("/video/") !== 0) { return ref.href; }
    } catch (e) { /* no referrer */ }
    return null;
  }

  if (!socket) { setState("error", "The page could not reach the server. Reload to try again."); return; }

  socket.on("video.signal", onSignal);
  socket.on("video.chat", showChat);
  socket.on("video.participant_joined", function (data) {
    if (data.session_id !== sessionId) { return; }
    var key = data.participant.key;
    if (participants[key] && participants[key].dropped) { notice(""); }
    participants[key] = data.participant;
    var peer = peers[key];
    if (peer && peer.pc.signalingState === "have-local-offer") {
      // They re-joined after losing the network: whatever we offered meanwhile was lost.
      // Step back so their offer (the joiner calls) finds us ready.
      peer.pc.setLocalDescription({ type: "rollback" }).catch(function () {});
    }
    renderParticipants();
    refreshState();
  });
  socket.on("video.participant_left", function (data) {
    if (data.session_id !== sessionId) { return; }
    var gone = participants[data.key];
    if (gone) {
      gone.present = false;
      gone.dropped = data.reason === "dropped";
      // Their page closed or lost the network: say so rather than show a frozen picture.
      if (gone.dropped) { notice(gone.display_name + "'s connection was lost. They can re-join from the same link."); }
    }
    closePeer(data.key);
    renderParticipants();
    refreshState();
  });
  socket.on("video.started", function (data) {
    if (data.session_id === sessionId && data.session.started_at && !startedAt) {
      startClock(new Date(data.session.started_at));
    }
  });
  socket.on("video.ended", function (data) {
    if (data.session_id !== sessionId) { return; }
    root.dataset.duration = String(data.session.duration_seconds);
    finish("ended", "Thank you." + duration(data.session.duration_seconds));
  });
  socket.on("video.sent_back", function (data) {
    if (data.session_id !== sessionId || staffSide) { return; }
    var url = waitingRoomUrl(data.url);
    finish("sent_back", "Your clinician moved you back to the waiting room." +
      (url ? " You will be taken there now." : " Please keep your waiting-room page open."), url);
    if (url) { setTimeout(function () { window.location.assign(url); }, 2500); }
  });
  socket.on("disconnect", refreshState);
  socket.on("connect_error", function (error) {
    if (!staffSide && error && /token/.test(error.message || "")) {
      finish("error", "This session link has expired. Ask your clinician for a new one.");
    }
  });

  $("video-mute").addEventListener("click", toggleMute);
  $("video-camera-off").addEventListener("click", toggleCamera);
  $("video-share").addEventListener("click", toggleShare);
  $("video-camera").addEventListener("change", function () { switchDevice("video"); });
  $("video-mic").addEventListener("change", function () { switchDevice("audio"); });
  $("video-settings-toggle").addEventListener("click", function () {
    var box = $("video-settings");
    box.hidden = !box.hidden;
    this.setAttribute("aria-expanded", box.hidden ? "false" : "true");
  });
  $("video-chat-form").addEventListener("submit", sendChat);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener("devicechange", fillDevices);
  }
  window.addEventListener("pagehide", function () {
    if (!over && !poppedOut && joined && socket && socket.connected) {
      socket.emit("video.leave", { session_id: sessionId });
    }
    if (staffSide) { try { localStorage.removeItem(HEARTBEAT_KEY); } catch (e) { /* storage off */ } }
  });

  if (!staffSide) {
    $("video-leave").addEventListener("click", function () {
      send("video.leave", { session_id: sessionId }, function () {
        finish("left", "You can close this window, or reload the page to join again.", waitingRoomUrl(null));
      });
    });
  }

  // --- the clinician's controls ------------------------------------------------------------
  if (staffSide) {
    var confirmThen = function (question, action) { if (window.confirm(question)) { action(); } };
    var showLink = function (label, url, hint) {
      $("video-link-box").hidden = false;
      $("video-link-label").textContent = label;
      $("video-link").value = url;
      $("video-link-hint").textContent = hint;
      $("video-link").select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(url).then(function () {
          $("video-link-hint").textContent = hint + " Copied to the clipboard.";
        }, function () { /* the field stays selected for Ctrl+C */ });
      }
    };
    var failed = function (ack) { notice(ack.error && ack.error.message ? ack.error.message : "That did not work."); };
    $("video-end").addEventListener("click", function () {
      confirmThen("End the session for everyone?", function () {
        send("video.end", { session_id: sessionId }, function (ack) {
          if (!ack.ok) { failed(ack); return; }
          root.dataset.duration = String(ack.data.session.duration_seconds);
          finish("ended", "The session is recorded." + duration(ack.data.session.duration_seconds));
        });
      });
    });
    $("video-send-back").addEventListener("click", function () {
      confirmThen("Send the patient back to the waiting room? The call stays open for you.", function () {
        send("video.send_back", { session_id: sessionId }, function (ack) {
          if (!ack.ok) { failed(ack); return; }
          notice(ack.data.sent_back.length ? "The patient is back in the waiting room." : "No patient was in the call.");
        });
      });
    });
    $("video-patient-link").addEventListener("click", function () {
      send("video.patient_link", { session_id: sessionId }, function (ack) {
        if (!ack.ok) { failed(ack); return; }
        showLink("Patient link", ack.data.url, "Send it to the patient only: it opens this session for them.");
      });
    });
    $("video-invite").addEventListener("click", function () {
      send("video.invite_guest", { session_id: sessionId }, function (ack) {
        if (!ack.ok) { failed(ack); return; }
        showLink("Guest link (works once)", ack.data.url, "For a third participant, e.g. an interpreter. It works once.");
      });
    });
    $("video-link-copy").addEventListener("click", function () {
      $("video-link").select();
      if (navigator.clipboard) { navigator.clipboard.writeText($("video-link").value).catch(function () {}); }
    });
    var closeButton = $("video-ended-close");
    if (closeButton) { closeButton.addEventListener("click", function () { window.close(); }); }

    // Shrink: a compact floating layout, with the other person in Picture-in-Picture when
    // the browser offers it, so the clinician can work in the back office meanwhile.
    var compact = false;
    var setCompact = function (on, fromClick) {
      compact = on;
      document.body.classList.toggle("video-compact", on);
      toggleButton("video-compact", on, on ? "Expand" : "Shrink");
      $("video-compact").querySelector("i").className = on ? "fa fa-expand" : "fa fa-compress";
      if (window.opener || window.name.indexOf(CALL_WINDOW) === 0) {
        try { if (on) { window.resizeTo(420, 400); } else { window.resizeTo(1100, 760); } } catch (e) { /* not a popup */ }
      }
      var remote = document.querySelector(".video-tile-remote video");
      if (fromClick && on && remote && document.pictureInPictureEnabled && remote.readyState >= 1) {
        remote.requestPictureInPicture().catch(function () { /* not offered */ });
      } else if (fromClick && !on && document.pictureInPictureElement) {
        document.exitPictureInPicture().catch(function () {});
      }
    };
    $("video-compact").addEventListener("click", function () { setCompact(!compact, true); });
    if (cfg.compact === "true") { setCompact(true, false); }
    $("video-backoffice").addEventListener("click", function () {
      var main = null;
      try { if (window.opener && !window.opener.closed && window.opener.location.origin === window.location.origin) { main = window.opener; } } catch (e) { main = null; }
      if (main) { main.focus(); } else { main = window.open(cfg.indexUrl, "backoffice-main"); }
      if (!compact) { setCompact(true, true); }
    });
    $("video-popout").addEventListener("click", function () {
      var url = cfg.callUrl + "?compact=1";
      var popup = window.open(url, CALL_WINDOW + "-session-" + sessionId, "popup,width=420,height=400");
      if (!popup) { notice("Your browser blocked the new window. Allow pop-ups for this site."); return; }
      poppedOut = true;  // the new window re-joins as the same participant
      Object.keys(peers).forEach(closePeer);
      stopMedia();
      window.location.assign(cfg.indexUrl);
    });
    if (window.opener || window.name.indexOf(CALL_WINDOW) === 0) { $("video-popout").hidden = true; }

    // The login ended (signed in elsewhere, revoked, idle): the call ends here too.
    socket.on("core.session_ended", function () {
      finish("error", "Your sign-in ended, so you left the call. Sign in again to re-join.");
    });

    // Tell the other back-office pages a call is running here (their "Back to the call").
    var beat = function () {
      if (over) { return; }
      try {
        localStorage.setItem(HEARTBEAT_KEY, JSON.stringify({
          at: Date.now(), session: sessionId, entry: cfg.entryId ? Number(cfg.entryId) : null,
          name: window.name || "", url: cfg.callUrl,
        }));
      } catch (e) { /* storage off */ }
    };
    beat();
    setInterval(beat, 2000);
    // A call is activity: keep the idle logoff away while it runs.
    setInterval(function () {
      if (!over && joined) { document.dispatchEvent(new Event("mousemove")); }
    }, ACTIVITY_EVERY);
  }

  // A handle for support staff and tests (read it in the console); nothing depends on it.
  window.videoCall = {
    socket: socket,
    peers: peers,
    state: function () { return state; },
    participants: function () { return participants; },
  };

  // --- go -----------------------------------------------------------------------------------
  // Every control has its handler now: until here a click would have done nothing.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-needs-script]"), function (button) {
    button.disabled = false;
  });
  if (cfg.status === "ended") { finish("ended", "This session has ended."); return; }
  setState("starting");
  startMedia().then(function () {
    socket.on("connect", join);
    if (socket.connected) { join(); } else { refreshState(); }
  });
})();
