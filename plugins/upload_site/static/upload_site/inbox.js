/* The inbox and a client's uploads: confirm deletions, show new files live. */
(function () {
  "use strict";
  document.querySelectorAll("form.upload-delete").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm("Delete this file? It disappears from the inbox and the portal; the audit log keeps the record.")) {
        event.preventDefault();
      }
    });
  });

  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }
  var page = document.getElementById("upload-client-page");
  var table = document.getElementById("upload-files");
  document.addEventListener("upload_site:received", function (event) {
    var data = event.detail;
    if (page && table && String(data.client_id) === page.dataset.clientId) {
      var empty = table.querySelector(".upload-empty");
      if (empty) { empty.remove(); }
      var row = document.createElement("tr");
      row.className = "upload-unread upload-live";
      row.dataset.uploadId = data.id;
      var name = document.createElement("td");
      var label = document.createElement("span");
      label.className = "label label-primary";
      label.textContent = "new";
      var link = document.createElement("a");
      link.className = "upload-show";
      link.href = data.client_url;
      link.textContent = " " + data.name;
      name.append(label, link);
      row.append(name, cell(data.via === "portal" ? "Portal" : "Upload link"),
        cell(data.created_at.slice(0, 16).replace("T", " ")), cell(""));
      table.querySelector("tbody").prepend(row);
    }
    var inbox = document.getElementById("upload-inbox-table");
    if (inbox) {
      var line = inbox.querySelector('tr[data-client-id="' + data.client_id + '"] .upload-unread-count');
      if (line) {
        line.textContent = String(Number(line.textContent) + 1);
      } else {
        window.location.reload();  // a client new to the inbox: the server draws the row
      }
    }
  });
  document.addEventListener("upload_site:deleted", function (event) {
    if (!table) { return; }
    var row = table.querySelector('tr[data-upload-id="' + event.detail.id + '"]');
    if (row) { row.remove(); }
  });
})();
