/* Staff Chat on every staff page: the unread counts, and a badge next to "Messages".
 *
 * Uses the shell's /staff socket (window.backofficeSocket). On every (re)connect it fetches
 * a snapshot of the user's channels, then applies pushed messages that are newer than the
 * snapshot (messages carry increasing ids, so nothing is counted twice). The Messages page
 * (chat.js) reads the same state through window.staffChat.
 */
(function () {
  "use strict";
  var socket = window.backofficeSocket;
  if (!socket) { return; }
  var link = document.querySelector('#bo-nav a[data-menu="Messages"]');
  if (!link && !document.getElementById("staff-chat")) { return; }

  var badge = null;
  if (link) {
    badge = document.createElement("span");
    badge.className = "badge staff-chat-badge";
    badge.id = "staff-chat-badge";
    badge.hidden = true;
    link.appendChild(badge);
  }

  // viewing: the channel the Messages page shows, if any.
  var state = { ready: false, me: null, channels: {}, order: [], viewing: null };
  var pending = [];
  var generation = 0;  // only the latest snapshot request counts
  var listeners = [];

  function total() {
    return state.order.reduce(function (sum, key) { return sum + state.channels[key].unread; }, 0);
  }
  function changed(reason) {
    var count = total();
    if (badge) {
      badge.textContent = count > 99 ? "99+" : String(count);
      badge.hidden = count === 0;
      badge.title = count === 1 ? "1 unread message" : count + " unread messages";
      badge.dataset.unread = String(count);
    }
    listeners.forEach(function (listener) { listener(reason || {}); });
  }

  function call(event, data) {
    return new Promise(function (resolve, reject) {
      socket.timeout(8000).emit(event, data, function (err, ack) {
        if (err) { reject(new Error("The server did not answer. Check your connection.")); }
        else if (!ack || !ack.ok) {
          var error = new Error(ack && ack.error ? ack.error.message : "Something went wrong.");
          error.code = ack && ack.error ? ack.error.code : "unknown";
          reject(error);
        } else { resolve(ack.data); }
      });
    });
  }

  function applyMessage(message, fromSnapshot) {
    var channel = state.channels[message.channel];
    if (!channel) {  // a conversation the snapshot did not know yet (e.g. a new colleague)
      if (!fromSnapshot) { refresh(); }
      return;
    }
    var newest = channel.last_message ? channel.last_message.id : 0;
    if (message.id <= newest) { return; }  // already part of the snapshot
    channel.last_message = message;
    var reading = state.viewing === message.channel && document.visibilityState === "visible";
    if (message.sender_id !== state.me.id && message.id > channel.last_read_id && !reading) {
      channel.unread += 1;  // the open Messages page marks what it shows as read itself
    }
    changed({ type: "message", message: message });
  }

  function refresh() {
    state.ready = false;  // messages pushed meanwhile wait for the snapshot, then apply
    var mine = ++generation;
    return call("staff_chat.channels", {}).then(function (data) {
      if (mine !== generation) { return; }
      state.me = data.me;
      state.channels = {};
      state.order = data.channels.map(function (channel) {
        state.channels[channel.key] = channel;
        return channel.key;
      });
      state.ready = true;
      var early = pending; pending = [];
      early.forEach(function (message) { applyMessage(message, true); });
      changed({ type: "snapshot" });
    }, function () {
      if (mine !== generation) { return; }
      // e.g. the plugin was switched off: show no stale count
      state.order = []; state.channels = {}; pending = [];
      changed({ type: "unavailable" });
    });
  }

  socket.on("staff_chat.message", function (message) {
    if (!state.ready) { pending.push(message); return; }
    applyMessage(message, false);
  });
  socket.on("staff_chat.read", function (read) {
    var channel = state.channels[read.channel];
    if (!channel || read.last_read_id < channel.last_read_id) { return; }
    channel.last_read_id = read.last_read_id;
    channel.unread = read.unread;
    changed({ type: "read", channel: read.channel });
  });
  socket.on("core.plugin_switched", function (data) {
    if (data && data.name === "staff_chat") { refresh(); }
  });
  socket.on("connect", refresh);
  socket.on("core.resync", refresh);
  if (socket.connected) { refresh(); }

  window.staffChat = {
    state: state,
    call: call,
    refresh: refresh,
    total: total,
    onChange: function (listener) { listeners.push(listener); },
  };
})();
