/* The bot's suggested answer beside the composer (bot/_suggestion.html).
 *
 * Asks the server for the bot's answer to the customer's latest question (ranked by the
 * bot's own answer score, shown as 匹配度); 采用 puts it in
 * the composer as is, 编辑 puts it there and focuses it for changes, 忽略 hides it. Each
 * choice is recorded (POST …/bot-suggestion) and moves the article in later suggestions.
 * Refreshes when the page dispatches `kefu:customer-message`.
 */
(function () {
  "use strict";
  var box = document.getElementById("bot-suggestion");
  if (!box) return;
  var conversationId = box.dataset.conversation;
  var url = "/api/v1/conversations/" + conversationId + "/bot-suggestion";
  var current = null;

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function $(role) { return box.querySelector('[data-role="' + role + '"]'); }
  function composer() { return document.getElementById("kefu-composer-text"); }

  function render(data) {
    current = data && data.suggestion ? { message_id: data.message_id, s: data.suggestion } : null;
    if (!current) { box.hidden = true; return; }
    $("bot-suggestion-title").textContent = current.s.title;
    $("bot-suggestion-text").textContent = current.s.text;
    $("bot-suggestion-score").textContent = "匹配度 " + Math.round(current.s.score * 100) + "%";
    $("bot-suggestion-result").textContent = "";
    box.hidden = false;
  }

  function refresh() {
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(render)
      .catch(function () {});
  }

  function record(action) {
    if (!current) return;
    var chosen = current;
    if (action !== "ignore") {
      var text = composer();
      if (text && !text.disabled) {
        text.value = chosen.s.text;
        text.focus();
        if (action === "edit") text.setSelectionRange(text.value.length, text.value.length);
        text.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ message_id: chosen.message_id, article_id: chosen.s.article_id, action: action })
    }).then(function (r) {
      $("bot-suggestion-result").textContent = r.ok ? { accept: "已采用", edit: "已放入输入框，可修改后发送", ignore: "已忽略" }[action] : "记录失败";
      if (r.ok && action === "ignore") box.hidden = true;
    });
  }

  box.addEventListener("click", function (ev) {
    var action = ev.target && ev.target.getAttribute("data-action");
    if (action) record(action);
  });
  document.addEventListener("kefu:customer-message", function (ev) {
    if (!ev.detail || String(ev.detail.conversation_id) === String(conversationId)) refresh();
  });
  refresh();
})();
