/* The live waiting room for staff.
 *
 * On every (re)connect the page fetches a snapshot (which carries the waiting room's
 * version), then applies "waiting_room.update" notifications in version order. Updates
 * that arrive while the snapshot is on its way are kept and replayed; a gap in the
 * versions means a lost notification, so the page fetches the snapshot again. Each update
 * holds the whole entry, so applying one twice changes nothing.
 */
(function () {
  "use strict";
  var root = document.getElementById("wr-dashboard");
  var socket = window.backofficeSocket;
  if (!root || !socket) { return; }
  var $ = function (id) { return document.getElementById(id); };
  // The chat panel moves into the list (a detached row at times): keep its parts at hand.
  var chat = {
    panel: $("wr-chat"), close: $("wr-chat-close"), form: $("wr-chat-form"),
    input: $("wr-chat-input"), title: $("wr-chat-title"), list: $("wr-chat-messages"),
  };
  var FILTER = "waiting_room.filter", PROVIDER = "waiting_room.provider";
  var LIVE = { waiting: true, admitted: true };
  var INVITE = { quickvite: "QuickVite", appointment: "Appointment", external: "External link", guest: "Guest", portal: "Portal" };
  var DEVICE = {
    ok: ["label-success", "Ready"], warning: ["label-warning", "Check"], failed: ["label-danger", "No camera/mic"],
    pending: ["label-default", "Not checked"], skipped: ["label-default", "Skipped"],
  };
  var CONSENT = { unknown: ["label-default", "Unknown"], recorded: ["label-success", "Recorded"], declined: ["label-danger", "Declined"] };
  var AVAILABILITY = { available: "available", busy: "with a patient", running_late: "running late", away: "away", offline: "offline" };

  var state = {
    version: -1, entries: new Map(), providers: [], me: null, loading: false, buffer: [],
    offset: 0, selected: null, read: {},
  };
  var filter = localStorage.getItem(FILTER);
  var providerFilter = localStorage.getItem(PROVIDER) || "";

  function emit(event, data) {
    return new Promise(function (resolve) {
      socket.timeout(8000).emit(event, data || {}, function (err, ack) {
        resolve(err ? { ok: false, error: { code: "timeout", message: "The server did not answer; check your connection." } } : ack);
      });
    });
  }
  function showError(message) {
    var box = $("wr-error");
    box.textContent = message;
    box.hidden = !message;
    if (message) { setTimeout(function () { if (box.textContent === message) { box.hidden = true; } }, 8000); }
  }
  function notice(message) {
    var box = $("wr-notice");
    box.textContent = message;
    box.hidden = false;
    setTimeout(function () { if (box.textContent === message) { box.hidden = true; } }, 10000);
  }

  // --- snapshot and versioned updates -----------------------------------------------
  function load() {
    state.loading = true;
    state.buffer = [];
    root.dataset.state = "loading";
    return emit("waiting_room.snapshot", { scope: "all" }).then(function (ack) {
      state.loading = false;
      if (!ack || !ack.ok) { showError(ack && ack.error ? ack.error.message : "Could not load the waiting room."); return; }
      var snapshot = ack.data;
      state.version = snapshot.version;
      state.entries = new Map();
      snapshot.entries.forEach(function (entry) { state.entries.set(entry.id, entry); });
      state.providers = snapshot.providers;
      state.me = snapshot.me;
      state.offset = Date.parse(snapshot.server_time) - Date.now();
      if (!filter) { filter = snapshot.me.is_provider ? "mine" : "all"; }
      var buffered = state.buffer.sort(function (a, b) { return a.version - b.version; });
      state.buffer = [];
      root.dataset.state = "live";
      buffered.forEach(onUpdate);
      renderToolbar();
      render();
    });
  }
  function onUpdate(update) {
    if (state.loading) { state.buffer.push(update); return; }
    if (update.version <= state.version) { return; }  // already in the snapshot
    if (update.version !== state.version + 1) { load(); return; }  // a lost notification
    state.version = update.version;
    put(update.entry);
    if (update.kind === "transferred" && state.me && update.entry.provider_id === state.me.user_id &&
        update.entry.transferred_by) {
      notice(update.entry.transferred_by + " transferred " + update.entry.name + " to you.");
    }
    render();
  }
  function put(entry) {
    var current = state.entries.get(entry.id);
    if (current && current.version > entry.version) { return; }
    if (LIVE[entry.status]) { state.entries.set(entry.id, entry); } else { state.entries.delete(entry.id); }
    if (state.selected === entry.id && !LIVE[entry.status]) { closeChat(); }
  }
  socket.on("waiting_room.update", onUpdate);
  socket.on("waiting_room.providers", function (providers) { state.providers = providers; renderToolbar(); render(); });
  socket.on("connect", load);
  socket.on("core.resync", load);  // the message queue came back: updates may be lost
  if (socket.connected) { load(); }
  document.addEventListener("waiting-room:heartbeat", function (event) {
    if (!state.loading && event.detail.version > state.version) { load(); }
  });
  document.addEventListener("waiting-room:me", function (event) {
    state.me = Object.assign({}, state.me || {}, event.detail);
    renderToolbar();
  });
  document.addEventListener("waiting-room:alert", function (event) {
    notice(event.detail.entry.name + " has waited " + Math.round(event.detail.waited_seconds / 60) + " minutes.");
  });

  // --- actions ------------------------------------------------------------------------
  function act(event, data) {
    return emit(event, data).then(function (ack) {
      if (!ack || !ack.ok) { showError(ack && ack.error ? ack.error.message : "That did not work."); return null; }
      showError("");
      put(ack.data);  // the notification follows; the whole entry makes this idempotent
      render();
      return ack.data;
    });
  }
  $("wr-rows").addEventListener("click", function (event) {
    var button = event.target.closest("[data-action]");
    if (!button) { return; }
    event.preventDefault();
    var id = Number(button.dataset.entryId), entry = state.entries.get(id);
    if (!entry) { return; }
    var action = button.dataset.action;
    if (action === "message") { openChat(id); return; }
    if (action === "transfer") { openTransfer(entry); return; }
    if (action === "copay") { openCopay(entry); return; }
    if (action === "remove" && !confirm("Remove " + entry.name + " from the waiting room?")) { return; }
    if (action === "no_show" && !confirm("Mark " + entry.name + " as a no-show?")) { return; }
    button.disabled = true;
    act("waiting_room." + action, { entry_id: id }).then(function () { button.disabled = false; });
  });

  // --- chat ---------------------------------------------------------------------------
  // The conversation opens in a row right under the patient's own row.
  var chatRow = el("tr", "wr-chat-row");
  chatRow.id = "wr-chat-row";
  var chatCell = el("td");
  chatCell.colSpan = 10;
  chatCell.appendChild(chat.panel);
  chatRow.appendChild(chatCell);
  function openChat(id) {
    state.selected = state.selected === id ? null : id;
    render();
    if (state.selected !== null) { chat.input.focus(); }
  }
  function closeChat() {
    state.selected = null;
    root.dataset.chat = "";
  }
  chat.close.addEventListener("click", function () { closeChat(); render(); });
  chat.form.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = chat.input, body = input.value.trim();
    if (!body || state.selected === null) { return; }
    input.disabled = true;
    act("waiting_room.message", { entry_id: state.selected, body: body }).then(function (entry) {
      if (entry) { input.value = ""; }
      input.disabled = false;
      input.focus();
    });
  });
  function renderChat() {
    var entry = state.selected !== null ? state.entries.get(state.selected) : null;
    if (!entry) { return; }
    root.dataset.chat = String(entry.id);
    chat.title.textContent = entry.name;
    var list = chat.list;
    list.textContent = "";
    entry.messages.forEach(function (m) {
      var item = document.createElement("li");
      item.className = "wr-msg wr-msg-" + m.sender;
      item.dataset.sender = m.sender;
      var who = document.createElement("span");
      who.className = "wr-msg-author";
      who.textContent = (m.sender === "patient" ? entry.name : m.author) + " \u00B7 " + clock(m.sent_at);
      var body = document.createElement("span");
      body.className = "wr-msg-body";
      body.textContent = m.body;
      item.append(who, body);
      list.appendChild(item);
    });
    list.scrollTop = list.scrollHeight;
    state.read[entry.id] = entry.messages.length;
  }

  // --- transfer and copay dialogs --------------------------------------------------------
  var dialogEntry = null;
  function openTransfer(entry) {
    dialogEntry = entry;
    $("wr-transfer-name").textContent = entry.name;
    var select = $("wr-transfer-to");
    select.textContent = "";
    state.providers.filter(function (p) { return p.id !== entry.provider_id; }).forEach(function (p) {
      select.add(new Option(p.name + " (" + (AVAILABILITY[p.availability] || p.availability) + ")", String(p.id)));
    });
    $("wr-transfer-note").value = "";
    window.jQuery("#wr-transfer").modal("show");
  }
  $("wr-transfer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!dialogEntry || !$("wr-transfer-to").value) { return; }
    act("waiting_room.transfer", {
      entry_id: dialogEntry.id, to_provider_id: Number($("wr-transfer-to").value),
      note: $("wr-transfer-note").value.trim() || null,
    }).then(function (entry) { if (entry) { window.jQuery("#wr-transfer").modal("hide"); } });
  });
  function openCopay(entry) {
    dialogEntry = entry;
    $("wr-copay-name").textContent = entry.name;
    $("wr-copay-status").value = entry.copay.status === "due" ? "collected"
      : entry.copay.status === "not_required" ? "due" : entry.copay.status;
    $("wr-copay-amount").value = entry.copay.amount_cents !== null ? (entry.copay.amount_cents / 100).toFixed(2) : "";
    window.jQuery("#wr-copay").modal("show");
  }
  $("wr-copay-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!dialogEntry) { return; }
    var amount = $("wr-copay-amount").value;
    act("waiting_room.mark_copay", {
      entry_id: dialogEntry.id, status: $("wr-copay-status").value,
      amount_cents: amount === "" ? null : Math.round(Number(amount) * 100),
      method: $("wr-copay-method").value || null,
    }).then(function (entry) { if (entry) { window.jQuery("#wr-copay").modal("hide"); } });
  });

  // --- toolbar: filters, sound, notifications, availability -------------------------------
  Array.prototype.forEach.call(document.querySelectorAll("[data-filter]"), function (button) {
    button.addEventListener("click", function () {
      filter = button.dataset.filter;
      localStorage.setItem(FILTER, filter);
      renderToolbar();
      render();
    });
  });
  $("wr-provider-filter").addEventListener("change", function () {
    providerFilter = this.value;
    localStorage.setItem(PROVIDER, providerFilter);
    render();
  });
  $("wr-mute").addEventListener("click", function () {
    var notifier = window.waitingRoomNotify;
    if (!notifier || !notifier.setMuted) { return; }
    notifier.setMuted(!(state.me && state.me.muted)).catch(function (e) { showError(e.message); });
  });
  $("wr-notifications").addEventListener("click", function () {
    if (!window.Notification) { return; }
    Notification.requestPermission().then(renderToolbar);
  });
  $("wr-availability").addEventListener("change", function () {
    var notifier = window.waitingRoomNotify;
    if (notifier && notifier.setAvailability) {
      notifier.setAvailability(this.value).catch(function (e) { showError(e.message); });
    }
  });
  function renderToolbar() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-filter]"), function (button) {
      var active = button.dataset.filter === filter;
      button.classList.toggle("active", active);
      button.setAttribute("aria-pressed", active ? "true" : "false");
    });
    root.dataset.filter = filter || "";
    var select = $("wr-provider-filter");
    select.disabled = filter === "mine";
    var chosen = providerFilter;
    while (select.options.length > 2) { select.remove(2); }
    state.providers.forEach(function (p) { select.add(new Option(p.name, String(p.id))); });
    select.value = chosen;
    if (select.value !== chosen) { providerFilter = ""; select.value = ""; }
    var me = state.me;
    if (me) {
      var mute = $("wr-mute");
      mute.setAttribute("aria-pressed", me.muted ? "true" : "false");
      mute.querySelector("i").className = me.muted ? "fa fa-volume-off" : "fa fa-volume-up";
      mute.querySelector("span").textContent = me.muted ? "Arrival sound off" : "Arrival sound on";
      $("wr-availability").hidden = !me.is_provider;
      $("wr-availability").value = me.availability || "available";
    }
    $("wr-notifications").hidden = !(window.Notification && Notification.permission === "default");
  }

  // --- the list ----------------------------------------------------------------------------
  function visible() {
    var all = Array.from(state.entries.values());
    var me = state.me ? state.me.user_id : null;
    return all.filter(function (e) {
      if (filter === "mine") { return e.provider_id === me; }
      if (providerFilter === "unassigned") { return e.provider_id === null; }
      if (providerFilter) { return String(e.provider_id) === providerFilter; }
      return true;
    }).sort(function (a, b) {
      return a.arrived_at < b.arrived_at ? -1 : a.arrived_at > b.arrived_at ? 1 : a.id - b.id;
    });
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function label(kind, text, title) {
    var span = el("span", "label " + kind, text);
    if (title) { span.title = title; }
    return span;
  }
  function money(cents) { return cents === null || cents === undefined ? "" : "$" + (cents / 100).toFixed(2); }
  function clock(iso) {
    if (!iso) { return ""; }
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function duration(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + pad(m) : m) + ":" + pad(s);
  }
  function button(action, entry, text, kind, icon) {
    var b = el("button", "btn btn-xs " + kind);
    b.type = "button";
    b.dataset.action = action;
    b.dataset.entryId = String(entry.id);
    if (icon) { b.appendChild(el("i", "fa " + icon)); b.appendChild(document.createTextNode(" ")); }
    b.appendChild(document.createTextNode(text));
    return b;
  }
  function row(entry) {
    var tr = el("tr", "wr-row wr-row-" + entry.status);
    tr.id = "wr-entry-" + entry.id;
    tr.dataset.entryId = String(entry.id);
    tr.dataset.status = entry.status;
    tr.dataset.providerId = entry.provider_id === null ? "" : String(entry.provider_id);
    if (entry.alerts.practice_at) { tr.classList.add("danger"); } else if (entry.alerts.provider_at) { tr.classList.add("warning"); }

    var who = el("td", "wr-who");
    var dot = el("span", "wr-dot wr-dot-" + entry.connection);
    dot.title = entry.connection === "away" ? "Page closed or connection lost since " + clock(entry.away_since)
      : entry.connection === "online" ? "Connected" : "Not connected yet";
    who.append(dot, el("strong", "wr-name", entry.name));
    var unread = entry.messages.length - (state.read[entry.id] || 0);
    var fromPatient = entry.messages.slice(state.read[entry.id] || 0).some(function (m) { return m.sender === "patient"; });
    if (unread > 0 && fromPatient && state.selected !== entry.id) {
      var badge = el("span", "badge wr-unread", String(unread));
      badge.title = "New messages";
      who.append(" ", badge);
    }
    if (entry.client && entry.client.name !== entry.name) { who.append(el("div", "small text-muted", "Chart: " + entry.client.name)); }
    if (entry.identity === "mismatch") { who.append(el("div", "small text-danger", "Date of birth does not match the chart")); }
    else if (entry.identity === "matched") { who.append(el("div", "small text-success", "Date of birth matches")); }
    tr.appendChild(who);

    var wait = el("td", "wr-wait");
    if (entry.status === "waiting") {
      wait.dataset.since = entry.waiting_since;
      wait.textContent = duration(Date.now() + state.offset - Date.parse(entry.waiting_since));
    } else { wait.textContent = "\u2014"; }
    tr.appendChild(wait);

    var provider = el("td", "wr-provider", entry.provider_name || "Unassigned");
    if (entry.transferred_by) { provider.appendChild(el("div", "small text-muted wr-transferred-by", "Transferred by " + entry.transferred_by)); }
    tr.appendChild(provider);
    tr.appendChild(el("td", "wr-invite", INVITE[entry.invite_kind] || entry.invite_kind));
    tr.appendChild(el("td", "wr-appointment", entry.appointment_at ? clock(entry.appointment_at) : "\u2014"));

    var copay = el("td", "wr-copay");
    copay.dataset.copay = entry.copay.status;
    if (entry.copay.status === "due") { copay.appendChild(label("label-warning", "Due " + money(entry.copay.amount_cents))); }
    else if (entry.copay.status === "collected") {
      copay.appendChild(label("label-success", "Collected " + money(entry.copay.amount_cents),
        entry.copay.collected_by ? "by " + entry.copay.collected_by : ""));
    } else { copay.appendChild(el("span", "text-muted", "Not required")); }
    tr.appendChild(copay);

    var consent = CONSENT[entry.consent.status] || CONSENT.unknown;
    var consentCell = el("td", "wr-consent");
    consentCell.dataset.consent = entry.consent.status;
    consentCell.appendChild(label(consent[0], consent[1]));
    tr.appendChild(consentCell);

    var device = DEVICE[entry.device.status] || DEVICE.pending;
    var details = entry.device.details || {};
    var deviceTitle = entry.device.status === "pending" ? "" : "Camera: " + (details.camera ? "yes" : "no") +
      ", microphone: " + (details.microphone ? "yes" : "no") +
      (details.latency_ms ? ", latency " + Math.round(details.latency_ms) + " ms" : "");
    var deviceCell = el("td", "wr-device");
    deviceCell.dataset.device = entry.device.status;
    deviceCell.appendChild(label(device[0], device[1], deviceTitle));
    tr.appendChild(deviceCell);

    var status = el("td", "wr-status");
    status.dataset.status = entry.status;
    status.appendChild(label(entry.status === "admitted" ? "label-primary" : "label-info",
      entry.status === "admitted" ? "Admitted" : "Waiting"));
    if (entry.status === "admitted" && entry.session_url) {
      var link = el("a", "btn btn-xs btn-primary wr-open-session", "Open session");
      link.href = entry.session_url;
      link.target = "_blank";
      link.rel = "noopener";
      status.append(" ", link);
    }
    tr.appendChild(status);

    var actions = el("td", "wr-actions");
    var group = el("div", "btn-group");
    if (entry.status === "waiting") { group.appendChild(button("admit", entry, "Admit", "btn-success", "fa-sign-in")); }
    else { group.appendChild(button("send_back", entry, "Send back", "btn-default", "fa-undo")); }
    group.appendChild(button("message", entry, "Message", "btn-default", "fa-comment"));
    var more = el("div", "btn-group");
    var toggle = el("button", "btn btn-xs btn-default dropdown-toggle wr-more");
    toggle.type = "button";
    toggle.dataset.toggle = "dropdown";
    toggle.setAttribute("aria-haspopup", "true");
    toggle.setAttribute("aria-expanded", "false");
    toggle.append("More ", el("span", "caret"));
    var menu = el("ul", "dropdown-menu dropdown-menu-right");
    [["transfer", "Transfer to another provider\u2026", "fa-exchange"], ["copay", "Copay\u2026", "fa-usd"],
     ["no_show", "Mark as no-show", "fa-user-times"], ["remove", "Remove from the waiting room", "fa-times"]]
      .forEach(function (item) {
        var li = el("li"), a = el("a");
        a.href = "#";
        a.dataset.action = item[0];
        a.dataset.entryId = String(entry.id);
        a.append(el("i", "fa fa-fw " + item[2]), " " + item[1]);
        li.appendChild(a);
        menu.appendChild(li);
      });
    more.append(toggle, menu);
    group.appendChild(more);
    actions.appendChild(group);
    tr.appendChild(actions);
    return tr;
  }
  var rendered = new Map();  // entry id -> {key, tr}: unchanged rows are kept (open menus too)
  function render() {
    var entries = visible();
    var body = $("wr-rows");
    var keep = new Map(), expected = [];
    entries.forEach(function (entry) {
      var key = [entry.version, entry.messages.length, state.read[entry.id] || 0,
        state.selected === entry.id].join("|");
      var found = rendered.get(entry.id);
      var tr = found && found.key === key ? found.tr : row(entry);
      if (found && found.tr !== tr) { found.tr.remove(); }
      keep.set(entry.id, { key: key, tr: tr });
      expected.push(tr);
      if (state.selected === entry.id) { expected.push(chatRow); }
    });
    rendered.forEach(function (found, id) { if (!keep.has(id)) { found.tr.remove(); } });
    rendered = keep;
    // Move only what is out of place, so a half-typed message keeps its focus.
    expected.forEach(function (node, index) {
      if (body.children[index] !== node) { body.insertBefore(node, body.children[index] || null); }
    });
    while (body.children.length > expected.length) { body.lastElementChild.remove(); }
    if (state.selected !== null && !keep.has(state.selected)) { closeChat(); }
    $("wr-loading").hidden = true;
    $("wr-empty").hidden = entries.length > 0;
    var waiting = Array.from(state.entries.values()).filter(function (e) { return e.status === "waiting"; }).length;
    $("wr-counts").textContent = waiting + " waiting, " + (state.entries.size - waiting) + " admitted" +
      (entries.length !== state.entries.size ? " (" + entries.length + " shown)" : "");
    root.dataset.version = String(state.version);
    if (state.selected !== null) { renderChat(); }
  }
  setInterval(function () {
    Array.prototype.forEach.call(document.querySelectorAll(".wr-wait[data-since]"), function (cell) {
      cell.textContent = duration(Date.now() + state.offset - Date.parse(cell.dataset.since));
    });
  }, 1000);
})();
