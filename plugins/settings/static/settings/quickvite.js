/* Patient QuickVite: the top bar's dialog (button or Alt+Q), the Settings page's form, and
 * the live Recent invites list. Text from the server is only inserted with .text(). */
(function () {
  "use strict";
  var $ = window.jQuery;
  if (!$) { return; }

  function showErrors(form, fields, message) {
    form.find(".form-group").removeClass("has-error").find(".qv-error").attr("hidden", true).text("");
    Object.keys(fields || {}).forEach(function (name) {
      var group = form.find('[data-field="' + name + '"]');
      group.addClass("has-error").find(".qv-error").text(fields[name]).removeAttr("hidden");
    });
    var general = form.find(".qv-form-error");
    if (message) { general.text(message).removeAttr("hidden"); } else { general.attr("hidden", true).text(""); }
  }

  function word(channel) { return channel === "sms" ? "Text message" : "Email"; }

  function showResult(form, sent) {
    var list = form.find(".qv-deliveries").empty();
    sent.deliveries.forEach(function (d) {
      var ok = d.status !== "failed";
      var item = $("<li>").addClass(ok ? "text-success" : "text-danger")
        .attr("data-channel", d.channel).attr("data-status", d.status);
      item.append($("<i>").addClass("fa " + (ok ? "fa-check" : "fa-exclamation-circle")));
      item.append(document.createTextNode(" " + (ok
        ? word(d.channel) + (d.status === "recorded" ? " recorded in the outbox for " : " sent to ") + d.recipient + "."
        : d.problem)));
      list.append(item);
    });
    form.find(".qv-link").val(sent.url);
    form.find(".qv-qr").attr("src", sent.qr_svg);
    form.find(".qv-result").removeAttr("hidden");
    form.find(".qv-send").attr("hidden", true);
  }

  function reset(form) {
    form[0].reset();
    showErrors(form, {}, "");
    form.find(".qv-result").attr("hidden", true);
    form.find(".qv-send").removeAttr("hidden").prop("disabled", false);
  }

  $(document).on("submit", ".qv-form", function (event) {
    event.preventDefault();
    var form = $(this);
    var provider = form.find('[name="provider_id"]').val();
    var payload = {
      name: form.find('[name="name"]').val(),
      phone: form.find('[name="phone"]').val(),
      email: form.find('[name="email"]').val(),
      provider_id: provider ? parseInt(provider, 10) : null,
      note: form.find('[name="note"]').val()
    };
    form.find(".qv-send").prop("disabled", true);
    fetch(form.data("send-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": form.data("csrf") },
      body: JSON.stringify(payload)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        form.find(".qv-send").prop("disabled", false);
        if (response.status === 201) { showErrors(form, {}, ""); showResult(form, body); refreshRecent(); return; }
        showErrors(form, body.fields, body.error || "The QuickVite could not be sent; try again.");
      });
    }).catch(function () {
      form.find(".qv-send").prop("disabled", false);
      showErrors(form, {}, "The back office did not answer; check the connection and try again.");
    });
  });

  $(document).on("click", ".qv-copy", function () {
    var input = $(this).closest(".input-group").find("input")[0];
    copy(input, $(this));
  });
  $(document).on("click", ".sj-copy", function () {
    copy(document.getElementById($(this).data("target")), $(this));
  });
  function copy(input, button) {
    input.select();
    var done = function () { button.text("Copied"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else { document.execCommand("copy"); done(); }
  }
  $(document).on("click", ".qv-another", function () { reset($(this).closest(".qv-form")); });

  function openDialog() {
    var dialog = $("#qv-dialog");
    if (!dialog.length) { return; }
    reset(dialog.find(".qv-form"));
    dialog.modal("show");
  }
  $(document).on("click", "#bo-quickvite", openDialog);
  $("#qv-dialog").on("shown.bs.modal", function () { $(this).find('[name="name"]').trigger("focus"); });
  document.addEventListener("keydown", function (event) {
    if (event.altKey && !event.ctrlKey && !event.metaKey && (event.code === "KeyQ" || event.key === "q")) {
      event.preventDefault();
      openDialog();
    }
  });

  // --- Recent invites ---------------------------------------------------------------------
  var table = $("#qv-recent");
  var LABELS = { sent: "Sent", opened: "Opened", arrived: "Arrived", expired: "Expired", revoked: "Revoked",
                 resent: "Sent again", "not delivered": "Not delivered" };

  function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }

  function row(invite) {
    var tr = $("<tr>").attr("data-id", invite.id).attr("data-status", invite.status);
    var who = $("<td>").text(invite.patient_name);
    who.append($("<br>"), $("<small class='text-muted'>").text([invite.phone, invite.email].filter(Boolean).join(" · ")));
    tr.append(who, $("<td>").text(when(invite.sent_at)), $("<td>").text(invite.provider || ""));
    var status = $("<td class='qv-status'>").text(LABELS[invite.status] || invite.status);
    invite.deliveries.forEach(function (d) {
      if (d.problem) { status.append($("<br>"), $("<small class='text-danger'>").text(d.problem)); }
    });
    tr.append(status);
    var actions = $("<td class='text-right'>");
    if (invite.can_resend) { actions.append($("<button type='button' class='btn btn-default btn-xs qv-resend'>").text("Resend")); }
    if (invite.can_revoke) { actions.append(" ", $("<button type='button' class='btn btn-danger btn-xs qv-revoke'>").text("Revoke")); }
    return tr.append(actions);
  }

  function refreshRecent() {
    if (!table.length) { return; }
    fetch(table.data("url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        var tbody = table.find("tbody").empty();
        if (!body.invites.length) { tbody.append("<tr class='qv-empty'><td colspan='5'>No QuickVites yet.</td></tr>"); }
        body.invites.forEach(function (invite) { tbody.append(row(invite)); });
      });
  }

  function act(button, what) {
    var id = button.closest("tr").data("id");
    button.prop("disabled", true);
    fetch(table.data("base") + id + "/" + what, {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": table.data("csrf") }
    }).then(refreshRecent, refreshRecent);
  }
  table.on("click", ".qv-resend", function () { act($(this), "resend"); });
  table.on("click", ".qv-revoke", function () { act($(this), "revoke"); });

  if (table.length) {
    refreshRecent();
    var socket = window.backofficeSocket;
    if (socket) {
      socket.on("settings.quickvite_changed", refreshRecent);
      socket.on("connect", refreshRecent);  // missed pushes while away: fetch again
    }
  }
}());
