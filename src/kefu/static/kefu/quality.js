/* Reply-quality hints under the composer (质检提示).
 *
 * While the agent types, the draft is checked (debounced, ~400 ms) by
 * POST /api/v1/conversations/{id}/reply-check (a training session's page names its own
 * endpoint in data-reply-check-url) and the findings are listed under the
 * composer with why + suggestion; "一键改写" splices a finding's replacement into the
 * draft. Before a reply is sent, the page's composer dispatches a cancellable
 * `kefu:before-send` event (detail: {text}); when the draft has a high-severity finding
 * this script cancels it and asks in a dialog, then sends again if the agent confirms
 * (marking the event's detail.confirmed, so the composer sends confirm_findings: the
 * server refuses such a reply without it). When the server refuses a reply anyway
 * (`kefu:findings-unconfirmed`, e.g. the check here had not answered), the same dialog
 * asks with the server's findings.
 * Internal notes are never checked or held back.
 *
 * Everything from the server is put into the page with textContent.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 400;

  var page = document.querySelector("main[data-reply-check-url]")
    || document.querySelector("#kefu-conversation[data-conversation-id]")
    || document.querySelector("main[data-conversation-id]")
    || document.getElementById("assist-panel");
  if (!page) return;
  var conversationId = page.dataset.conversationId || page.dataset.conversation;
  var checkUrl = page.dataset.replyCheckUrl
    || (conversationId ? "/api/v1/conversations/" + encodeURIComponent(conversationId) + "/reply-check" : null);
  if (!checkUrl) return;
  var textarea = document.querySelector("[data-composer] textarea")
    || page.querySelector("textarea[name=text]")
    || document.querySelector("#kefu-conversation textarea[name=text]");
  if (!textarea) return;
  var form = textarea.form || textarea.closest("form");
  var noteToggle = document.getElementById("kefu-note-toggle");

  var SEVERITY_TEXT = { high: "严重", medium: "注意", low: "提示" };

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function isNote() { return !!(noteToggle && noteToggle.checked); }

  // --- the hint box -----------------------------------------------------------------

  if (!document.getElementById("kefu-quality-style")) {
    var style = document.createElement("style");
    style.id = "kefu-quality-style";
    style.textContent = [
      ".quality-hints{margin:6px 0 0;max-height:30vh;overflow:auto}",
      ".quality-findings{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}",
      ".quality-findings .finding{border-left:3px solid var(--muted,#999);padding:4px 8px;background:var(--panel,#fff);font-size:13px}",
      ".quality-findings .severity-high{border-left-color:var(--danger,#c62828)}",
      ".quality-findings .severity-medium{border-left-color:var(--warn,#b26a00)}",
      ".quality-findings .badge.severity-high{color:var(--danger,#c62828)}",
      ".quality-findings .rewrite{margin-top:2px}",
      ".quality-confirm{max-width:560px}",
      ".quality-confirm .dialog-actions{display:flex;gap:8px;justify-content:flex-end;margin-top:12px}"
    ].join("\n");
    document.head.appendChild(style);
  }

  var box = document.createElement("section");
  box.className = "quality-hints";
  box.id = "kefu-quality-hints";
  box.setAttribute("aria-label", "回复质检提示");
  box.setAttribute("aria-live", "polite");
  box.hidden = true;
  var list = document.createElement("ul");
  list.className = "quality-findings";
  box.appendChild(list);
  (form || textarea).insertAdjacentElement("afterend", box);

  // --- checking -----------------------------------------------------------------------

  var seq = 0;
  var last = { text: null, findings: [] };   // the newest answered check
  var pending = null;                          // {text, promise} of a check in flight

  function check(text) {
    if (pending && pending.text === text) return pending.promise;
    var mine = ++seq;
    var promise = fetch(checkUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ text: text })
    }).then(function (r) {
      if (!r.ok) throw new Error("reply-check " + r.status);
      return r.json();
    }).then(function (res) {
      var findings = (res && res.findings) || [];
      if (mine === seq) {
        last = { text: text, findings: findings };
        render();
      }
      return findings;
    });
    pending = { text: text, promise: promise };
    var clear = function () { if (pending && pending.promise === promise) pending = null; };
    promise.then(clear, clear);
    return promise;
  }

  var timer = null;
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var text = textarea.value;
      if (isNote() || !text.trim()) { last = { text: text, findings: [] }; render(); return; }
      if (text === last.text) return;
      check(text).catch(function () { /* hints are advice: a failed check shows nothing */ });
    }, DEBOUNCE_MS);
  }
  textarea.addEventListener("input", schedule);
  if (noteToggle) noteToggle.addEventListener("change", schedule);
  // Text typed while the page was still loading (before this deferred script ran) is
  // checked too: its input events came before the listener.
  if (textarea.value.trim()) schedule();

  // Offsets from the server count code points; JS strings count UTF-16 units.
  function splice(text, f) {
    var chars = Array.from(text);
    if (chars.slice(f.start, f.end).join("") !== f.excerpt) return null;
    return chars.slice(0, f.start).join("") + f.replacement + chars.slice(f.end).join("");
  }

  function applyFinding(f) {
    var fixed = textarea.value === last.text ? splice(textarea.value, f) : null;
    if (fixed === null) { schedule(); return; }
    textarea.value = fixed;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function findingItem(f, withButton) {
    var li = el("li", "finding severity-" + f.severity);
    li.dataset.rule = f.rule;
    var head = el("div", "finding-head");
    head.appendChild(el("span", "badge severity-" + f.severity, SEVERITY_TEXT[f.severity] || f.severity));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(el("strong", null, f.rule_label || f.rule));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(el("q", "excerpt", f.excerpt));
    li.appendChild(head);
    li.appendChild(el("div", "why", f.why));
    if (f.suggestion) li.appendChild(el("div", "suggestion muted", "建议：" + f.suggestion));
    if (withButton && f.replacement !== null && f.replacement !== undefined) {
      var btn = el("button", "link-button rewrite", "一键改写");
      btn.type = "button";
      btn.title = f.replacement ? "改为：" + f.replacement : "删除这段文字";
      btn.addEventListener("click", function () { applyFinding(f); });
      li.appendChild(btn);
    }
    return li;
  }

  function render() {
    var findings = textarea.value === last.text && !isNote() ? last.findings : [];
    list.replaceChildren.apply(list, findings.map(function (f) { return findingItem(f, true); }));
    box.hidden = findings.length === 0;
  }

  // --- holding back a risky reply --------------------------------------------------------

  var dialog = null;
  function confirmSend(findings) {
    var high = findings.filter(function (f) { return f.severity === "high"; });
    if (typeof HTMLDialogElement === "undefined") {
      return Promise.resolve(window.confirm("回复中有 " + high.length + " 处严重问题，仍要发送吗？"));
    }
    if (!dialog) {
      dialog = el("dialog", "quality-confirm");
      dialog.id = "kefu-quality-confirm";
      dialog.setAttribute("aria-labelledby", "kefu-quality-confirm-title");
      document.body.appendChild(dialog);
    }
    var title = el("h2", null, "回复中有 " + high.length + " 处严重问题");
    title.id = "kefu-quality-confirm-title";
    var items = el("ul", "quality-findings");
    high.forEach(function (f) { items.appendChild(findingItem(f, false)); });
    var bar = el("div", "dialog-actions");
    var back = el("button", "primary", "返回修改");
    back.type = "button";
    back.value = "back";
    var send = el("button", "danger", "仍然发送");
    send.type = "button";
    send.value = "send";
    bar.appendChild(back);
    bar.appendChild(send);
    dialog.replaceChildren(title, items, bar);
    return new Promise(function (resolve) {
      var done = function (ok) {
        back.onclick = send.onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(ok);
      };
      back.onclick = function () { done(false); };
      send.onclick = function () { done(true); };
      // Esc. The close event is dispatched asynchronously: one left over from the previous
      // prompt can arrive after this prompt opened — the dialog is open then, so ignore it.
      dialog.onclose = function () { if (!dialog.open) done(false); };
      dialog.showModal();
      back.focus();
    });
  }

  // A draft let through on its second submit: {text, confirmed} — confirmed when the
  // agent chose to send it despite high findings (not when the check merely failed).
  var approved = null;

  function resend(text, confirmed) {
    approved = { text: text, confirmed: confirmed };
    if (form && form.requestSubmit) form.requestSubmit();
  }

  function hasHigh(findings) {
    return findings.some(function (f) { return f.severity === "high"; });
  }

  document.addEventListener("kefu:before-send", function (e) {
    if (isNote()) return;
    var text = (e.detail && typeof e.detail.text === "string") ? e.detail.text : textarea.value.trim();
    // desk.js empties the composer right after an allowed send: drop the old hints then.
    var sent = function () { setTimeout(render, 0); };
    if (approved !== null && approved.text === text) {
      if (e.detail) e.detail.confirmed = approved.confirmed;
      approved = null;
      sent();
      return;
    }
    approved = null;
    var known = last.text !== null && last.text.trim() === text ? last.findings : null;
    if (known && !hasHigh(known)) { sent(); return; }
    e.preventDefault();
    var ready = known ? Promise.resolve(known) : check(textarea.value);
    ready.then(function (findings) {
      if (!hasHigh(findings)) { resend(text, false); return null; }
      return confirmSend(findings).then(function (ok) {
        if (ok) { resend(text, true); } else { textarea.focus(); }
      });
    }, function () {
      resend(text, false);  // the check failed here: the server checks again when it is sent
    });
  });

  document.addEventListener("kefu:findings-unconfirmed", function (e) {
    var d = e.detail || {};
    if (!hasHigh(d.findings || [])) return;
    e.preventDefault();
    confirmSend(d.findings).then(function (ok) {
      if (ok) { d.send(); } else { d.back(); }
    });
  });
})();
