/* A heartbeat clock for the patient page. Browsers throttle timers in background tabs
 * (down to one wake-up a minute); a dedicated worker's timers keep their pace, so a patient
 * waiting in another tab is not taken for gone. Post the interval in seconds to start.
 * Each beat comes after 85-100 % of the interval, drawn anew: pages that started together
 * (a server restart, a crowd let in at once) drift apart instead of beating as one. */
"use strict";
var timer = null;
function spread(seconds) { return seconds * 1000 * (0.85 + 0.15 * Math.random()); }
self.onmessage = function (event) {
  clearTimeout(timer);
  var seconds = Number(event.data) || 15;
  (function beat() {
    timer = setTimeout(function () { self.postMessage("tick"); beat(); }, spread(seconds));
  })();
};
