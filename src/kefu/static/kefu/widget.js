/*
 * kefu embeddable chat widget.
 *
 *   <script src="https://desk.example/static/kefu/widget.js" data-channel="3" async></script>
 *
 * Adds a floating 在线客服 button to the host page; clicking it opens the desk's
 * /chat?embed=1&channel=… page in an iframe. Optional attributes:
 *   data-channel   web channel id (default: the desk's first active web channel)
 *   data-position  "right" (default) or "left"
 *   data-label     button text (default 在线客服)
 *   data-page      "product" or "checkout": this page may earn a chat invitation
 *                  (or <meta name="kefu-page" content="checkout"> on the page)
 * The chat runs inside the iframe, on the desk's origin. Of the host page only a
 * product or checkout page's path (never its query string) is reported, every ten
 * seconds while the tab is visible (POST /chat/page); the desk's proactive rules decide
 * whether to show an invitation bubble (docs/proactive.md). The widget keeps the chat's
 * signed visitor token in the host page's localStorage and hands it to the chat it
 * opens, so the chat is the same visitor. The button says whether the desk is open, busy or closed (it asks
 * GET /chat/state, a public cross-origin answer, on load and every two minutes):
 * 「在线客服」 with a green dot, 「在线客服 · 排队中」, 「在线客服 · 已下班」, the full
 * sentence (when it opens, when a message left is answered) as its tooltip.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__kefuWidget) return;
  window.__kefuWidget = true;

  var base = new URL(script.src, window.location.href);
  var origin = base.origin;
  var channel = script.getAttribute("data-channel") || "";
  var side = script.getAttribute("data-position") === "left" ? "left" : "right";
  var label = script.getAttribute("data-label") || "在线客服";
  var STATE_EVERY_MS = 120000;
  var STATE_COLORS = { open: "#52c41a", busy: "#faad14", closed: "#bfbfbf" };
  var REPORT_EVERY_MS = 10000;
  var reportTimer = null;
  var TOKEN_KEY = "kefu.widget.token." + (channel || "default");
  var meta = document.querySelector('meta[name="kefu-page"]');
  var pageKind = script.getAttribute("data-page") || (meta && meta.getAttribute("content")) || "";
  if (pageKind !== "product" && pageKind !== "checkout") pageKind = "";

  function load(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function save(key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ } }

  function css(el, styles) {
    Object.keys(styles).forEach(function (k) { el.style[k] = styles[k]; });
    return el;
  }

  function mount() {
    var button = css(document.createElement("button"), {
      position: "fixed", bottom: "24px", zIndex: "2147483000", padding: "12px 18px",
      border: "0", borderRadius: "24px", background: "#1677ff", color: "#fff", cursor: "pointer",
      font: "14px/1.2 -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif",
      boxShadow: "0 4px 14px rgba(22, 119, 255, .35)"
    });
    button.style[side] = "24px";
    button.type = "button";
    button.setAttribute("aria-haspopup", "dialog");
    var lamp = css(document.createElement("span"), {
      display: "inline-block", width: "8px", height: "8px", borderRadius: "50%", marginRight: "6px",
      verticalAlign: "middle", background: STATE_COLORS.closed
    });
    var text = document.createElement("span");
    text.textContent = label;
    button.appendChild(lamp);
    button.appendChild(text);

    var dot = css(document.createElement("span"), {
      display: "none", position: "absolute", top: "4px", right: "6px", width: "9px", height: "9px",
      borderRadius: "50%", background: "#ff4d4f"
    });
    button.appendChild(dot);

    var panel = css(document.createElement("div"), {
      display: "none", position: "fixed", bottom: "84px", zIndex: "2147483000",
      width: "min(380px, calc(100vw - 32px))", height: "min(600px, calc(100vh - 110px))",
      borderRadius: "12px", overflow: "hidden", background: "#fff", boxShadow: "0 8px 30px rgba(0, 0, 0, .2)"
    });
    panel.style[side] = "16px";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", label);

    var frame = null;
    var open = false;

    function show(yes) {
      open = yes;
      if (yes && !frame) {
        // Loaded on first open: a page view costs the desk nothing until someone asks.
        var src = new URL("/chat", origin);
        src.searchParams.set("embed", "1");
        if (channel) src.searchParams.set("channel", channel);
        var kept = load(TOKEN_KEY);
        if (kept) src.searchParams.set("vt", kept);
        frame = css(document.createElement("iframe"), { width: "100%", height: "100%", border: "0" });
        frame.title = label;
        frame.src = src.toString();
        panel.appendChild(frame);
      }
      panel.style.display = yes ? "block" : "none";
      if (yes) { dot.style.display = "none"; hideInvite(); }
      button.setAttribute("aria-expanded", yes ? "true" : "false");
    }

    // The desk's state, as honest as the chat page's header: never green when nobody is there.
    function showState(d) {
      if (!d || typeof d.state !== "string") return;
      button.setAttribute("data-state", d.state);
      lamp.style.background = STATE_COLORS[d.state] || STATE_COLORS.closed;
      text.textContent = d.state === "open" ? label : label + " · " + (d.label || "");
      button.title = d.text || "";
    }

    function askState() {
      var url = new URL("/chat/state", origin);
      if (channel) url.searchParams.set("channel", channel);
      fetch(url.toString(), { credentials: "omit" })
        .then(function (resp) { return resp.ok ? resp.json() : null; })
        .then(showState)
        .catch(function () { /* the button still opens the chat */ });
    }

    askState();
    setInterval(function () { if (!document.hidden) askState(); }, STATE_EVERY_MS);

    // The invitation bubble: shown when the desk answers a page report with one.
    var invite = css(document.createElement("div"), {
      display: "none", position: "fixed", bottom: "84px", zIndex: "2147483000", maxWidth: "280px",
      padding: "12px 14px", borderRadius: "10px", background: "#fff", color: "#1f1f1f",
      font: "14px/1.5 -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif",
      boxShadow: "0 6px 24px rgba(0, 0, 0, .18)"
    });
    invite.style[side] = "24px";
    invite.setAttribute("role", "status");
    invite.className = "kefu-invite";
    var inviteText = document.createElement("p");
    css(inviteText, { margin: "0 0 8px" });
    var accept = css(document.createElement("button"), {
      border: "0", borderRadius: "14px", padding: "5px 12px", background: "#1677ff", color: "#fff", cursor: "pointer"
    });
    accept.type = "button";
    accept.textContent = "立即咨询";
    accept.className = "kefu-invite-accept";
    var dismiss = css(document.createElement("button"), {
      border: "0", background: "transparent", color: "#888", cursor: "pointer", marginLeft: "8px"
    });
    dismiss.type = "button";
    dismiss.textContent = "不用了";
    invite.appendChild(inviteText);
    invite.appendChild(accept);
    invite.appendChild(dismiss);
    var invited = false;

    function hideInvite() { invite.style.display = "none"; }
    accept.addEventListener("click", function () { hideInvite(); show(true); });
    dismiss.addEventListener("click", hideInvite);

    function scheduleReport(ms) {
      clearTimeout(reportTimer);
      reportTimer = setTimeout(report, ms);
    }

    function report() {
      if (!pageKind || invited) return;
      if (open || document.hidden) { scheduleReport(REPORT_EVERY_MS); return; }
      var body = { url: window.location.pathname, page_kind: pageKind, token: load(TOKEN_KEY) || "" };
      if (channel) body.channel = parseInt(channel, 10);
      // text/plain keeps the cross-origin POST "simple": no preflight on every report.
      fetch(new URL("/chat/page", origin).toString(), {
        method: "POST", credentials: "omit", headers: { "Content-Type": "text/plain" }, body: JSON.stringify(body)
      })
        .then(function (resp) { return resp.ok ? resp.json() : null; })
        .then(function (d) {
          // The desk says when to ask again: sooner when an invitation is about to be due.
          var next = d && typeof d.next_report === "number" ? d.next_report * 1000 : REPORT_EVERY_MS;
          scheduleReport(Math.max(1000, Math.min(next, 60000)));
          if (!d) return;
          if (typeof d.token === "string" && d.token) save(TOKEN_KEY, d.token);
          if (d.invite && d.invite.text && !open && !invited) {
            invited = true;
            inviteText.textContent = d.invite.text;
            invite.style.display = "block";
          }
        })
        .catch(function () { scheduleReport(REPORT_EVERY_MS); /* an invitation is a courtesy, never an error */ });
    }

    if (pageKind) report();

    button.addEventListener("click", function () { show(!open); });
    window.addEventListener("message", function (ev) {
      if (ev.origin !== origin || !frame || ev.source !== frame.contentWindow) return;
      var what = ev.data && ev.data.kefu;
      if (what === "close") show(false);
      else if (what === "message" && !open) dot.style.display = "block";
    });

    document.body.appendChild(panel);
    document.body.appendChild(invite);
    document.body.appendChild(button);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
