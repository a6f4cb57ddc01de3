/* On every staff page: a patient uploaded a document (only staff who may read uploads hear it). */
(function () {
  "use strict";
  var socket = window.backofficeSocket;
  if (!socket) { return; }

  function badge(total) {
    var link = document.querySelector('#bo-nav a[data-menu="Inbox"]');
    if (!link) { return; }
    var mark = link.querySelector(".upload-nav-count");
    if (!mark) {
      mark = document.createElement("span");
      mark.className = "badge upload-nav-count";
      link.appendChild(mark);
    }
    mark.textContent = total > 0 ? String(total) : "";
    mark.hidden = total <= 0;
  }
  function refresh() {
    socket.timeout(5000).emit("upload_site.unread", {}, function (err, ack) {
      if (!err && ack && ack.ok) { badge(ack.data.total); }
    });
  }
  socket.on("connect", refresh);
  if (socket.connected) { refresh(); }
  document.addEventListener("backoffice:shell-redrawn", refresh);

  function toast(data) {
    var holder = document.getElementById("upload-toasts");
    if (!holder) {
      holder = document.createElement("div");
      holder.id = "upload-toasts";
      holder.className = "upload-toasts";
      holder.setAttribute("aria-live", "polite");
      document.body.appendChild(holder);
    }
    var note = document.createElement("a");
    note.className = "alert alert-info upload-notification";
    note.id = "upload-notification-" + data.id;
    note.href = data.client_url;
    note.setAttribute("role", "status");
    note.textContent = "\u2191 " + data.client_name + " uploaded " + data.name + " (" + data.size_text + ")." +
      (data.previewable ? " Select to preview." : "");
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00D7";
    close.addEventListener("click", function (event) { event.preventDefault(); note.remove(); });
    note.insertBefore(close, note.firstChild);
    holder.appendChild(note);
  }
  // The page's own scripts hear it, and so does a page open in the dock: docked pages
  // have no socket of their own (the dock's frame is this origin's).
  function tell(name, data) {
    document.dispatchEvent(new CustomEvent(name, { detail: data }));
    var dock = document.getElementById("bo-dock-frame");
    try {
      var inside = dock && dock.contentWindow;
      if (inside && inside.document) {
        inside.document.dispatchEvent(new inside.CustomEvent(name, { detail: data }));
      }
    } catch (e) { /* another origin in the dock (DOCK_SITES): it has its own ways */ }
  }
  socket.on("upload_site.received", function (data) {
    if (!data || !data.id) { return; }
    toast(data);
    refresh();
    tell("upload_site:received", data);
  });
  socket.on("upload_site.deleted", function (data) {
    refresh();
    tell("upload_site:deleted", data);
  });
})();
