/* The patient's consent page: accept (then sign, drawn or typed) or decline. */
(function () {
  "use strict";
  var form = document.getElementById("portal-consent");
  if (!form) { return; }
  var choice = document.getElementById("portal-choice");
  var sign = document.getElementById("portal-sign");
  var drawBox = document.getElementById("portal-draw");
  var typeBox = document.getElementById("portal-type");
  var drawMode = document.getElementById("sign-draw-mode");
  var typeMode = document.getElementById("sign-type-mode");
  var kind = document.getElementById("signature-kind");
  var data = document.getElementById("signature-data");
  var typed = document.getElementById("typed-name");
  var error = document.getElementById("portal-sign-error");
  var canvas = document.getElementById("signature-pad");
  var pad = null;

  function resize() {
    if (!pad) { return; }
    var ratio = Math.max(window.devicePixelRatio || 1, 1);
    var strokes = pad.isEmpty() ? null : pad.toData();
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    pad.clear();
    if (strokes) { pad.fromData(strokes); }
  }
  function mode(which) {
    kind.value = which;
    drawBox.hidden = which !== "drawn";
    typeBox.hidden = which !== "typed";
    drawMode.classList.toggle("active", which === "drawn");
    typeMode.classList.toggle("active", which === "typed");
    if (which === "drawn") { resize(); } else { typed.focus(); }
  }
  function open(on) {
    choice.hidden = on;
    sign.hidden = !on;
    if (on) { mode(kind.value); }
  }

  if (typeof SignaturePad !== "undefined" && canvas) {
    pad = new SignaturePad(canvas, { backgroundColor: "rgb(255, 255, 255)", penColor: "rgb(10, 30, 80)" });
    kind.value = "drawn";
    window.addEventListener("resize", resize);
    document.getElementById("signature-clear").addEventListener("click", function () { pad.clear(); });
  } else {
    drawMode.hidden = true;  // no signature pad: typing is the way to sign
  }
  drawMode.addEventListener("click", function () { mode("drawn"); });
  typeMode.addEventListener("click", function () { mode("typed"); });
  document.getElementById("portal-accept").addEventListener("click", function () { open(true); });
  document.getElementById("portal-back").addEventListener("click", function () { open(false); });
  open(form.dataset.open === "1");

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (!submitter || submitter.value !== "accept") { return; }
    var problem = "";
    if (kind.value === "drawn") {
      if (!pad || pad.isEmpty()) { problem = "Please sign in the box, or choose Type to type your name."; }
      else { data.value = pad.toDataURL("image/png"); }
    } else if (typed.value.trim().length < 2) {
      problem = "Please type your full name to sign.";
    }
    if (problem) {
      event.preventDefault();
      error.textContent = problem;
      error.hidden = false;
    }
  });
})();
