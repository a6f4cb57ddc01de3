/* Intake: keep the open count live over the page's one /staff socket. */
(function () {
  "use strict";
  var socket = window.backofficeSocket;
  var count = document.getElementById("intake-open-count");
  if (!socket || !count) { return; }
  function refresh() {
    socket.timeout(5000).emit("intake.pending", { limit: 100 }, function (err, ack) {
      if (!err && ack.ok) { count.textContent = String(ack.data.length); }
    });
  }
  socket.on("connect", refresh);  // the snapshot on every (re)connect
  socket.on("intake.requested", refresh);
  socket.on("intake.completed", refresh);
})();
