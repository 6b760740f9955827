/*
 * KefuWallboard — renders the wallboard (主管看板) from a snapshot (docs/wallboard.md).
 *
 *   KefuWallboard.render(root, snapshot, {actions: bool})   // replaces the panels' content
 *   KefuWallboard.tick(root)                                // advances waits and timers locally
 *
 * The desk page (desk.js, initWallboard) feeds it snapshots pushed over the desk socket
 * after {"type": "wallboard"}; the wall screen (/wallboard/display/<key>/) over
 * /ws/wallboard/?token=<key>, bootstrapped at the end of this file. Text goes in with
 * textContent only. Actions are buttons with data-action; desk.js handles them.
 */
(function (global) {
  "use strict";

  var doc = global.document;

  function el(tag, cls, text) {
    var e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function duration(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " 秒";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " 分 " + (s % 60) + " 秒";
    return Math.floor(m / 60) + " 小时 " + (m % 60) + " 分";
  }

  function countdown(seconds) {
    return seconds > 0 ? "剩 " + duration(seconds) : "已超时 " + duration(-seconds);
  }

  var EMOTION = { angry: "愤怒", dissatisfied: "不满", anxious: "焦虑", calm: "平静" };

  function formatValue(tile) {
    if (tile.value === null || tile.value === undefined) return "—";
    var v = Number(tile.value);
    if (tile.unit === "%") return (Math.round(v * 10) / 10) + "%";
    if (tile.unit === "s") return duration(v);
    if (tile.unit === "count") return String(Math.round(v));
    if (tile.unit === "yuan") return "¥" + v.toFixed(2);
    return (Math.round(v * 100) / 100).toString();
  }

  function tableOf(headers, rows, empty) {
    var table = el("table", "grid wb-table");
    var thead = el("thead");
    var tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    thead.appendChild(tr);
    table.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (r) { tbody.appendChild(r); });
    if (!rows.length) {
      var none = el("tr");
      var td = el("td", "empty", empty);
      td.colSpan = headers.length;
      none.appendChild(td);
      tbody.appendChild(none);
    }
    table.appendChild(tbody);
    return table;
  }

  function actionCell(row, snapshot, options) {
    var td = el("td", "wb-actions");
    if (!options.actions) return td;
    function button(action, label) {
      var b = el("button", "small", label);
      b.type = "button";
      b.dataset.action = action;
      b.dataset.conversationId = String(row.conversation_id);
      td.appendChild(b);
      return b;
    }
    button("take-over", "接管");
    var reassign = button("reassign", "改派");
    reassign.dataset.teamId = String(row.team_id || "");
    var observe = el("a", "small button-link", "旁听");
    observe.href = "/desk/wallboard/observe/" + row.conversation_id + "/";
    observe.dataset.action = "observe";
    td.appendChild(observe);
    if (row.assignee_id) button("whisper", "悄悄话");
    return td;
  }

  function conversationCells(tr, row) {
    var who = el("td", "wb-customer");
    who.appendChild(el("span", null, row.customer));
    if (row.subject) who.appendChild(el("span", "wb-subject", row.subject));
    tr.appendChild(who);
    tr.appendChild(el("td", null, row.team || "—"));
    tr.appendChild(el("td", null, row.assignee || "未分配"));
  }

  function renderKpis(box, snapshot) {
    var tiles = snapshot.kpis || [];
    box.replaceChildren();
    if (!tiles.length) { box.appendChild(el("p", "empty", "今日暂无指标数据")); return; }
    tiles.forEach(function (t) {
      var tile = el("div", "wb-tile");
      tile.dataset.metric = t.name;
      if (t.state) tile.classList.add("wb-tile-" + t.state);
      tile.appendChild(el("div", "wb-tile-label", t.label + (t.team ? " · " + t.team : "")));
      tile.appendChild(el("div", "wb-tile-value", formatValue(t)));
      var target = t.target === null || t.target === undefined ? "无目标" :
        "目标 " + (t.better === "lower" ? "≤ " : "≥ ") + formatValue({ value: t.target, unit: t.unit });
      tile.appendChild(el("div", "wb-tile-target", target + (t.count ? " · 样本 " + t.count : "")));
      box.appendChild(tile);
    });
  }

  function renderQueues(box, snapshot, options) {
    var q = snapshot.queues;
    box.replaceChildren();
    var summary = el("p", "wb-summary");
    summary.appendChild(el("strong", "wb-big", q.total));
    summary.appendChild(doc.createTextNode(" 位客户排队 · 最长等待 "));
    var longest = el("strong", "wb-wait", q.total ? duration(q.longest_wait_seconds) : "—");
    if (q.total) longest.dataset.wait = String(q.longest_wait_seconds);
    summary.appendChild(longest);
    box.appendChild(summary);
    box.appendChild(tableOf(["团队", "排队数", "最长等待"], q.teams.map(function (t) {
      var tr = el("tr");
      tr.dataset.teamId = String(t.team_id);
      if (t.waiting) tr.className = "has-waiting";
      tr.appendChild(el("td", null, t.team));
      tr.appendChild(el("td", null, t.waiting));
      var wait = el("td", "wb-wait", t.waiting ? duration(t.longest_wait_seconds) : "—");
      if (t.waiting) wait.dataset.wait = String(t.longest_wait_seconds);
      tr.appendChild(wait);
      return tr;
    }), "没有团队"));
    if (q.oldest.length) {
      box.appendChild(el("h3", null, "等待最久的客户"));
      box.appendChild(tableOf(["客户", "团队", "客服", "已等待", ""], q.oldest.map(function (row) {
        var tr = el("tr");
        tr.dataset.conversationId = String(row.conversation_id);
        conversationCells(tr, row);
        var wait = el("td", "wb-wait", duration(row.wait_seconds));
        wait.dataset.wait = String(row.wait_seconds);
        tr.appendChild(wait);
        tr.appendChild(actionCell(row, snapshot, options));
        return tr;
      }), ""));
    }
  }

  function renderAgents(box, snapshot) {
    var a = snapshot.agents;
    box.replaceChildren();
    var counts = el("p", "wb-counts");
    Object.keys(a.labels).forEach(function (status) {
      var chip = el("span", "wb-chip");
      chip.dataset.status = status;
      chip.appendChild(el("span", "status-dot status-" + status));
      chip.appendChild(doc.createTextNode(a.labels[status] + " "));
      chip.appendChild(el("strong", null, a.counts[status] || 0));
      counts.appendChild(chip);
    });
    counts.appendChild(el("span", "wb-chip", "接待 " + a.load + " / 可接待 " + a.capacity));
    box.appendChild(counts);
    box.appendChild(tableOf(["客服", "状态", "接待中/上限", "团队"], a.items.map(function (agent) {
      var tr = el("tr");
      tr.dataset.userId = String(agent.user_id);
      tr.dataset.status = agent.status;
      tr.appendChild(el("td", null, agent.name));
      var st = el("td", null, agent.status_label);
      st.insertBefore(el("span", "status-dot status-" + agent.status), st.firstChild);
      tr.appendChild(st);
      var load = el("td", agent.load >= agent.max_concurrent ? "full" : null, agent.load + "/" + agent.max_concurrent);
      tr.appendChild(load);
      tr.appendChild(el("td", null, (agent.teams || []).join("、")));
      return tr;
    }), "没有客服"));
  }

  function renderSla(box, snapshot, options) {
    box.replaceChildren(tableOf(["客户", "团队", "客服", "计时", "剩余", ""], snapshot.sla.map(function (row) {
      var tr = el("tr", "wb-sla-" + row.state);
      if (row.kind === "ticket") tr.dataset.ticketId = String(row.ticket_id);
      else tr.dataset.conversationId = String(row.conversation_id);
      tr.dataset.timer = row.timer;
      conversationCells(tr, row);
      tr.appendChild(el("td", null, row.timer_label));
      var left = el("td", "wb-countdown", countdown(row.seconds_left));
      left.dataset.left = String(row.seconds_left);
      tr.appendChild(left);
      if (row.kind === "ticket") {
        // A ticket is handled on its own page, not by a conversation's actions.
        var td = el("td", "wb-actions");
        if (options.actions) {
          var open = el("a", "small button-link", "查看工单");
          open.href = "/desk/tickets/" + row.ticket_id + "/";
          td.appendChild(open);
        }
        tr.appendChild(td);
      } else {
        tr.appendChild(actionCell(row, snapshot, options));
      }
      return tr;
    }), "没有即将超时的会话或工单"));
  }

  function renderEmotions(box, snapshot, options) {
    box.replaceChildren(tableOf(["客户", "团队", "客服", "情绪", "原因", ""], snapshot.emotions.map(function (row) {
      var tr = el("tr", row.complaint_risk ? "wb-risk" : null);
      tr.dataset.conversationId = String(row.conversation_id);
      conversationCells(tr, row);
      var mood = el("td");
      if (row.complaint_risk) mood.appendChild(el("span", "alert-level alert-level-complaint_risk", "投诉风险"));
      mood.appendChild(el("span", "badge emotion-" + row.emotion_label,
        (EMOTION[row.emotion_label] || row.emotion_label || "—") + " " + Number(row.emotion_score).toFixed(1)));
      tr.appendChild(mood);
      tr.appendChild(el("td", "wb-reason", row.reason || ""));
      tr.appendChild(actionCell(row, snapshot, options));
      return tr;
    }), "没有情绪激动或投诉风险的会话"));
  }

  function render(root, snapshot, options) {
    options = options || {};
    root._wbReceived = Date.now();
    var part = function (name) { return root.querySelector('[data-panel="' + name + '"]'); };
    if (part("kpis")) renderKpis(part("kpis"), snapshot);
    if (part("queues")) renderQueues(part("queues"), snapshot, options);
    if (part("agents")) renderAgents(part("agents"), snapshot);
    if (part("sla")) renderSla(part("sla"), snapshot, options);
    if (part("emotions")) renderEmotions(part("emotions"), snapshot, options);
    root.snapshot = snapshot;
    var at = root.querySelector("[data-generated-at]");
    if (at) {
      var d = new Date(snapshot.generated_at);
      at.textContent = isNaN(d) ? "" : "更新于 " + d.toLocaleTimeString("zh-CN", { hour12: false });
    }
  }

  function tick(root) {
    var passed = (Date.now() - (root._wbReceived || Date.now())) / 1000;
    Array.prototype.forEach.call(root.querySelectorAll("[data-wait]"), function (e) {
      e.textContent = duration(Number(e.dataset.wait) + passed);
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-left]"), function (e) {
      e.textContent = countdown(Number(e.dataset.left) - passed);
    });
  }

  global.KefuWallboard = { render: render, tick: tick, duration: duration };

  // --- the wall screen ---------------------------------------------------------------
  var display = doc.getElementById("kefu-wallboard-display");
  if (display) {
    var first = doc.getElementById("kefu-wallboard-snapshot");
    if (first) render(display, JSON.parse(first.textContent), { actions: false });
    global.setInterval(function () { tick(display); }, 1000);
    var state = doc.getElementById("kefu-live-state");
    if (global.KefuDeskSocket && global.WebSocket) {
      var proto = global.location.protocol === "https:" ? "wss:" : "ws:";
      var sock = new global.KefuDeskSocket({
        url: proto + "//" + global.location.host + "/ws/wallboard/?token=" + encodeURIComponent(display.dataset.key),
      });
      sock.on("wallboard", function (frame) { render(display, frame.snapshot, { actions: false }); });
      sock.on("open", function () { if (state) state.textContent = "● 实时"; });
      sock.on("close", function (info) { if (state) state.textContent = info.willRetry ? "○ 重新连接中…" : "○ 已断开"; });
      sock.on("unauthorized", function () {
        if (state) state.textContent = "○ 投屏令牌已吊销";
        display.classList.add("is-revoked");
      });
      sock.connect();
    }
  }
})(window);
