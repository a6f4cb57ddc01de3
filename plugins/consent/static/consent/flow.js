/* The consent screens: the contact fields of the chosen channel, and live notifications. */
(function () {
  "use strict";
  // Show the "add a phone number / email address" field only for the chosen channel.
  Array.prototype.forEach.call(document.querySelectorAll("[data-channel-group]"), function (group) {
    function update() {
      var chosen = group.querySelector("input[name=channel]:checked");
      Array.prototype.forEach.call(group.querySelectorAll(".consent-add"), function (box) {
        box.hidden = !chosen || box.dataset.for !== chosen.value;
      });
    }
    group.addEventListener("change", update);
    update();
  });

  var screen = document.getElementById("consent-start");
  var socket = window.backofficeSocket;
  if (!screen || !socket) { return; }
  var box = document.getElementById("consent-notifications");
  var clientId = Number(screen.dataset.clientId);
  var shown = {};

  function show(data) {
    if (!data || Number(data.client_id) !== clientId || shown[data.request_id]) { return; }
    if (data.state !== "accepted" && data.state !== "declined") { return; }
    shown[data.request_id] = true;
    var pending = document.getElementById("consent-pending");
    if (pending) { pending.hidden = true; }
    var note;
    if (data.state === "accepted") {
      note = document.createElement("a");
      note.href = data.link_url || screen.dataset.linkUrl;
      note.className = "alert alert-success consent-notification";
      note.textContent = "\u2714 " + data.client_name + " accepted and signed the consent form. " +
        "Select this notification to open the telehealth session screen.";
    } else {
      note = document.createElement("div");
      note.className = "alert alert-warning consent-notification";
      note.textContent = "\u2716 " + data.client_name + " declined the consent form. Take verbal " +
        "consent if they agree now, or offer an in-person appointment.";
    }
    note.id = "consent-notification-" + data.request_id;
    note.dataset.decision = data.state;
    note.setAttribute("role", "alert");
    box.appendChild(note);
  }

  socket.on("consent.decided", show);
  // Notifications can be lost while disconnected: ask for the state on every (re)connect.
  function snapshot() {
    var id = Number(screen.dataset.requestId);
    if (!id) { return; }
    socket.timeout(5000).emit("consent.request_status", { request_id: id }, function (err, ack) {
      if (!err && ack && ack.ok) { show(ack.data); }
    });
  }
  socket.on("connect", snapshot);
  if (socket.connected) { snapshot(); }
})();
