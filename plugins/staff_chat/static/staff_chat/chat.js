/* The Messages page: the channel list with unread badges, the history and the composer.
 *
 * The channel list and unread counts come from window.staffChat (unread.js, loaded on every
 * staff page); the history is fetched per channel and new messages arrive on the shell's
 * socket. Message text is only ever inserted with .text(): never as HTML.
 */
(function () {
  "use strict";
  var root = document.getElementById("staff-chat");
  var chat = window.staffChat;
  var socket = window.backofficeSocket;
  if (!root || !chat || !socket) { return; }

  var PAGE = 50;
  var PRACTICE = "practice";
  var me = Number(root.dataset.me);
  var max = Number(root.dataset.max);
  var $list = $("#staff-chat-channels");
  var $history = $("#staff-chat-history");
  var $messages = $("#staff-chat-messages");
  var $more = $("#staff-chat-more");
  var $empty = $("#staff-chat-empty");
  var $title = $("#staff-chat-title");
  var $subtitle = $("#staff-chat-subtitle");
  var $form = $("#staff-chat-form");
  var $body = $("#staff-chat-body");
  var $count = $("#staff-chat-count");
  var $error = $("#staff-chat-error");
  var $send = $("#staff-chat-send");

  var active = null;  // the open channel's key
  var opened = false;
  var shown = {};  // ids of the messages in the pane
  var oldest = null, newest = 0;
  var loads = 0;  // only the latest history request for the open channel counts

  function visible() { return document.visibilityState === "visible"; }
  function wanted() {
    var key = decodeURIComponent(window.location.hash.slice(1));
    return key || PRACTICE;
  }
  function channel(key) { return chat.state.channels[key] || null; }

  function when(iso) {
    var date = new Date(iso);
    var sameDay = date.toDateString() === new Date().toDateString();
    var options = sameDay ? { hour: "2-digit", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return date.toLocaleString([], options);
  }

  function messageNode(message) {
    var mine = message.sender_id === me;
    var $node = $("<div>", { "class": "staff-chat-msg" + (mine ? " mine" : "") });
    $node.attr("data-id", message.id).attr("data-sender", message.sender_id);
    var $meta = $("<div>", { "class": "staff-chat-meta" }).appendTo($node);
    $("<strong>").text(mine ? "You" : message.sender_name).appendTo($meta);
    $meta.append(document.createTextNode(" "));
    $("<time>").attr("datetime", message.created_at).text(when(message.created_at)).appendTo($meta);
    $("<div>", { "class": "staff-chat-text" }).text(message.body).appendTo($node);
    return $node;
  }

  /* Insert in id order, once: history pages and live pushes may overlap or cross. */
  function show(message) {
    if (message.channel !== active || shown[message.id]) { return false; }
    shown[message.id] = true;
    var $node = messageNode(message);
    var $after = $messages.children().filter(function () {
      return Number(this.dataset.id) > message.id;
    }).first();
    if ($after.length) { $node.insertBefore($after); } else { $messages.append($node); }
    oldest = oldest === null ? message.id : Math.min(oldest, message.id);
    newest = Math.max(newest, message.id);
    $empty.prop("hidden", true);
    return true;
  }

  function atBottom() {
    var el = $history[0];
    return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }
  function toBottom() { $history.scrollTop($history[0].scrollHeight); }

  function markRead(upTo) {
    var current = channel(active);
    if (!current || !visible() || (current.unread === 0 && current.last_read_id >= upTo)) {
      return;
    }
    chat.call("staff_chat.mark_read", { channel: active, up_to_id: upTo }).catch(function () {});
  }

  function renderList() {
    var state = chat.state;
    $list.empty();
    if (!state.order.length) {
      $("<span>", { "class": "list-group-item text-muted" })
        .text(state.ready ? "No conversations yet." : "Chat is not available right now.")
        .appendTo($list);
      return;
    }
    state.order.forEach(function (key) {
      var item = state.channels[key];
      var $item = $("<a>", { "class": "list-group-item staff-chat-channel", href: "#" + key });
      $item.attr("data-channel", key).attr("data-unread", item.unread);
      $item.toggleClass("active", key === active).toggleClass("staff-chat-former", !item.active);
      var $badge = $("<span>", { "class": "badge staff-chat-unread" }).text(item.unread);
      $badge.prop("hidden", item.unread === 0).appendTo($item);
      var $name = $("<span>", { "class": "staff-chat-channel-title" }).appendTo($item);
      $("<i>", { "class": "fa fa-fw " + (item.kind === "dm" ? "fa-user" : "fa-users") })
        .appendTo($name);
      $name.append(document.createTextNode(" " + item.title));
      if (item.last_message) {
        var who = item.last_message.sender_id === me ? "You: " : "";
        $("<small>", { "class": "staff-chat-preview" })
          .text(who + item.last_message.body).appendTo($item);
      }
      $list.append($item);
    });
  }

  function describe(item) {
    $title.text(item ? item.title : "");
    if (!item) { $subtitle.text(""); }
    else if (item.kind === PRACTICE) { $subtitle.text("Everyone on staff"); }
    else if (item.active) { $subtitle.text("Direct message"); }
    else { $subtitle.text("No longer on staff: read only"); }
    var readOnly = !item || !item.active;
    $body.prop("disabled", readOnly);
    $send.prop("disabled", readOnly);
  }

  function loadHistory(beforeId) {
    var key = active, mine = ++loads;
    var request = { channel: key, limit: PAGE };
    if (beforeId) { request.before_id = beforeId; }
    $more.prop("disabled", true);
    return chat.call("staff_chat.history", request).then(function (data) {
      if (mine !== loads || key !== active) { return; }
      var el = $history[0], fromBottom = el.scrollHeight - el.scrollTop;
      data.messages.forEach(show);
      $more.prop("hidden", !data.has_more).prop("disabled", false);
      $empty.prop("hidden", $messages.children().length > 0);
      if (beforeId) { el.scrollTop = el.scrollHeight - fromBottom; }
      else {
        toBottom();
        if (data.unread > 0 && newest) { markRead(newest); }
      }
    }, function (error) {
      if (mine !== loads) { return; }
      $more.prop("disabled", false);
      $error.text(error.message);
    });
  }

  function open(key) {
    if (chat.state.ready && !channel(key)) { key = PRACTICE; }
    active = key;
    opened = true;
    chat.state.viewing = key;
    shown = {}; oldest = null; newest = 0;
    $messages.empty();
    $more.prop("hidden", true);
    $empty.prop("hidden", true);
    $error.text("");
    describe(channel(key));
    renderList();
    loadHistory(null);
  }

  chat.onChange(function (reason) {
    renderList();
    if (reason.type === "snapshot") {
      if (!opened || !channel(active)) { open(wanted()); }
      else { describe(channel(active)); loadHistory(null); }  // after a reconnect: catch up
    }
  });

  socket.on("staff_chat.message", function (message) {
    if (message.channel !== active) { return; }
    var stick = atBottom() || message.sender_id === me;
    if (show(message) && stick) { toBottom(); }
    if (message.sender_id !== me) { markRead(message.id); }
  });

  document.addEventListener("visibilitychange", function () {
    chat.state.viewing = visible() ? active : null;
    if (visible() && newest) { markRead(newest); }
  });
  $(window).on("hashchange", function () { open(wanted()); });
  $more.on("click", function () { if (oldest) { loadHistory(oldest); } });

  function updateCount() { $count.text($body.val().length + " / " + max); }
  $body.on("input", updateCount);
  $body.on("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.originalEvent.isComposing) {
      event.preventDefault();
      $form.trigger("submit");
    }
  });
  $form.on("submit", function (event) {
    event.preventDefault();
    var text = $body.val();
    if (!text.trim()) { $error.text("Write a message first."); return; }
    if (text.length > max) { $error.text("A message holds at most " + max + " characters."); return; }
    $error.text("");
    $send.prop("disabled", true);
    chat.call("staff_chat.send", { channel: active, body: text }).then(function (message) {
      $body.val("");
      updateCount();
      if (show(message)) { toBottom(); }
    }, function (error) {
      $error.text(error.message);
    }).then(function () {
      describe(channel(active));
      $body.trigger("focus");
    });
  });

  if (chat.state.ready) { open(wanted()); }
  else { describe(null); $title.text("Loading\u2026"); }
})();
