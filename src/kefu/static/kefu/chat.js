/*
 * kefu customer web chat (the /chat page, also inside the widget.js iframe).
 * Protocol: docs/architecture.md, "Customer chat websocket".
 *
 * - The signed visitor token is kept in localStorage, per channel; a token kept for
 *   another channel is exchanged (POST /chat/token) so the visitor stays the same.
 * - Every message gets a client_msg_id and waits in localStorage until the server
 *   acks it; after a reconnect the client resumes from the last id it saw and resends
 *   what was never acked (the server stores each client_msg_id once).
 * - Messages are de-duplicated by id; all customer and agent text is rendered with
 *   textContent, never as HTML.
 * - When the conversation is resolved the server asks for a rating (a status frame
 *   with rating_requested); the stars (and, where the channel asks it, the 0–10
 *   recommendation score) post to /chat/rate with the visitor token.
 * - The header says whether the desk is open, busy or closed (a "desk" frame after each
 *   resume, asked again every minute); when it is busy or closed the visitor may leave
 *   a message (留言) with a phone or email: POST /chat/leave-message makes it a ticket.
 */
(function () {
  "use strict";

  var root = document.getElementById("kefu-chat");
  if (!root) return;

  var channelId = root.getAttribute("data-channel");
  var TOKEN_KEY = "kefu.chat.token." + channelId;
  var ANY_TOKEN_KEY = "kefu.chat.token";
  var PENDING_KEY = "kefu.chat.pending." + channelId;
  var TYPING_EVERY_MS = 3000;
  var AGENT_TYPING_SHOWN_MS = 5000;
  var MAX_BACKOFF_MS = 30000;
  var RESTART_TEXT = "服务器维护中，正在重新连接…";
  var DEGRADED_TEXT = "实时连接中断，正在重连…";
  var UNAVAILABLE_TEXT = "服务暂时不可用，消息将自动重发…";
  var DESK_EVERY_MS = 60000;

  function $(role) { return root.querySelector('[data-role="' + role + '"]'); }
  var els = {
    conn: $("conn"), list: $("messages"), typing: $("typing"), notice: $("notice"),
    form: $("composer"), text: $("text"), image: $("image"), send: $("send"), close: $("close"),
    rating: $("rating"), stars: $("stars"), ratingComment: $("rating-comment"),
    nps: $("nps"), ratingError: $("rating-error"), ratingSubmit: $("rating-submit"), ratingThanks: $("rating-thanks"),
    deskBadge: $("desk-badge"), desk: $("desk"), deskText: $("desk-text"), leaveOpen: $("leave-open"),
    leave: $("leave"), leaveBy: $("leave-by"), leaveSubmit: $("leave-submit"), leaveCancel: $("leave-cancel"),
    leaveDone: $("leave-done")
  };

  var token = null;
  var ws = null;
  var attempt = 0;
  var restartHintMs = null;                        // from a "reconnect" frame (server restart)
  var restarting = false;                          // closed with 1012 and not yet back online
  var degraded = false;                            // the server's realtime layer is down
  var retryTimer = null;                           // resend after an "unavailable" refusal
  var reconnectTimer = null;
  var stopped = false;
  var lastId = 0;            // highest message id seen
  var byId = {};             // message id -> <li>
  var byClientId = {};       // client_msg_id -> <li> (own messages)
  var pending = loadPending();
  var agentReadId = 0;       // the agent has read up to here
  var readSentId = 0;
  var lastTypingAt = 0;
  var typingTimer = null;
  var ratingScore = 0;       // stars chosen in the rating widget (0 = none yet)
  var npsScore = null;       // the recommendation score chosen (null = skipped)
  var ratingBusy = false;
  var leaveBusy = false;
  var leaveClientId = null;  // kept across retries of one 留言, so a resend is stored once
  var deskTimer = null;

  // --- storage (private browsing may refuse it: then the chat still works) -------

  function load(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function save(key, value) {
    try {
      if (value === null) window.localStorage.removeItem(key); else window.localStorage.setItem(key, value);
    } catch (e) { /* not persisted */ }
  }
  function loadPending() {
    try {
      var list = JSON.parse(load(PENDING_KEY) || "[]");
      return Array.isArray(list) ? list.filter(function (p) { return p && typeof p.client_msg_id === "string"; }) : [];
    } catch (e) { return []; }
  }
  function savePending() { save(PENDING_KEY, pending.length ? JSON.stringify(pending) : null); }
  function dropPending(clientMsgId) {
    pending = pending.filter(function (p) { return p.client_msg_id !== clientMsgId; });
    savePending();
  }

  function newClientMsgId() {
    var rnd = (window.crypto && window.crypto.getRandomValues)
      ? Array.prototype.map.call(window.crypto.getRandomValues(new Uint32Array(2)), function (n) { return n.toString(36); }).join("")
      : Math.random().toString(36).slice(2);
    return "w" + Date.now().toString(36) + rnd;
  }

  // --- rendering -----------------------------------------------------------------

  function setConn(state, text) {
    els.conn.setAttribute("data-state", state);
    els.conn.textContent = text;
  }

  function notice(text) {
    if (!text) { els.notice.hidden = true; els.notice.textContent = ""; return; }
    els.notice.textContent = text;
    els.notice.hidden = false;
  }

  function safeUrl(url) {
    return typeof url === "string" && (/^\/(?!\/)/.test(url) || /^https?:\/\//i.test(url)) ? url : null;
  }

  function bubbleInto(li, m) {
    var bubble = li.querySelector(".kefu-msg__bubble");
    bubble.textContent = "";
    var src = safeUrl(m.image_url);
    if (src) {
      var img = document.createElement("img");
      img.src = src;
      img.alt = "图片";
      img.loading = "lazy";
      bubble.appendChild(img);
    }
    if (m.text) {
      var p = document.createElement("div");
      p.textContent = m.text;
      bubble.appendChild(p);
    }
    // The bot's buttons: pressing one sends its text as the customer's message.
    if (m.choices && m.choices.length) {
      var row = document.createElement("div");
      row.className = "kefu-msg__choices";
      m.choices.forEach(function (c) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "kefu-choice";
        b.textContent = c;
        b.addEventListener("click", function () { sendChoice(c); });
        row.appendChild(b);
      });
      bubble.appendChild(row);
    }
  }

  function makeLi(m) {
    var li = document.createElement("li");
    var own = m.direction === "incoming";
    li.className = "kefu-msg kefu-msg--" + (m.kind === "auto" ? "auto" : own ? "incoming" : "outgoing");
    if (!own && m.kind !== "auto") {
      var who = document.createElement("div");
      who.className = "kefu-msg__who";
      who.textContent = m.sender_name || "客服";
      li.appendChild(who);
    }
    var bubble = document.createElement("div");
    bubble.className = "kefu-msg__bubble";
    li.appendChild(bubble);
    if (own) {
      var st = document.createElement("div");
      st.className = "kefu-msg__state";
      li.appendChild(st);
    }
    bubbleInto(li, m);
    return li;
  }

  function setOwnState(li, text, cls) {
    var st = li.querySelector(".kefu-msg__state");
    if (st) st.textContent = text;
    li.classList.remove("kefu-msg--pending", "kefu-msg--failed");
    if (cls) li.classList.add(cls);
  }

  function refreshOwnState(li) {
    var id = Number(li.getAttribute("data-id") || 0);
    if (id) setOwnState(li, id <= agentReadId ? "已读" : "已送达", null);
  }

  function nearBottom() {
    var l = els.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 80;
  }
  function scrollDown() { els.list.scrollTop = els.list.scrollHeight; }

  // Stored messages go in id order, before the ones still waiting for an ack.
  function insertStored(li, id) {
    var children = els.list.children;
    for (var i = 0; i < children.length; i++) {
      var c = children[i];
      var cid = Number(c.getAttribute("data-id") || 0);
      if ((cid && cid > id) || c.classList.contains("kefu-msg--pending") || c.classList.contains("kefu-msg--failed")) {
        els.list.insertBefore(li, c);
        return;
      }
    }
    els.list.appendChild(li);
  }

  function showMessage(m) {
    if (!m || typeof m.id !== "number") return;
    var stick = nearBottom();
    if (byId[m.id]) return;                       // de-duplicate: history, ack and event may overlap
    var li = m.client_msg_id ? byClientId[m.client_msg_id] : null;
    if (li) {
      bubbleInto(li, m);
      if (li.parentNode) li.parentNode.removeChild(li);
    } else {
      li = makeLi(m);
      if (m.client_msg_id) byClientId[m.client_msg_id] = li;
    }
    li.setAttribute("data-id", String(m.id));
    byId[m.id] = li;
    insertStored(li, m.id);
    if (m.direction === "incoming") {
      if (m.client_msg_id) dropPending(m.client_msg_id);
      refreshOwnState(li);
    } else {
      hideAgentTyping();
      tellParent("message");
    }
    if (m.id > lastId) lastId = m.id;
    if (stick || m.direction === "incoming") scrollDown();
    sendRead();
  }

  function showPending(p) {
    var li = byClientId[p.client_msg_id];
    if (!li) {
      li = makeLi({ direction: "incoming", kind: p.image ? "image" : "text", text: p.text });
      byClientId[p.client_msg_id] = li;
      els.list.appendChild(li);
    }
    setOwnState(li, p.image ? "图片上传中…" : "发送中…", "kefu-msg--pending");
    scrollDown();
    return li;
  }

  function showFailed(clientMsgId, detail) {
    dropPending(clientMsgId);
    var li = byClientId[clientMsgId];
    if (li && !li.getAttribute("data-id")) setOwnState(li, "发送失败：" + detail, "kefu-msg--failed");
    else notice(detail);
  }

  function showStatus(status, ratingRequested) {
    if (status !== "resolved" && status !== "closed") { hideRating(); return; }
    // A resume after a reconnect repeats the invitation: say "ended" once.
    var last = els.list.lastElementChild;
    if (!last || !last.classList.contains("kefu-msg--status")) {
      var li = document.createElement("li");
      li.className = "kefu-msg--status";
      li.textContent = "本次会话已结束，如还需要帮助，请直接留言。";
      els.list.appendChild(li);
    }
    if (ratingRequested) showRating();
    scrollDown();
  }

  // --- rating (CSAT) -------------------------------------------------------------

  function setStars(score) {
    ratingScore = score;
    Array.prototype.forEach.call(els.stars.querySelectorAll("[data-score]"), function (b) {
      var on = Number(b.getAttribute("data-score")) <= score;
      b.classList.toggle("is-on", on);
      b.setAttribute("aria-checked", Number(b.getAttribute("data-score")) === score ? "true" : "false");
    });
    els.ratingSubmit.disabled = ratingBusy || score < 1;
  }

  function setNps(score) {
    npsScore = score;
    if (!els.nps) return;
    Array.prototype.forEach.call(els.nps.querySelectorAll("[data-nps]"), function (b) {
      var on = Number(b.getAttribute("data-nps")) === score;
      b.classList.toggle("is-on", on);
      b.setAttribute("aria-checked", on ? "true" : "false");
    });
  }

  function ratingErrorText(text) {
    els.ratingError.textContent = text || "";
    els.ratingError.hidden = !text;
  }

  function showRating() {
    if (!els.rating || !els.rating.hidden || !els.ratingThanks.hidden) return;
    if (root.getAttribute("data-survey") === "0") return;  // surveys are off on this channel
    setStars(0);
    setNps(null);
    els.ratingComment.value = "";
    ratingErrorText(null);
    els.rating.hidden = false;
  }

  function hideRating() {
    if (!els.rating) return;
    els.rating.hidden = true;
    els.ratingThanks.hidden = true;
  }

  function showRatingThanks() {
    if (!els.rating) return;
    els.rating.hidden = true;
    els.ratingThanks.hidden = false;
  }

  function ratingBody() {
    var body = { token: token, score: ratingScore, comment: els.ratingComment.value.trim() };
    if (npsScore !== null) body.nps = npsScore;
    return body;
  }

  function submitRating() {
    if (ratingBusy || ratingScore < 1 || !token) return;
    ratingBusy = true;
    els.ratingSubmit.disabled = true;
    ratingErrorText(null);
    fetch(root.getAttribute("data-rate-url"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(ratingBody()),
      credentials: "omit"
    })
      .then(function (resp) {
        return resp.json().then(function (data) { return { ok: resp.ok, status: resp.status, data: data }; });
      })
      .then(function (res) {
        ratingBusy = false;
        if (res.ok) { showRatingThanks(); return; }
        if (res.data && res.data.reason === "already_rated") { showRatingThanks(); return; }
        ratingErrorText((res.data && res.data.detail) || "提交失败，请稍后重试");
        setStars(ratingScore);
      })
      .catch(function () {
        ratingBusy = false;
        ratingErrorText("提交失败，请检查网络后重试");
        setStars(ratingScore);
      });
  }

  function showAgentTyping() {
    els.typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideAgentTyping, AGENT_TYPING_SHOWN_MS);
  }
  function hideAgentTyping() { clearTimeout(typingTimer); els.typing.hidden = true; }

  function markAgentRead(messageId) {
    if (typeof messageId !== "number" || messageId <= agentReadId) return;
    agentReadId = messageId;
    Object.keys(byClientId).forEach(function (k) { refreshOwnState(byClientId[k]); });
  }

  // In the widget iframe: let the host page show an unread dot while it is closed.
  function tellParent(what) {
    if (window.parent && window.parent !== window) {
      try { window.parent.postMessage({ kefu: what }, "*"); } catch (e) { /* ignore */ }
    }
  }

  // --- the desk: open, busy or closed; messages left (留言) ---------------------------

  function showDesk(d) {
    if (!d || typeof d.state !== "string") return;
    els.deskBadge.setAttribute("data-state", d.state);
    els.deskBadge.textContent = d.label || "";
    els.deskBadge.title = d.text || "";
    els.desk.setAttribute("data-state", d.state);
    els.deskText.textContent = d.text || "";
    els.desk.hidden = d.state === "open";
    if (d.reply_by_text) els.leaveBy.textContent = d.reply_by_text;
  }

  function askDesk() {
    clearTimeout(deskTimer);
    send({ type: "desk" });
    deskTimer = setTimeout(askDesk, DESK_EVERY_MS);
  }

  function fieldError(name, text) {
    var box = els.leave.querySelector('[data-error-for="' + name + '"]');
    var input = els.leave.elements[name];
    if (box) { box.textContent = text || ""; box.hidden = !text; }
    if (input) input.setAttribute("aria-invalid", text ? "true" : "false");
  }

  function clearLeaveErrors() { ["name", "phone", "email", "text", "form"].forEach(function (n) { fieldError(n, null); }); }

  function showLeave(yes) {
    els.leave.hidden = !yes;
    if (yes) {
      els.leaveDone.hidden = true;
      clearLeaveErrors();
      var first = els.leave.elements.phone;
      if (first) first.focus();
    }
  }

  function submitLeave() {
    if (leaveBusy || !token) return;
    var f = els.leave.elements;
    var body = {
      token: token, name: f.name.value.trim(), phone: f.phone.value.trim(),
      email: f.email.value.trim(), text: f.text.value.trim()
    };
    clearLeaveErrors();
    // The same checks as the server, for a quick answer; the server's word is final.
    if (!body.phone && !body.email) { fieldError("phone", "手机号和邮箱至少填一项"); return; }
    if (!body.text) { fieldError("text", "请填写留言内容"); return; }
    leaveClientId = leaveClientId || newClientMsgId();
    body.client_msg_id = leaveClientId;
    leaveBusy = true;
    els.leaveSubmit.disabled = true;
    fetch(root.getAttribute("data-leave-url"), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit"
    })
      .then(function (resp) {
        return resp.json().then(function (data) { return { ok: resp.ok, data: data }; });
      })
      .then(function (res) {
        leaveBusy = false;
        els.leaveSubmit.disabled = false;
        if (!res.ok) {
          var fields = (res.data && res.data.fields) || {};
          Object.keys(fields).forEach(function (k) {
            if (els.leave.querySelector('[data-error-for="' + k + '"]')) fieldError(k, fields[k]);
          });
          fieldError("form", (res.data && res.data.detail) || "提交失败，请稍后重试");
          return;
        }
        leaveClientId = null;
        els.leave.reset();
        showLeave(false);
        els.leaveDone.textContent = res.data.text;
        els.leaveDone.hidden = false;
        if (res.data.message) showMessage(res.data.message);
        send({ type: "resume", after: lastId });   // the conversation may be new: follow it
      })
      .catch(function () {
        leaveBusy = false;
        els.leaveSubmit.disabled = false;
        fieldError("form", "提交失败，请检查网络后重试");
      });
  }

  // --- socket --------------------------------------------------------------------

  function isOpen() { return ws && ws.readyState === WebSocket.OPEN; }
  function send(frame) {
    if (!isOpen()) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function sendRead() {
    if (document.hidden || lastId <= readSentId) return;
    var newest = 0;
    Object.keys(byId).forEach(function (id) {
      var li = byId[id];
      if (!li.classList.contains("kefu-msg--incoming") && Number(id) > newest) newest = Number(id);
    });
    if (newest > readSentId && send({ type: "read", message_id: newest })) readSentId = newest;
  }

  function flushPending() {
    pending.forEach(function (p) {
      if (!p.image) send({ type: "message", client_msg_id: p.client_msg_id, text: p.text });
    });
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "ack":
        if (frame.message) showMessage(frame.message);
        else dropPending(frame.client_msg_id);
        notice(degraded ? DEGRADED_TEXT : null);
        break;
      case "message":
        showMessage(frame.message);
        break;
      case "history":
        (frame.messages || []).forEach(showMessage);
        break;
      case "typing":
        showAgentTyping();
        break;
      case "read":
        markAgentRead(frame.message_id);
        break;
      case "status":
        showStatus(frame.status, frame.rating_requested === true);
        break;
      case "rated":
        showRatingThanks();
        break;
      case "desk":
        showDesk(frame);
        break;
      case "reconnect":
        restartHintMs = Math.max(0, Number(frame.retry_after_ms) || 0);
        break;
      case "realtime":
        // The server's realtime layer (Redis) is down: messages are still stored and
        // acknowledged, replies arrive when it is back, with a resume from the last id.
        if (frame.status === "degraded") {
          degraded = true;
          setConn("degraded", DEGRADED_TEXT);
          notice(DEGRADED_TEXT);
        } else if (frame.status === "ok" && degraded) {
          degraded = false;
          setConn("online", "已连接");
          notice(null);
          send({ type: "resume", after: lastId });
        }
        break;
      case "error":
        if (frame.code === "unavailable") {
          // Nothing was stored (the database is restarting): keep the message queued and
          // send the queue again after the hint; its client_msg_id is stored once.
          notice(UNAVAILABLE_TEXT);
          clearTimeout(retryTimer);
          retryTimer = setTimeout(function () {
            send({ type: "resume", after: lastId });
            flushPending();
          }, Math.max(500, Number(frame.retry_after_ms) || 2000));
        } else if (typeof frame.client_msg_id === "string") showFailed(frame.client_msg_id, frame.detail || "发送失败");
        else notice(frame.detail || "出错了");
        break;
      default:
        break;                                     // newer servers may add frames
    }
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (stopped || !token) return;
    setConn("connecting", "连接中…");
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    var url = proto + "//" + window.location.host + root.getAttribute("data-ws-path") + "?token=" + encodeURIComponent(token);
    var sock = new WebSocket(url);
    ws = sock;
    sock.onopen = function () {
      attempt = 0;
      restarting = false;
      degraded = false;
      setConn("online", "已连接");
      send({ type: "resume", after: lastId });
      flushPending();
      clearTimeout(deskTimer);
      deskTimer = setTimeout(askDesk, DESK_EVERY_MS);
    };
    sock.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame === "object") onFrame(frame);
    };
    sock.onclose = function (ev) {
      if (ws !== sock) return;
      ws = null;
      if (ev.code === 4404) {
        stopped = true;
        setConn("offline", "已停用");
        notice("该在线客服渠道已停用，请通过其他方式联系我们。");
        return;
      }
      if (ev.code === 4401) {
        // The kept token no longer verifies (e.g. the server key changed): start
        // over with the one this page was rendered with.
        save(TOKEN_KEY, null);
        var fresh = root.getAttribute("data-token");
        if (token === fresh) { stopped = true; setConn("offline", "无法连接"); notice("无法验证访客身份，请刷新页面。"); return; }
        token = fresh;
        save(TOKEN_KEY, token);
      }
      if (ev.code === 1012 || ev.code === 1013) {
        // The server restarts (docs/operations.md): the others behind the proxy are up.
        // Come back after its spread-out hint; the resume sends what was missed.
        var hint = restartHintMs !== null ? restartHintMs : Math.random() * 2000;
        restartHintMs = null;
        restarting = ev.code === 1012;
        setConn("offline", ev.code === 1012 ? RESTART_TEXT : DEGRADED_TEXT);
        clearTimeout(reconnectTimer);
        reconnectTimer = setTimeout(connect, hint + Math.random() * 250);
        return;
      }
      setConn("offline", ev.code === 4429 ? "连接太频繁，稍后自动重试…" : restarting ? RESTART_TEXT : "重新连接中…");
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, attempt));
    delay = delay / 2 + Math.random() * delay / 2;  // jitter: not every tab at once after an outage
    attempt += 1;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  // --- composer ------------------------------------------------------------------

  function sendText() {
    var text = els.text.value.trim();
    if (!text) return;
    var p = { client_msg_id: newClientMsgId(), text: text };
    hideRating();                                   // writing again reopens the conversation
    pending.push(p);
    savePending();
    showPending(p);
    els.text.value = "";
    send({ type: "message", client_msg_id: p.client_msg_id, text: text });
  }

  function sendChoice(text) {
    var p = { client_msg_id: newClientMsgId(), text: text };
    hideRating();
    pending.push(p);
    savePending();
    showPending(p);
    send({ type: "message", client_msg_id: p.client_msg_id, text: text });
  }

  function sendImage(file) {
    var p = { client_msg_id: newClientMsgId(), text: "", image: true };
    hideRating();
    var li = showPending(p);
    var body = new FormData();
    body.append("token", token);
    body.append("client_msg_id", p.client_msg_id);
    body.append("image", file);
    fetch(root.getAttribute("data-upload-url"), { method: "POST", body: body, credentials: "omit" })
      .then(function (resp) {
        return resp.json().then(function (data) { return { ok: resp.ok, data: data }; });
      })
      .then(function (res) {
        if (!res.ok) { showFailed(p.client_msg_id, (res.data && res.data.detail) || "上传失败"); return; }
        showMessage(res.data.message);
        // The upload may have opened the conversation: resuming lets the socket follow it.
        send({ type: "resume", after: lastId });
      })
      .catch(function () {
        if (!li.getAttribute("data-id")) setOwnState(li, "上传失败，请检查网络后重试", "kefu-msg--failed");
      });
  }

  els.form.addEventListener("submit", function (ev) { ev.preventDefault(); sendText(); });
  els.text.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendText(); }
  });
  els.text.addEventListener("input", function () {
    var now = Date.now();
    if (now - lastTypingAt > TYPING_EVERY_MS && send({ type: "typing" })) lastTypingAt = now;
  });
  els.image.addEventListener("change", function () {
    var file = els.image.files && els.image.files[0];
    if (file) sendImage(file);
    els.image.value = "";
  });
  if (els.close) els.close.addEventListener("click", function () { tellParent("close"); });
  els.leaveOpen.addEventListener("click", function () { showLeave(els.leave.hidden); });
  els.leaveCancel.addEventListener("click", function () { showLeave(false); });
  els.leave.addEventListener("submit", function (ev) { ev.preventDefault(); submitLeave(); });
  if (els.rating) {
    els.stars.addEventListener("click", function (ev) {
      var b = ev.target.closest ? ev.target.closest("[data-score]") : null;
      if (b && !ratingBusy) setStars(Number(b.getAttribute("data-score")));
    });
    if (els.nps) {
      els.nps.addEventListener("click", function (ev) {
        var b = ev.target.closest ? ev.target.closest("[data-nps]") : null;
        if (b && !ratingBusy) setNps(Number(b.getAttribute("data-nps")));
      });
    }
    els.rating.addEventListener("submit", function (ev) { ev.preventDefault(); submitRating(); });
  }
  document.addEventListener("visibilitychange", sendRead);
  window.addEventListener("online", function () { if (!isOpen()) { attempt = 0; connect(); } });

  // --- start ---------------------------------------------------------------------

  function obtainToken() {
    var kept = load(TOKEN_KEY);
    if (kept) return Promise.resolve(kept);
    var other = load(ANY_TOKEN_KEY);
    if (!other) return Promise.resolve(root.getAttribute("data-token"));
    var body = new FormData();
    body.append("channel", channelId);
    body.append("token", other);
    return fetch(root.getAttribute("data-token-url"), { method: "POST", body: body, credentials: "omit" })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (data) { return (data && data.token) || root.getAttribute("data-token"); })
      .catch(function () { return root.getAttribute("data-token"); });
  }

  pending.forEach(showPending);
  obtainToken().then(function (t) {
    token = t;
    save(TOKEN_KEY, t);
    save(ANY_TOKEN_KEY, t);
    connect();
  });
})();
