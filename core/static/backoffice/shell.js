/* The back-office shell: the dock, a panel beside or below the page (never over it) that
   keeps a site open across pages. Its state is kept per user in localStorage. */
(function () {
  "use strict";
  var dock = document.getElementById("bo-dock");
  if (!dock) { return; }
  var KEY = "backoffice.dock:" + (dock.dataset.user || "");
  var TAB = 34, MIN = 240;
  var root = document.documentElement;
  var frame = document.getElementById("bo-dock-frame");
  var title = dock.querySelector(".bo-dock-title");
  var toggle = document.getElementById("bo-dock-toggle");
  var placement = document.getElementById("bo-dock-placement");
  var handle = document.getElementById("bo-dock-handle");

  function save(state) {
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  function limit(state) {
    var room = state.placement === "bottom" ? window.innerHeight : window.innerWidth;
    var fallback = state.placement === "bottom" ? Math.round(room * 0.4) : Math.min(560, Math.round(room * 0.4));
    var size = Number(state.size) || fallback;
    return Math.max(MIN, Math.min(size, Math.round(room * 0.8)));
  }
  function layout(state) {
    root.classList.remove("bo-docked-side", "bo-docked-bottom");
    if (!state) { root.style.removeProperty("--bo-dock-size"); return; }
    var bottom = state.minimised || state.placement === "bottom";
    root.classList.add(bottom ? "bo-docked-bottom" : "bo-docked-side");
    root.style.setProperty("--bo-dock-size", (state.minimised ? TAB : limit(state)) + "px");
  }
  function show(state) {
    layout(state);
    if (!state) { dock.hidden = true; frame.removeAttribute("src"); delete frame.dataset.at; return; }
    dock.hidden = false;
    title.textContent = state.title;
    if (frame.dataset.at !== state.url) { frame.dataset.at = state.url; frame.setAttribute("src", state.url); }
    dock.classList.toggle("minimised", !!state.minimised);
    dock.dataset.placement = state.placement || "side";
    toggle.textContent = state.minimised ? "\u25A1" : "_";
    toggle.title = state.minimised ? "Restore" : "Minimise";
    placement.title = state.placement === "bottom" ? "Dock at the side" : "Dock at the bottom";
    placement.hidden = !!state.minimised;
  }
  function change(update) {
    var state = load(); if (!state) { return; }
    update(state); save(state); show(state);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.bo-dock-open");
    if (!link) { return; }
    event.preventDefault();
    var previous = load() || {};
    var state = {
      url: link.dataset.dockUrl || link.getAttribute("href"), title: link.dataset.dockTitle,
      minimised: false, placement: previous.placement || "side", size: previous.size,
    };
    save(state); show(state);
  });
  toggle.addEventListener("click", function () {
    change(function (state) { state.minimised = !state.minimised; });
  });
  placement.addEventListener("click", function () {
    change(function (state) {
      state.placement = state.placement === "bottom" ? "side" : "bottom";
      state.size = null;
    });
  });
  document.getElementById("bo-dock-close").addEventListener("click", function () {
    localStorage.removeItem(KEY); show(null);
  });
  // A page opened inside the dock (same origin) is where the dock reopens next time.
  frame.addEventListener("load", function () {
    var state = load(); if (!state) { return; }
    try {
      var where = frame.contentWindow.location;
      if (where.origin === window.location.origin && where.pathname !== "blank") {
        var url = where.pathname + where.search;
        frame.dataset.at = url;
        if (url !== state.url) { state.url = url; save(state); }
      }
    } catch (e) { /* another origin: keep the address it was opened with */ }
  });

  // Resizing: drag the edge (or use the arrow keys on it); the page gives way as it moves.
  function sizeAt(event, state) {
    return state.placement === "bottom" ? window.innerHeight - event.clientY : window.innerWidth - event.clientX;
  }
  handle.addEventListener("pointerdown", function (event) {
    var state = load(); if (!state || state.minimised) { return; }
    event.preventDefault();
    handle.setPointerCapture(event.pointerId);
    dock.classList.add("resizing");
    function move(e) { state.size = sizeAt(e, state); state.size = limit(state); layout(state); }
    function stop() {
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", stop);
      dock.classList.remove("resizing");
      save(state);
    }
    handle.addEventListener("pointermove", move);
    handle.addEventListener("pointerup", stop);
  });
  handle.addEventListener("keydown", function (event) {
    var grow = { ArrowLeft: 20, ArrowUp: 20, ArrowRight: -20, ArrowDown: -20 }[event.key];
    if (!grow) { return; }
    event.preventDefault();
    change(function (state) { state.size = limit(state) + grow; state.size = limit(state); });
  });
  window.addEventListener("resize", function () { var state = load(); if (state) { layout(state); } });
  window.addEventListener("storage", function (event) { if (event.key === KEY) { show(load()); } });
  show(load());
})();

/* The live session: one open page per login, session endings and idle logoff. */
(function () {
  "use strict";
  var info = document.getElementById("bo-session");
  if (!info || typeof io === "undefined") { return; }
  var overlay = document.getElementById("bo-overlay");
  var message = document.getElementById("bo-overlay-message");
  var action = document.getElementById("bo-overlay-action");
  var idle = Number(info.dataset.idle) * 1000;
  var warning = Number(info.dataset.warning) * 1000;
  var lastActivity = Date.now(), lastKeepalive = Date.now(), ended = false;

  function show(text, label, onClick, kind) {
    message.textContent = text;
    action.textContent = label;
    action.onclick = onClick;
    overlay.dataset.kind = kind;
    overlay.hidden = false;
  }
  function hide() { overlay.hidden = true; overlay.dataset.kind = ""; }
  function toLogin() { window.location.assign(info.dataset.login); }

  // A window opened under a name starting "bo-companion" (e.g. a video call beside the back
  // office) is a companion: it never takes the live tab, so it never shows "open elsewhere".
  var companion = window.name.indexOf("bo-companion") === 0;
  var socket = io("/staff", { transports: ["websocket", "polling"], auth: { companion: companion } });
  window.backofficeSocket = socket;
  socket.on("core.session_ended", function (data) {
    ended = true;
    socket.disconnect();
    show(data.message, "Sign in again", toLogin, "ended");
  });
  socket.on("core.open_elsewhere", function (data) {
    if (ended) { return; }
    show(data.message, "Use here", function () {
      socket.emit("core.use_here", {}, function (ack) { if (ack && ack.ok) { hide(); } });
    }, "elsewhere");
  });
  socket.on("connect_error", function (error) {
    if (error && /session ended|unauthorized/.test(error.message)) { window.location.reload(); }
  });

  // A plugin switched on or off (here, on another worker or from the command line): the
  // menu and the home page's panels are redrawn from the server's own rendering, and a page
  // of a plugin that is now off says so instead of failing on its next click.
  function redrawShell() {
    var home = document.querySelector(".bo-brand").getAttribute("href");
    fetch(home, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["bo-nav", "bo-dashboard"].forEach(function (id) {
          var mine = document.getElementById(id), theirs = fresh.getElementById(id);
          if (mine && theirs) { mine.replaceWith(document.importNode(theirs, true)); }
        });
        document.dispatchEvent(new CustomEvent("backoffice:shell-redrawn"));
      });
    fetch(window.location.pathname + window.location.search, { method: "HEAD", credentials: "same-origin" })
      .then(function (response) {
        var banner = document.getElementById("bo-switched-off");
        if (response.status === 404 && !banner) {
          banner = document.createElement("div");
          banner.id = "bo-switched-off";
          banner.className = "alert alert-warning";
          banner.setAttribute("role", "alert");
          banner.textContent = "This section was turned off by your practice administrator. ";
          var link = document.createElement("a");
          link.href = home;
          link.textContent = "Back to the Back Office";
          banner.appendChild(link);
          document.querySelector(".bo-content").prepend(banner);
        } else if (response.ok && banner) {
          banner.remove();
        }
      });
  }
  socket.on("core.plugin_switched", redrawShell);

  function keepalive() {
    lastKeepalive = Date.now();
    return fetch(info.dataset.keepalive, {
      method: "POST", headers: { "X-CSRFToken": info.dataset.csrf, "Accept": "application/json" },
    }).then(function (response) { if (response.status === 401) { window.location.reload(); } });
  }
  ["mousemove", "keydown", "click", "scroll", "touchstart"].forEach(function (name) {
    document.addEventListener(name, function () { lastActivity = Date.now(); }, { passive: true });
  });
  setInterval(function () {
    if (ended) { return; }
    var now = Date.now();
    // Activity on the page counts: tell the server at most once a minute.
    if (lastActivity > lastKeepalive && now - lastKeepalive > Math.min(60000, idle / 4)) {
      keepalive();
    }
    var quiet = now - Math.max(lastActivity, lastKeepalive);
    if (quiet >= idle) {
      window.location.reload();  // the server signs the idle session out and says why
    } else if (quiet >= idle - warning && overlay.dataset.kind !== "idle") {
      show("You will be signed out in " + Math.round(warning / 1000) +
        " seconds because of inactivity.", "Stay signed in",
        function () { lastActivity = Date.now(); keepalive().then(hide); }, "idle");
    }
  }, 1000);
})();
