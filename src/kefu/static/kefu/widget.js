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
 * Nothing of the host page is read or sent; the chat runs inside the iframe, on the
 * desk's origin. The button says whether the desk is open, busy or closed (it asks
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
        frame = css(document.createElement("iframe"), { width: "100%", height: "100%", border: "0" });
        frame.title = label;
        frame.src = src.toString();
        panel.appendChild(frame);
      }
      panel.style.display = yes ? "block" : "none";
      if (yes) dot.style.display = "none";
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

    button.addEventListener("click", function () { show(!open); });
    window.addEventListener("message", function (ev) {
      if (ev.origin !== origin || !frame || ev.source !== frame.contentWindow) return;
      var what = ev.data && ev.data.kefu;
      if (what === "close") show(false);
      else if (what === "message" && !open) dot.style.display = "block";
    });

    document.body.appendChild(panel);
    document.body.appendChild(button);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
