/* The `/` picker of the script library (话术库) in the composer.
 *
 * Type "/" then a shortcut, Chinese words or pinyin initials ("/wl", "/物流", "/wlyc");
 * Ctrl+/ opens the picker too. ↑/↓ choose, Enter or Tab inserts, Esc closes. The
 * inserted text has the conversation's variables filled by the server; variables with
 * no value stay as {变量} and are listed so the agent fills them before sending (the
 * server refuses a reply that still has one). A training session's page (#kefu-training)
 * names its own endpoints (data-scripts-url, data-script-use-url): variables are filled
 * from the case's facts there and no use is counted.
 */
(function () {
  "use strict";
  var page = document.getElementById("kefu-conversation") || document.getElementById("kefu-training");
  var box = document.querySelector("#kefu-composer-text, [data-composer] textarea");
  if (!page || !box) return;
  var conversationId = page.dataset.conversationId;
  var form = box.form || box.parentNode;

  var popup = document.createElement("div");
  popup.className = "reply-picker";
  popup.setAttribute("role", "listbox");
  popup.hidden = true;
  var note = document.createElement("p");
  note.className = "reply-missing";
  note.setAttribute("role", "status");
  note.hidden = true;
  form.appendChild(popup);
  form.appendChild(note);

  var items = [];
  var active = 0;
  var timer = null;
  var opened = false;

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function query() {
    var v = box.value;
    return v.charAt(0) === "/" ? v.slice(1) : "";
  }

  function render() {
    popup.replaceChildren();
    if (!items.length) {
      var empty = document.createElement("div");
      empty.className = "empty";
      empty.textContent = "没有匹配的话术";
      popup.appendChild(empty);
    }
    items.forEach(function (r, i) {
      var row = document.createElement("div");
      row.className = "reply-option" + (i === active ? " active" : "");
      row.setAttribute("role", "option");
      row.setAttribute("aria-selected", i === active ? "true" : "false");
      var head = document.createElement("strong");
      head.textContent = r.title;
      var meta = document.createElement("span");
      meta.className = "muted";
      meta.textContent = " " + r.scenario + (r.shortcut ? " · /" + r.shortcut : "");
      var text = document.createElement("div");
      text.className = "reply-text";
      text.textContent = r.text;
      row.append(head, meta, text);
      row.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
      popup.appendChild(row);
    });
    popup.hidden = false;
  }

  function search(q) {
    var url = page.dataset.scriptsUrl
      ? page.dataset.scriptsUrl + "?q=" + encodeURIComponent(q)
      : "/api/v1/replies?limit=8&conversation_id=" + encodeURIComponent(conversationId) + "&q=" + encodeURIComponent(q);
    fetch(url, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) { items = list; active = 0; if (opened) render(); });
  }

  function open() { opened = true; search(query()); }
  function close() { opened = false; popup.hidden = true; }

  function choose(i) {
    var r = items[i];
    if (!r) return;
    close();
    if (r.kind === "incident") {
      // An incident's approved wording is inserted as written: it is no script to count or fill.
      box.value = r.text;
      box.dispatchEvent(new Event("input", {bubbles: true}));
      box.focus();
      note.hidden = true;
      return;
    }
    var useUrl = page.dataset.scriptUseUrl
      ? page.dataset.scriptUseUrl.replace("{id}", encodeURIComponent(r.id))
      : "/api/v1/replies/" + r.id + "/use";
    fetch(useUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify(page.dataset.scriptUseUrl ? {} : {conversation_id: Number(conversationId)})
    }).then(function (res) { return res.ok ? res.json() : null; }).then(function (data) {
      if (!data) return;
      box.value = data.text;
      box.dispatchEvent(new Event("input", {bubbles: true}));
      box.focus();
      if (data.missing && data.missing.length) {
        note.textContent = "请填写变量：" + data.missing.map(function (n) { return "{" + n + "}"; }).join("、");
        note.hidden = false;
        var at = box.value.indexOf("{" + data.missing[0] + "}");
        if (at >= 0) box.setSelectionRange(at, at + data.missing[0].length + 2);
      } else {
        note.hidden = true;
      }
    });
  }

  // The pinned statement of an incident: one click puts the approved wording in the composer.
  document.querySelectorAll("[data-incident-insert]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = button.parentNode.querySelector(".incident-statement");
      if (!text) return;
      box.value = text.innerText.trim();
      box.dispatchEvent(new Event("input", {bubbles: true}));
      box.focus();
    });
  });

  box.addEventListener("input", function () {
    if (box.value.charAt(0) === "/" && box.value.indexOf("\n") < 0) {
      opened = true;
      clearTimeout(timer);
      timer = setTimeout(function () { search(query()); }, 150);
    } else if (opened) {
      close();
    }
    if (!note.hidden && !/\{[\u4e00-\u9fff]{2,6}\}/.test(box.value)) note.hidden = true;
  });
  // Late enough for a click on an option to land first; not if the agent came back to type.
  box.addEventListener("blur", function () {
    setTimeout(function () { if (document.activeElement !== box) close(); }, 150);
  });

  // Capture phase on the form: runs before the composer's own Enter-to-send handler.
  form.addEventListener("keydown", function (ev) {
    if (ev.target !== box) return;
    if (ev.key === "/" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      if (box.value.charAt(0) !== "/") box.value = "/" + box.value;
      open();
      return;
    }
    if (!opened || popup.hidden) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      ev.stopPropagation();
      if (items.length) {
        active = (active + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        render();
      }
    } else if (ev.key === "Enter" || ev.key === "Tab") {
      ev.preventDefault();
      ev.stopPropagation();
      choose(active);
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      close();
    }
  }, true);
})();
