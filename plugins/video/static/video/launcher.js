/* On every staff page: calls open in their own small window, and the back office keeps
 * working beside a running call.
 *
 * - A link to a call page (/video/entry/<id>, /video/session/<id>, e.g. the waiting room's
 *   "Open session") opens in a window of its own, so the clinician can shrink the call and
 *   keep using the back office (a plain or target="_blank" link; Ctrl/Shift/middle click
 *   keep the browser's behaviour).
 * - While a call window runs (it writes a heartbeat to localStorage), the shell's
 *   "open in another tab" overlay is not shown for it, the idle logoff counts the call as
 *   activity, and a pill leads back to the call.
 */
(function () {
  "use strict";
  if (document.getElementById("video-call")) { return; }  // the call page runs call.js
  var HEARTBEAT_KEY = "backoffice.video.call";
  var FRESH = 6000;
  var CALL_LINK = /^\/video\/(entry|session)\/(\d+)\/?$/;

  function heartbeat() {
    try {
      var beat = JSON.parse(localStorage.getItem(HEARTBEAT_KEY) || "null");
      return beat && Date.now() - beat.at < FRESH ? beat : null;
    } catch (e) { return null; }
  }

  function reach(name) {
    // The window called ``name`` if it is a call page already; never leaves a blank one.
    if (!name) { return null; }
    var win = null;
    try { win = window.open("", name); } catch (e) { return null; }
    try { if (win && win.document.getElementById("video-call")) { return win; } } catch (e) { /* elsewhere */ }
    if (win) { try { if (win.location.href === "about:blank") { win.close(); } } catch (e) { /* elsewhere */ } }
    return null;
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) { return; }
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || (link.target && link.target !== "_blank")) { return; }
    var url;
    try { url = new URL(link.href, window.location.href); } catch (e) { return; }
    var match = url.origin === window.location.origin && CALL_LINK.exec(url.pathname);
    if (!match) { return; }
    var kind = match[1], id = Number(match[2]);
    // That call already runs in a window of its own: bring it forward.
    var beat = heartbeat();
    if (beat && ((kind === "session" && beat.session === id) || (kind === "entry" && beat.entry === id))) {
      var running = reach(beat.name);
      if (running) { event.preventDefault(); running.focus(); return; }
    }
    var popup = window.open(url.href, "bo-companion-video-call-" + kind + "-" + id, "popup,width=1000,height=700");
    if (popup) { event.preventDefault(); popup.focus(); }
  });

  var pill = document.createElement("button");
  pill.type = "button";
  pill.id = "video-return-pill";
  pill.className = "btn btn-success video-return-pill";
  pill.hidden = true;
  pill.innerHTML = '<i class="fa fa-video-camera"></i> ';
  pill.appendChild(document.createTextNode("Back to the call"));
  pill.addEventListener("click", function () {
    var beat = heartbeat();
    if (!beat) { pill.hidden = true; return; }
    var running = reach(beat.name);
    if (running) { running.focus(); return; }
    window.alert("The call is open in another window. Switch to it with your taskbar or Alt+Tab.");
  });
  document.body.appendChild(pill);
  setInterval(function () { pill.hidden = !heartbeat(); }, 2000);
  pill.hidden = !heartbeat();

  setInterval(function () {
    if (heartbeat()) { document.dispatchEvent(new Event("mousemove")); }
  }, 60000);
})();
