/* A heartbeat clock for the patient page. Browsers throttle timers in background tabs
 * (down to one wake-up a minute); a dedicated worker's timers keep their pace, so a patient
 * waiting in another tab is not taken for gone. Post the interval in seconds to start. */
"use strict";
var timer = null;
self.onmessage = function (event) {
  clearInterval(timer);
  var seconds = Number(event.data) || 15;
  timer = setInterval(function () { self.postMessage("tick"); }, seconds * 1000);
};
