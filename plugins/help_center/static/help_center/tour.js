/* The feature tour: steps from every plugin (GET /help/tour/steps), one page at a time,
   carried across page loads in sessionStorage; offered once on a user's first login. */
(function () {
  "use strict";
  var RUN = "bo-tour-run";
  var CHECKED = "bo-tour-checked";
  var session = document.getElementById("bo-session");
  if (!session || !window.driver || !window.driver.js) { return; }
  var csrf = session.getAttribute("data-csrf");

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = String(text);
    return div.innerHTML;
  }

  function load() {
    try { return JSON.parse(window.sessionStorage.getItem(RUN) || "null"); } catch (e) { return null; }
  }

  function save(run) { window.sessionStorage.setItem(RUN, JSON.stringify(run)); }

  function stop() { window.sessionStorage.removeItem(RUN); }

  function onPage(page) {
    var target = new URL(page, window.location.origin);
    return target.pathname === window.location.pathname && target.search === window.location.search;
  }

  function waitFor(selector, timeout, done) {
    var started = Date.now();
    (function look() {
      var found = document.querySelector(selector);
      if (found || Date.now() - started > timeout) { done(found); return; }
      window.setTimeout(look, 100);
    })();
  }

  function go(index) {
    var run = load();
    if (!run) { return; }
    var steps = run.steps;
    if (index < 0) { index = 0; }
    if (index >= steps.length) { stop(); return; }
    run.index = index;
    save(run);
    var step = steps[index];
    // A page that redirected (e.g. consent already on file) is not navigated to again.
    if (!onPage(step.page) && run.navigated !== index) {
      run.navigated = index;
      save(run);
      window.location.assign(step.page);
      return;
    }
    waitFor(step.element, 3000, function (element) {
      if (!element) {
        if (window.console) { console.warn("tour: no " + step.element + " on " + step.page); }
        go(index + 1);
        return;
      }
      show(steps, index, element);
    });
  }

  function show(steps, index, element) {
    var last = index === steps.length - 1;
    var tour = window.driver.js.driver({
      animate: false,
      allowClose: true,
      overlayClickBehavior: "close",
      onCloseClick: function () { tour.destroy(); stop(); }
    });
    tour.highlight({
      element: element,
      popover: {
        title: escapeHtml(steps[index].title),
        description: escapeHtml(steps[index].text),
        showButtons: ["next", "previous", "close"],
        disableButtons: index === 0 ? ["previous"] : [],
        showProgress: true,
        progressText: (index + 1) + " of " + steps.length,
        nextBtnText: last ? "Done" : "Next \u2192",
        prevBtnText: "\u2190 Back",
        onNextClick: function () { tour.destroy(); go(index + 1); },
        onPrevClick: function () { tour.destroy(); go(index - 1); },
        onCloseClick: function () { tour.destroy(); stop(); }
      }
    });
    document.documentElement.setAttribute("data-tour-step", String(index));
  }

  function start() {
    return fetch("/help/tour/steps", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        save({ steps: body.steps, index: 0 });
        go(0);
      });
  }

  function markOffered() {
    return fetch("/help/tour/offered", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" }
    });
  }

  function offer() {
    var box = document.createElement("div");
    box.id = "help-tour-offer";
    box.className = "alert alert-info help-tour-offer";
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", "Feature tour");
    box.innerHTML = '<strong>New here?</strong> Take a two-minute tour of the back office. ' +
      '<button type="button" class="btn btn-success btn-sm" id="help-tour-accept">Take the tour</button> ' +
      '<button type="button" class="btn btn-default btn-sm" id="help-tour-decline">Not now</button>' +
      ' <span class="text-muted small">You can start it any time from Help Center.</span>';
    // Inside the page, above its content: it covers nothing the user came to click.
    var main = document.querySelector(".bo-content") || document.body;
    main.insertBefore(box, main.firstChild);
    box.querySelector("#help-tour-accept").addEventListener("click", function () {
      box.remove();
      markOffered().then(start);
    });
    box.querySelector("#help-tour-decline").addEventListener("click", function () {
      box.remove();
      markOffered();
    });
  }

  function checkOffer() {
    if (window.sessionStorage.getItem(CHECKED)) { return; }
    fetch("/help/tour/state", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { offer: false }; })
      .then(function (body) {
        window.sessionStorage.setItem(CHECKED, "1");
        if (body.offer) { offer(); }
      })
      .catch(function () { /* no offer today; the Help Center still starts the tour */ });
  }

  Array.prototype.forEach.call(document.querySelectorAll("#help-tour-start"), function (button) {
    button.disabled = false;
    button.addEventListener("click", function () { start(); });
  });
  window.boTour = { start: start, stop: stop, go: go };
  var run = load();
  if (run) { go(run.index || 0); } else { checkOffer(); }
})();
