/* On every staff page: a client answered a consent form that you sent. */
(function () {
  "use strict";
  var socket = window.backofficeSocket;
  if (!socket || document.getElementById("consent-start")) { return; }  // that screen shows its own
  socket.on("consent.decided", function (data) {
    if (!data || (data.state !== "accepted" && data.state !== "declined")) { return; }
    var holder = document.getElementById("consent-toasts");
    if (!holder) {
      holder = document.createElement("div");
      holder.id = "consent-toasts";
      holder.className = "consent-toasts";
      holder.setAttribute("aria-live", "assertive");
      document.body.appendChild(holder);
    }
    var note = document.createElement(data.state === "accepted" && data.link_url ? "a" : "div");
    note.className = "alert consent-notification " + (data.state === "accepted" ? "alert-success" : "alert-warning");
    note.id = "consent-notification-" + data.request_id;
    note.dataset.decision = data.state;
    note.setAttribute("role", "alert");
    if (data.state === "accepted") {
      note.textContent = "\u2714 " + data.client_name + " accepted the telehealth consent form." +
        (data.link_url ? " Select to open the session screen." : "");
      if (data.link_url) { note.href = data.link_url; }
    } else {
      note.textContent = "\u2716 " + data.client_name + " declined the telehealth consent form.";
      if (data.record_url) { note.title = "See Consent Records"; }
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00D7";
    close.addEventListener("click", function (event) { event.preventDefault(); note.remove(); });
    note.insertBefore(close, note.firstChild);
    holder.appendChild(note);
  });
})();
