/* The device check shared by Tools → Webcam Check and the patient's pre-check in the
   waiting room: one way to open the camera and microphone, explain failures in plain
   words, and show the microphone level. */
(function () {
  "use strict";

  function explain(error) {
    if (!navigator.mediaDevices) { return "This page needs a secure (https) connection to use the camera."; }
    if (!error) { return ""; }
    if (error.name === "NotAllowedError") { return "Access was blocked. Allow the camera and microphone in the browser's address bar, then try again."; }
    if (error.name === "NotFoundError") { return "No camera or microphone was found. Plug one in, then try again."; }
    if (error.name === "NotReadableError") { return "Another program is using the camera. Close it, then try again."; }
    return "The camera could not start (" + (error.name || error.message) + ").";
  }

  async function open(constraints) {
    try { return { stream: await navigator.mediaDevices.getUserMedia(constraints), error: null }; }
    catch (error) { return { stream: null, error: error }; }
  }

  /* Camera and microphone together, else whichever works: {stream, camera, microphone, error}. */
  async function check(constraints) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return { stream: null, camera: false, microphone: false, error: null };
    }
    var both = await open(constraints || { video: true, audio: true });
    var stream = both.stream, problem = both.error;
    if (!stream) {
      var video = await open({ video: true }), sound = await open({ audio: true });
      stream = video.stream || sound.stream;
      if (video.stream && sound.stream) { sound.stream.getTracks().forEach(function (t) { stream.addTrack(t); }); }
      problem = video.error || sound.error;
    }
    return {
      stream: stream,
      camera: !!stream && stream.getVideoTracks().length > 0,
      microphone: !!stream && stream.getAudioTracks().length > 0,
      error: problem,
    };
  }

  /* Calls onLevel(0..100) every frame until the returned stop() is called. */
  function meter(stream, onLevel) {
    if (!stream.getAudioTracks().length) { return function () {}; }
    var context;
    try { context = new (window.AudioContext || window.webkitAudioContext)(); }
    catch (e) { return function () {}; }  // the level meter is a nicety
    var analyser = context.createAnalyser();
    context.createMediaStreamSource(stream).connect(analyser);
    var data = new Uint8Array(analyser.fftSize);
    (function tick() {
      if (context.state === "closed") { return; }
      analyser.getByteTimeDomainData(data);
      var peak = 0;
      for (var i = 0; i < data.length; i++) { peak = Math.max(peak, Math.abs(data[i] - 128)); }
      onLevel(Math.min(100, peak / 1.28));
      requestAnimationFrame(tick);
    })();
    return function () { try { context.close(); } catch (e) { /* closed */ } };
  }

  window.BackofficeDeviceCheck = { explain: explain, open: open, check: check, meter: meter };
})();
