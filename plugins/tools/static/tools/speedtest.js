/* Speed Test: latency over Socket.IO, download and upload over HTTP against this server. */
(function () {
  "use strict";
  var root = document.getElementById("speedtest");
  var $ = function (id) { return document.getElementById(id); };
  // The shell's socket: a second /staff connection would count as a second tab.
  var socket = window.backofficeSocket;

  function emit(event, data) {
    return new Promise(function (resolve, reject) {
      socket.timeout(5000).emit(event, data, function (err, ack) {
        if (err) { reject(new Error("the server did not answer")); }
        else if (!ack.ok) { reject(new Error(ack.error.message)); }
        else { resolve(ack.data); }
      });
    });
  }
  async function latency() {
    var samples = [];
    for (var i = 0; i < 5; i++) {
      var start = performance.now();
      await emit("tools.ping", { sent_at: Date.now() / 1000 });
      samples.push(performance.now() - start);
    }
    samples.sort(function (a, b) { return a - b; });
    return samples[Math.floor(samples.length / 2)];
  }
  async function download() {
    var start = performance.now();
    var response = await fetch(root.dataset.download + "?bytes=2000000", { cache: "no-store" });
    var body = await response.arrayBuffer();
    return (body.byteLength * 8) / ((performance.now() - start) / 1000) / 1e6;
  }
  async function upload() {
    var payload = new Uint8Array(1000000);
    crypto.getRandomValues(payload.subarray(0, 65536));
    var start = performance.now();
    await fetch(root.dataset.upload, {
      method: "POST", body: payload, headers: { "X-CSRFToken": root.dataset.csrf },
    });
    return (payload.byteLength * 8) / ((performance.now() - start) / 1000) / 1e6;
  }
  $("speedtest-start").addEventListener("click", async function () {
    this.disabled = true;
    $("speedtest-verdict").textContent = "Measuring...";
    try {
      var l = await latency(); $("speedtest-latency").textContent = l.toFixed(0) + " ms";
      var d = await download(); $("speedtest-download").textContent = d.toFixed(1) + " Mbps";
      var u = await upload(); $("speedtest-upload").textContent = u.toFixed(1) + " Mbps";
      var result = await emit("tools.record_speed_test", { latency_ms: l, download_mbps: d, upload_mbps: u });
      $("speedtest-verdict").textContent = result.verdict;
    } catch (e) {
      $("speedtest-verdict").textContent = "The test could not finish: " + e.message;
    }
    this.disabled = false;
  });
})();
