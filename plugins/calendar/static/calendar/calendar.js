/* The calendar page: FullCalendar (vendored) over /calendar/events. */
(function () {
  "use strict";
  var page = document.getElementById("cal-page");
  if (!page || typeof FullCalendar === "undefined") { return; }
  var picker = document.getElementById("cal-clinician");
  var icsLink = document.getElementById("cal-ics");
  var errorBox = document.getElementById("cal-error");
  var minutes = Number(page.dataset.minutes) || 50;
  var canWrite = page.dataset.canWrite === "1";

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // The widget runs in the practice's time zone without a time-zone plugin, so a Date's
  // UTC fields hold the practice's wall-clock time; the server reads offset-less times so.
  function wall(date) {
    return date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate()) +
      "T" + pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes());
  }
  function showError(text) { errorBox.textContent = text; errorBox.hidden = !text; }

  function syncControls() {
    var id = picker.value;
    icsLink.hidden = !id;
    if (id) { icsLink.href = page.dataset.ics.replace(/\/0\.ics$/, "/" + id + ".ics"); }
    var url = new URL(window.location.href);
    if (id) { url.searchParams.set("clinician_id", id); } else { url.searchParams.set("clinician_id", ""); }
    if (calendar) {
      url.searchParams.set("view", calendar.view.type);
      url.searchParams.set("date", wall(calendar.getDate()).slice(0, 10));
    }
    window.history.replaceState(null, "", url.toString());
  }

  var calendar = new FullCalendar.Calendar(document.getElementById("calendar"), {
    timeZone: page.dataset.timezone,
    initialView: page.dataset.view,
    initialDate: page.dataset.date,
    headerToolbar: { left: "prev,next today", center: "title", right: "timeGridDay,timeGridWeek,dayGridMonth" },
    // The widget's icon font is a data: URL, which the CSP (font-src 'self') refuses.
    buttonIcons: false,
    buttonText: { prev: "\u2039 Prev", next: "Next \u203A", today: "Today", day: "Day", week: "Week", month: "Month" },
    contentHeight: 680,
    allDaySlot: false,
    nowIndicator: true,
    slotDuration: "00:30:00",
    scrollTime: "07:30:00",
    selectable: canWrite,
    selectMirror: true,
    eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    events: {
      url: page.dataset.events,
      extraParams: function () { return picker.value ? { clinician_id: picker.value } : {}; },
      failure: function (error) {
        showError("The appointments could not be loaded" + (error && error.message ? ": " + error.message : "."));
      },
      success: function () { showError(""); }
    },
    select: function (info) {
      var start = info.start, end = info.end;
      if (info.allDay) {  // a day in the month view: 09:00 that day
        start = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate(), 9, 0));
        end = new Date(start.getTime() + minutes * 60000);
      } else if (end.getTime() - start.getTime() <= 30 * 60000) {  // one slot: a full session
        end = new Date(start.getTime() + minutes * 60000);
      }
      var params = new URLSearchParams({ start: wall(start), end: wall(end), view: calendar.view.type });
      if (picker.value) { params.set("clinician_id", picker.value); }
      window.location.assign(page.dataset.new + "?" + params.toString());
    },
    eventDidMount: function (info) {
      var props = info.event.extendedProps;
      var el = info.el;
      el.dataset.appointmentId = props.appointment_id;
      el.dataset.status = props.status;
      el.dataset.contactType = props.contact_type;
      if (props.occurrence) { el.dataset.occurrence = props.occurrence; }
      el.title = info.event.title + " \u2013 " + props.contact_type + ", " + props.status +
        " (" + props.clinician + ")" + (props.overlap ? " \u2013 overlaps another appointment" : "") +
        (props.recurring ? " \u2013 repeating" : "");
      var title = el.querySelector(".fc-event-title");
      if (title) {
        var badges = document.createElement("span");
        badges.className = "cal-badges";
        [[props.overlap, "fa-exclamation-triangle cal-badge-overlap", "Overlaps another appointment"],
         [props.recurring, "fa-repeat", "Repeating"],
         [props.contact_type === "Telehealth", "fa-video-camera", "Telehealth"],
         [props.contact_type === "Phone", "fa-phone", "Phone"],
         [props.contact_type === "In person", "fa-user", "In person"]].forEach(function (badge) {
          if (!badge[0]) { return; }
          var icon = document.createElement("i");
          icon.className = "fa " + badge[1];
          icon.title = badge[2];
          badges.appendChild(icon);
        });
        title.appendChild(badges);
        var sub = document.createElement("span");
        sub.className = "cal-sub";
        sub.textContent = " \u00B7 " + props.status + (picker.value ? "" : " \u00B7 " + props.clinician);
        (el.querySelector(".fc-event-time") || title).appendChild(sub);
      }
    },
    datesSet: function () { syncControls(); }
  });
  calendar.render();
  picker.addEventListener("change", function () { syncControls(); calendar.refetchEvents(); });
  syncControls();

  // Live: another user changed an appointment, or the connection came back (snapshot).
  var socket = window.backofficeSocket;
  if (socket) {
    socket.on("calendar.changed", function () { calendar.refetchEvents(); });
    socket.io.on("reconnect", function () { calendar.refetchEvents(); });
  }
  window.backofficeCalendar = calendar;
})();
