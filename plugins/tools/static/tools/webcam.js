/* Webcam Check: preview, device pickers, microphone level and plain advice. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var stream = null, meter = null;

  var devices = window.BackofficeDeviceCheck;
  function advise(text) { $("webcam-advice").textContent = text; }
  async function fill() {
    var found = await navigator.mediaDevices.enumerateDevices();
    [["videoinput", "webcam-camera"], ["audioinput", "webcam-mic"]].forEach(function (pair) {
      var select = $(pair[1]), chosen = select.value;
      select.innerHTML = "";
      found.filter(function (d) { return d.kind === pair[0]; }).forEach(function (d, i) {
        var option = new Option(d.label || (pair[0] + " " + (i + 1)), d.deviceId);
        select.add(option);
      });
      if (chosen) { select.value = chosen; }
    });
  }
  function listen(s) {
    if (meter) { meter(); }
    meter = devices.meter(s, function (level) { $("webcam-level").style.width = level + "%"; });
  }
  async function start() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    var cam = $("webcam-camera").value, mic = $("webcam-mic").value;
    var result = await devices.check({
      video: cam ? { deviceId: { exact: cam } } : true,
      audio: mic ? { deviceId: { exact: mic } } : true,
    });
    stream = result.stream;
    if (stream) {
      $("webcam-preview").srcObject = stream;
      await fill();
      listen(stream);
    }
    if (result.camera && result.microphone) {
      advise("Your camera and microphone work. Speak to see the level move.");
      document.body.dataset.webcamCheck = "ok";
    } else {
      advise(devices.explain(result.error) || "Only part of your equipment works.");
      document.body.dataset.webcamCheck = "failed";
    }
  }
  $("webcam-start").addEventListener("click", start);
  $("webcam-camera").addEventListener("change", start);
  $("webcam-mic").addEventListener("change", start);
})();
