/* A training session (模拟训练) in the workspace look.
 *
 * The composer sends through POST /api/v1/training/sessions/{id}/replies: the trainee's
 * reply comes back with its feedback (what worked, what the rules flagged, the model
 * answer) and the virtual customer's next message, both put in the thread. Like the
 * desk's composer it dispatches the cancellable `kefu:before-send` event first, so
 * quality.js coaches and holds back a reply with high findings the same way. When the
 * customer is resolved, escalates or leaves, the page reloads to show the score.
 * The knowledge base is searched with GET /api/v1/kb/search; 插入 puts an answer in the
 * composer. Everything from the server is put into the page with textContent.
 */
(function () {
  "use strict";
  var page = document.getElementById("kefu-training");
  if (!page) return;
  var sessionId = page.dataset.sessionId;
  var base = "/api/v1/training/sessions/" + encodeURIComponent(sessionId);
  var composer = document.getElementById("kefu-training-composer");
  var textarea = document.getElementById("kefu-composer-text");
  var errorBox = document.getElementById("kefu-composer-error");
  var list = document.getElementById("kefu-messages");
  var EMOTION = { calm: "平静", anxious: "焦虑", dissatisfied: "不满", angry: "愤怒" };
  var busy = false;

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw data;
        return data;
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function scrollDown() { list.scrollTop = list.scrollHeight; }

  function customerItem(t) {
    var li = el("li", "msg dir-incoming training-turn");
    li.dataset.index = t.index;
    li.dataset.role = "customer";
    li.dataset.kind = t.kind;
    var meta = el("div", "msg-meta");
    meta.appendChild(el("span", "who", page.querySelector(".thread-head h1").firstChild.textContent.trim()));
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(el("span", "badge emotion emotion-" + t.emotion,
      (EMOTION[t.emotion] || t.emotion) + " " + Number(t.emotion_score).toFixed(1)));
    if (t.kind_label) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(el("span", "badge escalation kind-" + t.kind, t.kind_label));
    }
    li.appendChild(meta);
    var bubble = el("div", "bubble");
    bubble.appendChild(el("div", "text", t.text));
    li.appendChild(bubble);
    return li;
  }

  function traineeItem(t) {
    var li = el("li", "msg dir-outgoing training-turn");
    li.dataset.index = t.index;
    li.dataset.role = "trainee";
    var meta = el("div", "msg-meta");
    meta.appendChild(el("span", "who", document.body.dataset.userName + "（学员）"));
    li.appendChild(meta);
    var bubble = el("div", "bubble");
    bubble.appendChild(el("div", "text", t.text));
    li.appendChild(bubble);
    var box = el("details", "training-feedback");
    box.open = true;
    box.appendChild(el("summary", null, "本条反馈"));
    if (t.worked.length) {
      var worked = el("p", "worked", "做得好：");
      t.worked.forEach(function (w) {
        var tag = el("span", "tag ok", w.label);
        tag.dataset.code = w.code;
        worked.appendChild(tag);
      });
      box.appendChild(worked);
    }
    if (t.ignored) {
      var ignored = el("p", "flagged", "顾客认为你没有回答他的问题");
      ignored.dataset.code = "ignored";
      box.appendChild(ignored);
    }
    if (t.findings.length) {
      var ul = el("ul", "flagged");
      t.findings.forEach(function (f) {
        var item = el("li");
        item.dataset.rule = f.rule;
        item.appendChild(el("strong", null, f.rule_label));
        item.appendChild(document.createTextNode("（" + f.severity_label + "）"));
        item.appendChild(el("q", null, f.excerpt));
        item.appendChild(document.createTextNode(" " + f.why));
        ul.appendChild(item);
      });
      box.appendChild(ul);
    } else if (!t.ignored) {
      box.appendChild(el("p", "muted", "质检规则未发现问题"));
    }
    var model = el("p", "model-answer");
    model.appendChild(el("span", "muted", "参考答案："));
    model.appendChild(document.createTextNode(t.model_answer));
    box.appendChild(model);
    li.appendChild(box);
    return li;
  }

  function showError(err) {
    if (!errorBox) return;
    if (!err) { errorBox.textContent = ""; return; }
    var fields = err.fields ? Object.keys(err.fields).map(function (k) { return err.fields[k]; }).join("；") : "";
    errorBox.textContent = (err.detail || "发送失败，请重试") + (fields ? "（" + fields + "）" : "");
  }

  function send(text) {
    busy = true;
    api("POST", base + "/replies", { text: text }).then(function (res) {
      busy = false;
      textarea.value = "";
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
      list.appendChild(traineeItem(res.feedback));
      list.appendChild(customerItem(res.customer));
      var badge = document.getElementById("kefu-training-emotion");
      if (badge) {
        badge.className = "badge emotion emotion-" + res.customer.emotion;
        badge.textContent = (EMOTION[res.customer.emotion] || "") + " " + Number(res.customer.emotion_score).toFixed(1);
      }
      showCoaching(res.coaching);
      scrollDown();
      if (res.status === "finished") window.location.reload();
    }, function (err) {
      busy = false;
      showError(err);
    });
  }

  if (composer) {
    composer.addEventListener("submit", function (e) {
      e.preventDefault();
      if (busy) return;
      showError(null);
      if (e.submitter && e.submitter.value === "end") {
        api("POST", base + "/end").then(function () { window.location.reload(); }, showError);
        return;
      }
      var text = textarea.value.trim();
      if (!text) return;
      var beforeSend = new CustomEvent("kefu:before-send", { bubbles: true, cancelable: true, detail: { text: text, confirmed: false } });
      if (!composer.dispatchEvent(beforeSend)) return;
      send(text);
    });
    textarea.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.defaultPrevented) {
        e.preventDefault();
        if (composer.requestSubmit) composer.requestSubmit(); else composer.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
  }

  // Knowledge base ---------------------------------------------------------------------
  // The search form, and the suggestions for the customer's last message (as beside the
  // workspace's composer): the same results, each answer one click from the composer.
  function showArticles(target, results, emptyText) {
    target.replaceChildren();
    if (!results.length) target.appendChild(el("li", "muted empty", emptyText));
    results.forEach(function (r) {
      var li = el("li", "kb-suggestion");
      li.appendChild(el("strong", null, r.article.title));
      var answer = r.article.answer || "";
      li.appendChild(el("div", "muted", answer));
      if (answer && textarea) {
        var btn = el("button", "link-button", "插入");
        btn.type = "button";
        btn.addEventListener("click", function () {
          textarea.value = answer;
          textarea.dispatchEvent(new Event("input", { bubbles: true }));
          textarea.focus();
        });
        li.appendChild(btn);
      }
      target.appendChild(li);
    });
  }
  function searchKb(q, limit) {
    return api("GET", "/api/v1/kb/search?limit=" + limit + "&q=" + encodeURIComponent(q.slice(0, 200)));
  }
  var kbForm = document.getElementById("kefu-training-kb-form");
  var kbResults = page.querySelector("[data-role=kb-results]");
  if (kbForm && kbResults) {
    kbForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var q = kbForm.elements.q.value.trim();
      if (!q) return;
      searchKb(q, 5).then(function (res) { showArticles(kbResults, res.results, "没有找到相关答案"); },
        function () { kbResults.replaceChildren(el("li", "muted", "搜索失败")); });
    });
  }
  var assist = document.getElementById("kefu-training-assist");
  function suggest(q) {
    var target = assist && assist.querySelector("[data-role=kb-suggestions]");
    if (!target) return;
    if (!q) { target.replaceChildren(el("li", "muted empty", "暂无推荐")); return; }
    searchKb(q, 3).then(function (res) { showArticles(target, res.results, "暂无推荐"); },
      function () { target.replaceChildren(el("li", "muted", "推荐加载失败")); });
  }
  function showCoaching(coaching) {
    if (!assist || !coaching) return;
    var signals = assist.querySelector("[data-role=emotion-signals]");
    signals.replaceChildren();
    if (!coaching.signals.length) signals.appendChild(el("li", "muted", "无明显信号"));
    coaching.signals.forEach(function (s) { signals.appendChild(el("li", null, s)); });
    var guidance = assist.querySelector("[data-role=guidance]");
    guidance.replaceChildren();
    coaching.guidance.forEach(function (g) { guidance.appendChild(el("li", null, g)); });
    suggest(coaching.kb_query);
  }
  if (assist) suggest(assist.dataset.kbQuery || "");
  scrollDown();
})();
