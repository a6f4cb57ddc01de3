/* The Session Details form: the Start Telehealth Session rule as the user edits, and repeats. */
(function () {
  "use strict";
  var form = document.getElementById("cal-form");
  if (!form) { return; }
  var contact = document.getElementById("contact_type");
  var status = document.getElementById("status");
  var start = document.getElementById("start-telehealth");
  var why = document.getElementById("telehealth-why");
  var enabled = form.dataset.telehealthEnabled === "1";
  var allowed = (form.dataset.telehealthStatuses || "").split("|");

  // The same rule the server enforces (plugins/calendar/schedule.py: telehealth_refusal).
  function refusal() {
    if (!enabled) { return "Telehealth is not enabled for this practice."; }
    if (contact.value !== "Telehealth") {
      return "The contact type is " + contact.value + ": set it to Telehealth to start a telehealth session.";
    }
    if (allowed.indexOf(status.value) < 0) {
      return "The status is " + status.value + ": set it to Confirmed, Checked-In or Occurred to start a telehealth session.";
    }
    return null;
  }
  function update() {
    var reason = refusal();
    if (start) { start.hidden = !!reason; }
    if (why) { why.hidden = !reason; why.textContent = reason || ""; }
  }
  if (contact && status && why) {
    contact.addEventListener("change", update);
    status.addEventListener("change", update);
    update();  // the fields may have changed before this script ran
  }

  var repeat = document.getElementById("recurrence");
  var repeatFields = document.getElementById("cal-repeat");
  function updateRepeat() { repeatFields.hidden = repeat.value === "none"; }
  if (repeat && repeatFields) { repeat.addEventListener("change", updateRepeat); updateRepeat(); }
})();
