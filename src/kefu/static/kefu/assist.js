/* The assistant panel beside the composer (understanding/_assist_panel.html).
 *
 * Shows the customer's emotion with its signals and guidance, lets the agent correct the
 * intent, and lists knowledge-base answers for the latest customer messages; "插入" puts an
 * answer into the composer for the agent to edit. It refreshes when the page dispatches
 * `kefu:customer-message` on document, and every 15 s while the tab is visible.
 * All text from the server is set with textContent, except snippet_html, which the server
 * builds from escaped text with <mark> around the matches.
 */
(function () {
  "use strict";
  var panel = document.getElementById("assist-panel");
  if (!panel) return;
  var conversationId = panel.dataset.conversation;
  var EMOTION_TEXT = {calm: "平静", anxious: "焦虑", dissatisfied: "不满", angry: "愤怒"};

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function $(role) { return panel.querySelector('[data-role="' + role + '"]'); }
  function composer() {
    return document.querySelector("[data-composer] textarea, #composer textarea, textarea[name=text]");
  }

  function renderEmotion(e) {
    var badge = $("emotion-badge");
    badge.className = "emotion-badge emotion-" + (e.label || "calm");
    badge.textContent = (EMOTION_TEXT[e.label] || "平静") + " " + Number(e.score || 0).toFixed(1);
    $("emotion-trend").textContent = e.trend_text || "";
    var outlook = $("emotion-outlook");
    outlook.textContent = e.outlook_text || "";
    outlook.className = "emotion-outlook" + (e.likely_dissatisfied ? " warn" : "");
    var signals = $("emotion-signals");
    signals.replaceChildren();
    (e.signals || []).forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = s.text;
      signals.appendChild(li);
    });
    var guidance = $("guidance");
    guidance.replaceChildren();
    (e.guidance || []).forEach(function (step) {
      var li = document.createElement("li");
      li.textContent = step;
      guidance.appendChild(li);
    });
    var select = $("intent-form").querySelector("select");
    if (e.intent && document.activeElement !== select) select.value = e.intent;
  }

  function renderSuggestions(data) {
    var list = $("kb-suggestions");
    list.replaceChildren();
    if (!data.results || !data.results.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = data.query ? "没有匹配的知识库答案" : "客户发来消息后将推荐答案";
      list.appendChild(empty);
      return;
    }
    data.results.forEach(function (r) {
      var li = document.createElement("li");
      li.className = "kb-suggestion";
      var title = document.createElement("a");
      title.href = "/desk/kb/" + r.article.id + "/";
      title.target = "_blank";
      title.textContent = r.article.title;
      var snippet = document.createElement("p");
      snippet.className = "snippet";
      snippet.innerHTML = r.snippet_html; // server-escaped text with <mark>
      var answer = document.createElement("p");
      answer.className = "answer";
      answer.textContent = r.article.answer;
      var insert = document.createElement("button");
      insert.type = "button";
      insert.className = "kb-insert";
      insert.textContent = "插入";
      insert.addEventListener("click", function () {
        var box = composer();
        if (!box) return;
        box.value = box.value ? box.value.replace(/\s*$/, "") + "\n" + r.article.answer : r.article.answer;
        box.dispatchEvent(new Event("input", {bubbles: true}));
        box.focus();
        // Remembered so the conversation's rating counts for the article (its 会话满意度).
        fetch("/api/v1/kb/articles/" + r.article.id + "/uses", {
          method: "POST",
          credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
          body: JSON.stringify({conversation_id: Number(conversationId)})
        }).catch(function () {});  // a lost count, never a broken composer
      });
      li.append(title, snippet, answer, insert);
      list.appendChild(li);
    });
  }

  function refresh() {
    fetch("/api/v1/conversations/" + conversationId + "/emotion", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (e) { if (e) renderEmotion(e); });
    fetch("/api/v1/conversations/" + conversationId + "/kb-suggestions", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) renderSuggestions(d); });
  }

  $("intent-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var value = this.querySelector("select").value;
    var result = $("intent-result");
    if (!value) { result.textContent = "请选择意图"; return; }
    fetch("/api/v1/conversations/" + conversationId + "/intent", {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify({intent: value})
    }).then(function (r) {
      result.textContent = r.ok ? "已更新，并用于改进意图识别" : "更新失败";
    });
  });
  $("kb-refresh").addEventListener("click", refresh);
  document.addEventListener("kefu:customer-message", function (ev) {
    if (!ev.detail || String(ev.detail.conversation_id) === String(conversationId)) refresh();
  });
  setInterval(function () { if (!document.hidden) refresh(); }, 15000);
  refresh();
  window.KefuAssist = {refresh: refresh};
})();
