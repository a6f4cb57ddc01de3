/* The printable consent record: the Print button. */
(function () {
  "use strict";
  var button = document.getElementById("consent-print-now");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
})();
