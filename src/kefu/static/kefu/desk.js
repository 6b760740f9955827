/*
 * kefu desk pages: status switcher, idle lock, live inbox, conversation workspace,
 * the wallboard and the silent observer's view. Realtime comes from KefuDeskSocket (desk-socket.js); every change
 * goes through the REST API (/api/v1/...), so pages and integrations share one write path.
 *
 * Customer text is only ever put into the page with textContent; the inbox list is
 * re-rendered by the server (Django autoescape) and swapped in as parsed nodes.
 */
(function () {
  "use strict";

  var body = document.body;
  var myUserId = Number(body.dataset.userId || 0);

  // --- helpers ----------------------------------------------------------------------

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function csrfToken() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = $("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
    this.detail = (body && body.detail) || "请求失败（" + status + "）";
    this.fields = (body && body.fields) || {};
  }
  // Field keys by their Chinese names (core.labels, rendered into base.html), never raw.
  var fieldLabels = null;
  function fieldLabel(key) {
    if (fieldLabels === null) {
      var node = document.getElementById("kefu-field-labels");
      try { fieldLabels = node ? JSON.parse(node.textContent) : {}; } catch (e) { fieldLabels = {}; }
    }
    var last = key.split(".").pop();
    return fieldLabels[key] || fieldLabels[last] || (key === "body" ? "" : key);
  }
  ApiError.prototype.message = function () {
    var parts = [this.detail];
    Object.keys(this.fields).forEach(function (k) {
      var msg = this.fields[k], label = fieldLabel(k);
      // The detail often names the field already (「消息内容不能为空」): say it once.
      if (this.detail.indexOf(msg) !== -1) return;
      parts.push(label ? label + "：" + msg : msg);
    }, this);
    return parts.join("；");
  };

  function api(method, url, data) {
    var opts = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() }
    };
    if (data instanceof FormData) {
      opts.body = data;
    } else if (data !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(data);
    }
    return fetch(url, opts).then(function (r) {
      if (r.status === 204) return null;
      return r.json().catch(function () { return null; }).then(function (json) {
        if (!r.ok) {
          if (r.status === 401) { window.location.href = "/login/?locked=1"; }
          throw new ApiError(r.status, json);
        }
        return json;
      });
    }, function () { throw new ApiError(0, { detail: "网络连接失败，请稍后重试" }); });
  }

  function newClientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  // Times are shown in the desk's time zone (as the server renders them), not the browser's.
  var timeParts = null;
  try {
    timeParts = new Intl.DateTimeFormat("en-GB", {
      timeZone: body.dataset.timeZone || undefined, hourCycle: "h23",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"
    });
  } catch (e) { timeParts = null; }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function formatTime(iso, withSeconds) {
    var d = new Date(iso);
    if (isNaN(d)) return "";
    var p = {};
    if (timeParts) {
      timeParts.formatToParts(d).forEach(function (part) { p[part.type] = part.value; });
    } else {
      p = { month: pad(d.getMonth() + 1), day: pad(d.getDate()), hour: pad(d.getHours()),
            minute: pad(d.getMinutes()), second: pad(d.getSeconds()) };
    }
    var s = p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
    return withSeconds ? s + ":" + p.second : s;
  }
  function formatDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + " 秒";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " 分钟";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " 小时 " + (minutes % 60) + " 分";
    return Math.floor(hours / 24) + " 天 " + (hours % 24) + " 小时";
  }

  function showError(el, err) {
    if (!el) return;
    el.textContent = err ? (err.message ? (typeof err.message === "function" ? err.message() : err.message) : String(err)) : "";
  }

  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  // --- status switcher --------------------------------------------------------------

  var statusSelect = $("#kefu-status");
  var statusLabels = {};
  if (statusSelect) {
    $all("option", statusSelect).forEach(function (o) {
      var group = o.parentNode.tagName === "OPTGROUP" ? o.parentNode.label : null;
      statusLabels[o.value.split(":")[0]] = group || o.dataset.short || o.textContent;
    });
    var current = statusSelect.value;
    // An option's value is "status" or "break:reason" (小休、用餐、培训、会议).
    var showStatus = function (status, reason) {
      var value = status === "break" ? "break:" + (reason || "short_break") : status;
      if ($all("option", statusSelect).some(function (o) { return o.value === value; })) statusSelect.value = value;
      current = statusSelect.value;
      var dot = $("#kefu-status-dot");
      if (dot) dot.className = "status-dot status-" + status;
    };
    statusSelect.addEventListener("change", function () {
      var parts = statusSelect.value.split(":");
      var body = { status: parts[0] };
      if (parts[1]) body.reason = parts[1];
      statusSelect.disabled = true;
      api("POST", statusSelect.dataset.url, body).then(function (res) {
        showStatus(res.status, res.reason);
      }, function (err) {
        statusSelect.value = current;
        window.alert(err.message());
      }).then(function () { statusSelect.disabled = false; });
    });
  }

  // --- confirm and copy buttons ------------------------------------------------------

  $all("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });
  $all("[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var target = $(btn.dataset.copy);
      if (target && navigator.clipboard) {
        navigator.clipboard.writeText(target.textContent).then(function () { btn.textContent = "已复制"; });
      }
    });
  });

  // --- idle lock ----------------------------------------------------------------------
  // The server ends a session after KEFU_IDLE_TIMEOUT without requests; the desk also
  // counts the agent's own input (live pages keep making requests on their own) and
  // locks the screen itself. Tabs share the last input time through localStorage.

  var idleTimeout = Number(body.dataset.idleTimeout || 0);
  var socket = null;
  if (idleTimeout > 0) {
    var IDLE_KEY = "kefu-last-input";
    var lastInput = Date.now();
    var locked = false;
    var warnAt = Math.min(60, Math.max(5, Math.floor(idleTimeout / 5)));
    var noteInput = function () {
      var now = Date.now();
      if (now - lastInput < 1000) return;
      lastInput = now;
      try { window.localStorage.setItem(IDLE_KEY, String(now)); } catch (e) { /* private mode */ }
    };
    ["keydown", "mousedown", "mousemove", "wheel", "touchstart", "scroll"].forEach(function (name) {
      window.addEventListener(name, noteInput, { passive: true, capture: true });
    });
    var lock = function () {
      locked = true;
      var overlay = $("#kefu-lock");
      if (overlay) overlay.hidden = false;
      if (socket) socket.close();
      var form = new FormData();
      form.append("reason", "idle");
      form.append("csrfmiddlewaretoken", csrfToken());
      var go = function () { window.location.href = "/login/?locked=1"; };
      fetch("/logout/", { method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } })
        .then(go, go);
    };
    setInterval(function () {
      if (locked) return;
      var shared = 0;
      try { shared = Number(window.localStorage.getItem(IDLE_KEY) || 0); } catch (e) { shared = 0; }
      var last = Math.max(lastInput, shared);
      var remaining = idleTimeout - (Date.now() - last) / 1000;
      var warning = $("#kefu-idle-warning");
      if (remaining <= 0) {
        if (warning) warning.hidden = true;
        lock();
      } else if (warning) {
        warning.hidden = remaining > warnAt;
        var secs = $("#kefu-idle-seconds");
        if (secs) secs.textContent = String(Math.ceil(remaining));
      }
    }, 1000);
  }

  // --- realtime -----------------------------------------------------------------------

  var liveState = $("#kefu-live-state");
  function startSocket() {
    if (!window.KefuDeskSocket || !window.WebSocket) return null;
    var s = new window.KefuDeskSocket();
    // The banner: the socket is away (not a quick restart hand-over) or the server's
    // realtime layer is down. Messages are still stored; lists catch up when it is back.
    var banner = $("#kefu-realtime-banner");
    var bannerTimer = null;
    var showBanner = function (on, delayMs) {
      clearTimeout(bannerTimer);
      if (!banner) return;
      if (!on) { banner.hidden = true; return; }
      bannerTimer = setTimeout(function () { banner.hidden = false; }, delayMs || 0);
    };
    s.on("open", function () { showBanner(false); if (liveState) liveState.textContent = "● 实时"; });
    s.on("close", function (info) {
      if (liveState) liveState.textContent = info.willRetry ? "○ 重新连接中…" : "○ 已断开";
      // A restart hands the socket over within ~2 s: only a longer absence is worth a banner.
      if (info.willRetry) showBanner(true, info.code === 1012 ? 3000 : 1000);
    });
    s.on("realtime", function (info) {
      showBanner(info.status === "degraded");
      if (liveState) liveState.textContent = info.status === "degraded" ? "○ 实时中断" : "● 实时";
    });
    s.on("unauthorized", function () { window.location.href = "/login/?locked=1"; });
    s.on("access", function () {
      if (liveState) liveState.textContent = "● 实时 · 你的团队或角色已变更，刷新页面查看最新会话";
    });
    return s;
  }

  // --- inbox ----------------------------------------------------------------------------

  function refreshWaiting(root) {
    $all(".waiting[data-since]", root).forEach(function (el) {
      var since = new Date(el.dataset.since);
      if (!isNaN(since)) el.textContent = "已等待 " + formatDuration((Date.now() - since) / 1000);
    });
  }

  function initInbox(page) {
    var filters = $("#kefu-inbox-filters");
    filters.addEventListener("change", function () { filters.submit(); });
    refreshWaiting(page);
    setInterval(function () { refreshWaiting(page); }, 30000);

    var refreshing = false;
    var again = false;
    function refresh() {
      if (refreshing) { again = true; return; }
      refreshing = true;
      var params = new URLSearchParams(window.location.search);
      params.set("partial", "1");
      fetch(page.dataset.partialUrl + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) {
          if (r.redirected || !r.ok) throw new Error("inbox refresh " + r.status);
          return r.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("kefu-inbox-list");
          var old = document.getElementById("kefu-inbox-list");
          if (!fresh || !old) return;
          var known = {};
          $all("[data-conversation-id]", old).forEach(function (li) { known[li.dataset.conversationId] = li.textContent; });
          var node = document.importNode(fresh, true);
          refreshWaiting(node);
          $all("[data-conversation-id]", node).forEach(function (li) {
            var before = known[li.dataset.conversationId];
            if (before === undefined || before !== li.textContent) li.classList.add("is-updated");
          });
          old.replaceWith(node);
        })
        .catch(function () { /* the next event or reconnect refreshes again */ })
        .then(function () {
          refreshing = false;
          if (again) { again = false; refresh(); }
        });
    }
    var soon = debounce(refresh, 400);
    socket = startSocket();
    if (!socket) return;
    socket.on("event", function (frame) {
      if (frame.data && (frame.data.conversation || frame.data.message)) soon();
    });
    // The chatter of conversations neither mine nor open here comes as counts.
    socket.on("activity", soon);
    socket.on("open", function (info) { if (info.reconnect) soon(); });
    socket.connect();
  }

  // --- conversation -----------------------------------------------------------------

  var KIND_BADGES = { note: "内部备注", call: "通话记录", auto: "自动回复" };

  function safeUrl(url) {
    return typeof url === "string" && (/^\/(?!\/)/.test(url) || /^https?:\/\//.test(url)) ? url : null;
  }

  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    if (bytes >= 1024) return (bytes / 1024).toFixed(1) + " KB";
    return bytes + " 字节";
  }

  // The files a customer sent with a message: a chip each, with a download; refused ones say why.
  function fileChips(files) {
    if (!Array.isArray(files) || !files.length) return null;
    var ul = document.createElement("ul");
    ul.className = "file-chips";
    files.forEach(function (f) {
      var li = document.createElement("li");
      li.className = "file-chip" + (f.stored ? "" : " refused");
      var name = document.createElement("span");
      name.className = "file-name";
      name.textContent = f.name;
      var info = document.createElement("span");
      info.className = "file-info";
      var href = f.stored ? safeUrl(f.url) : null;
      if (href) {
        info.textContent = (f.type_label || "文件") + " · " + formatSize(f.size || 0);
        var a = document.createElement("a");
        a.href = href;
        a.setAttribute("download", "");
        a.appendChild(name);
        a.appendChild(document.createTextNode(" "));
        a.appendChild(info);
        li.appendChild(a);
      } else {
        info.textContent = "未保存：" + (f.refused_reason || "");
        li.appendChild(name);
        li.appendChild(document.createTextNode(" "));
        li.appendChild(info);
      }
      ul.appendChild(li);
    });
    return ul;
  }

  // The side panels (the transfer menu's agents, the customer's history, my other open
  // conversations) come after the page, from the server's partial (escaped there): the
  // thread and the composer do not wait for them.
  function loadPanels(page) {
    var url = page.dataset.panelsUrl;
    if (!url) return;
    function fill(doc, selector) {
      var fresh = doc.querySelector(selector);
      var old = document.querySelector(selector);
      if (!fresh || !old) return;
      old.replaceChildren.apply(old, Array.prototype.map.call(fresh.childNodes, function (n) {
        return document.importNode(n, true);
      }));
    }
    fetch(url, { credentials: "same-origin" })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("panels " + r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        fill(doc, "#kefu-transfer-agents");
        fill(doc, "#kefu-history");
        fill(doc, "#kefu-my-open .my-open-list");
      })
      .catch(function () {
        var history = $("#kefu-history");
        if (history) history.innerHTML = '<li class="muted">加载失败，请刷新页面重试</li>';
      });
  }

  function initConversation(page) {
    loadPanels(page);
    var convId = Number(page.dataset.conversationId);
    var customerId = Number(page.dataset.customerId);
    var customerName = page.dataset.customerName;
    var canReveal = page.dataset.canReveal === "1";
    var lastId = Number(page.dataset.lastMessageId || 0);
    var customerLastRead = Number(page.dataset.customerLastRead || 0);
    var list = $("#kefu-messages");
    var template = $("#kefu-message-template");
    var statusLabelsConv = {};
    var labelsEl = $("#kefu-status-labels");
    if (labelsEl) { try { statusLabelsConv = JSON.parse(labelsEl.textContent); } catch (e) { statusLabelsConv = {}; } }

    function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }
    function scrollDown() { list.scrollTop = list.scrollHeight; }

    function updateReadStates() {
      $all(".msg.dir-outgoing:not(.private)", list).forEach(function (li) {
        var id = Number(li.dataset.messageId || 0);
        var rs = $(".read-state", li);
        if (!rs || !id) return;
        var read = id <= customerLastRead;
        rs.classList.toggle("is-read", read);
        rs.textContent = read ? "已读" : "未读";
      });
    }

    function buildMessage(m) {
      var li;
      if (m.kind === "event") {
        li = document.createElement("li");
        var line = document.createElement("div");
        line.className = "activity";
        var text = document.createElement("span");
        text.className = "text";
        text.textContent = m.text;
        var t = document.createElement("time");
        t.dateTime = m.created_at;
        t.textContent = formatTime(m.created_at);
        line.appendChild(text);
        line.appendChild(document.createTextNode(" "));
        line.appendChild(t);
        li.appendChild(line);
      } else {
        li = template.content.firstElementChild.cloneNode(true);
        $(".who", li).textContent = m.direction === "incoming" ? customerName : (m.sender_name || "系统");
        var badge = $(".badge", li);
        if (KIND_BADGES[m.kind]) {
          badge.textContent = KIND_BADGES[m.kind];
          badge.classList.add(m.kind);
        } else {
          badge.remove();
        }
        var time = $("time", li);
        time.dateTime = m.created_at;
        time.textContent = formatTime(m.created_at, true);
        var rs = $(".read-state", li);
        if (m.direction !== "outgoing" || m.is_private) rs.remove();
        var textEl = $(".text", li);
        if (m.text) { textEl.textContent = m.text; } else { textEl.remove(); }
        if (m.text && m.has_pii && canReveal) {
          // Phone, ID-card and bank-card numbers arrive masked; an allowed role may
          // reveal this one message (the server checks and audits it).
          var reveal = document.createElement("button");
          reveal.type = "button";
          reveal.className = "small reveal-message";
          reveal.dataset.revealMessage = String(m.id);
          reveal.textContent = "查看原文";
          $(".bubble", li).appendChild(reveal);
        }
        var chips = fileChips(m.attachments);
        if (chips) $(".bubble", li).appendChild(chips);
        var url = safeUrl(m.image_url);
        if (url) {
          var a = document.createElement("a");
          a.href = url;
          a.target = "_blank";
          a.rel = "noopener";
          var img = document.createElement("img");
          img.src = url;
          img.alt = "图片";
          img.loading = "lazy";
          a.appendChild(img);
          $(".bubble", li).insertBefore(a, $(".bubble", li).firstChild);
        }
      }
      li.className = "msg dir-" + m.direction + " kind-" + m.kind + (m.is_private ? " private" : "");
      li.dataset.messageId = String(m.id);
      if (m.client_msg_id) li.dataset.clientMsgId = m.client_msg_id;
      return li;
    }

    function placeMessage(m) {
      if (!m || m.conversation_id !== convId && m.conversation_id !== undefined) return;
      if ($('[data-message-id="' + m.id + '"]', list)) return;
      var stick = nearBottom();
      var li = buildMessage(m);
      var pending = m.client_msg_id && m.direction === "outgoing"
        ? $('.pending[data-client-msg-id="' + CSS.escape(m.client_msg_id) + '"]', list) : null;
      if (pending) {
        pending.replaceWith(li);
      } else {
        var after = null;
        $all("[data-message-id]", list).some(function (el) {
          if (Number(el.dataset.messageId) > m.id) { after = el; return true; }
          return false;
        });
        list.insertBefore(li, after || $(".pending", list));
      }
      if (m.id > lastId) lastId = m.id;
      updateReadStates();
      if (stick) scrollDown();
      if (m.direction === "incoming") markRead();
    }

    var markRead = debounce(function () {
      if (document.hidden || !lastId) return;
      if (!(socket && socket.read(convId, lastId))) {
        api("POST", "/api/v1/conversations/" + convId + "/read", { message_id: lastId }).catch(function () {});
      }
      // The navigation's unread count follows (initDeskCounts).
      document.dispatchEvent(new CustomEvent("kefu:read", { detail: { conversation_id: convId } }));
    }, 500);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) markRead(); });

    function refreshHeader() {
      api("GET", "/api/v1/conversations/" + convId).then(function (c) {
        var st = $("#kefu-conv-status");
        st.className = "status status-" + c.status;
        st.textContent = statusLabelsConv[c.status] || c.status;
        $("#kefu-conv-assignee").textContent = c.assignee_name || "未分配";
        var closed = c.status === "closed";
        $("#kefu-composer-text").disabled = closed;
        $("#kefu-composer button[type=submit]").disabled = closed;
      }, function () { /* e.g. transferred away: the page stays as it was */ });
    }

    // Composer ------------------------------------------------------------------------
    var composer = $("#kefu-composer");
    var textarea = $("#kefu-composer-text");
    var noteToggle = $("#kefu-note-toggle");
    var composerError = $("#kefu-composer-error");

    noteToggle.addEventListener("change", function () {
      composer.classList.toggle("note-mode", noteToggle.checked);
      textarea.placeholder = noteToggle.checked ? "内部备注，仅同事可见" : "输入回复，Enter 发送，Shift+Enter 换行";
    });
    textarea.addEventListener("keydown", function (e) {
      // isComposing: Enter that confirms a pinyin candidate must not send.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        composer.requestSubmit();
      }
    });
    textarea.addEventListener("input", function () {
      if (!noteToggle.checked && socket && textarea.value.trim()) socket.typing(convId);
    });

    // confirmed: the agent chose to send despite high-severity quality findings; the
    // server refuses such a reply without it (409 findings_unconfirmed) and records it.
    function sendReply(text, clientId, pendingLi, confirmed) {
      pendingLi.classList.remove("failed");
      $(".read-state", pendingLi).textContent = "发送中…";
      var payload = { text: text, client_msg_id: clientId };
      if (confirmed) payload.confirm_findings = true;
      return api("POST", "/api/v1/conversations/" + convId + "/messages", payload)
        .then(function (m) { placeMessage(m); refreshHeader(); }, function (err) {
          if (err.status === 409 && err.body.error === "findings_unconfirmed" && !confirmed) {
            // quality.js asks the agent; without it, the reply goes back to the composer.
            var ask = new CustomEvent("kefu:findings-unconfirmed", {
              cancelable: true,
              detail: {
                findings: err.body.findings || [],
                send: function () { sendReply(text, clientId, pendingLi, true); },
                back: function () { pendingLi.remove(); if (!textarea.value) textarea.value = text; textarea.focus(); }
              }
            });
            if (!document.dispatchEvent(ask)) return;
            pendingLi.remove();
            if (!textarea.value) textarea.value = text;
            showError(composerError, err);
            return;
          }
          pendingLi.classList.add("failed");
          var rs = $(".read-state", pendingLi);
          rs.textContent = "发送失败，点击重试";
          rs.onclick = function () { sendReply(text, clientId, pendingLi, confirmed); };
          showError(composerError, err);
        });
    }

    composer.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = textarea.value.trim();
      showError(composerError, null);
      if (!text) return;
      if (noteToggle.checked) {
        api("POST", "/api/v1/conversations/" + convId + "/notes", { text: text }).then(function (m) {
          textarea.value = "";
          placeMessage(m);
        }, function (err) { showError(composerError, err); });
        return;
      }
      // Other scripts (quality.js) may hold a reply back by cancelling this event.
      // detail.confirmed: set by quality.js when the agent confirmed the reply's findings.
      var beforeSend = new CustomEvent("kefu:before-send", { bubbles: true, cancelable: true, detail: { text: text, confirmed: false } });
      if (!composer.dispatchEvent(beforeSend)) return;
      var confirmed = beforeSend.detail.confirmed === true;
      // Shown at once; the stored message replaces it. A retry reuses the same
      // client_msg_id, so the server keeps one copy however many times it is sent.
      var clientId = newClientId();
      var pendingLi = buildMessage({
        id: 0, kind: "text", direction: "outgoing", is_private: false, text: text,
        sender_name: body.dataset.userName, created_at: new Date().toISOString(), client_msg_id: clientId
      });
      pendingLi.classList.add("pending");
      delete pendingLi.dataset.messageId;
      list.appendChild(pendingLi);
      scrollDown();
      textarea.value = "";
      sendReply(text, clientId, pendingLi, confirmed);
    });

    var imageInput = $("#kefu-image-input");
    if (imageInput) {
      imageInput.addEventListener("change", function () {
        var file = imageInput.files && imageInput.files[0];
        if (!file) return;
        var form = new FormData();
        form.append("image", file);
        form.append("client_msg_id", newClientId());
        imageInput.value = "";
        showError(composerError, null);
        api("POST", "/api/v1/conversations/" + convId + "/images", form).then(function (m) {
          placeMessage(m);
          refreshHeader();
        }, function (err) { showError(composerError, err); });
      });
    }

    // Actions -----------------------------------------------------------------------------
    function closeDetails(form) { var d = form.closest("details"); if (d) d.open = false; }

    var statusForm = $("#kefu-status-form");
    var snoozeLabel = $(".snooze-until", statusForm);
    function toggleSnooze() { snoozeLabel.hidden = statusForm.elements.status.value !== "snoozed"; }
    statusForm.elements.status.addEventListener("change", toggleSnooze);
    toggleSnooze();
    statusForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var payload = { status: statusForm.elements.status.value };
      if (payload.status === "snoozed") {
        var v = statusForm.elements.snoozed_until.value;
        if (!v) { showError($(".form-error", statusForm), "请选择暂缓到的时间"); return; }
        payload.snoozed_until = new Date(v).toISOString();
      }
      api("POST", "/api/v1/conversations/" + convId + "/status", payload).then(function () {
        showError($(".form-error", statusForm), null);
        closeDetails(statusForm);
        refreshHeader();
      }, function (err) { showError($(".form-error", statusForm), err); });
    });

    var transferForm = $("#kefu-transfer-form");
    transferForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var err = $(".form-error", transferForm);
      var note = transferForm.elements.note.value.trim();
      var toUser = transferForm.elements.to_user_id.value;
      var toTeam = transferForm.elements.to_team_id.value;
      if (!toUser && !toTeam) { showError(err, "请选择转给的客服或团队"); return; }
      if (!note) { showError(err, "请填写转接说明"); return; }
      var payload = { note: note };
      if (toUser) payload.to_user_id = Number(toUser);
      if (toTeam) payload.to_team_id = Number(toTeam);
      api("POST", "/api/v1/conversations/" + convId + "/transfer", payload).then(function () {
        transferForm.reset();
        closeDetails(transferForm);
        refreshHeader();
      }, function (e2) { showError(err, e2); });
    });

    var callForm = $("#kefu-call-form");
    callForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var err = $(".form-error", callForm);
      var f = callForm.elements;
      var payload = {
        conversation_id: convId,
        direction: f.direction.value,
        duration_seconds: (Number(f.minutes.value) || 0) * 60 + (Number(f.seconds.value) || 0),
        summary: f.summary.value.trim(),
        outcome: f.outcome.value
      };
      if (!payload.summary) { showError(err, "请填写通话摘要"); return; }
      api("POST", "/api/v1/calls", payload).then(function (call) {
        callForm.reset();
        showError(err, null);
        closeDetails(callForm);
        placeMessage(call.message);
      }, function (e2) { showError(err, e2); });
    });

    // A message's masked numbers: one message at a time, on purpose (audited on the server).
    list.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button[data-reveal-message]");
      if (!btn) return;
      var li = btn.closest("[data-message-id]");
      btn.disabled = true;
      api("POST", "/api/v1/conversations/" + convId + "/messages/" + btn.dataset.revealMessage + "/reveal").then(function (res) {
        var textEl = $(".text", li);
        if (textEl) { textEl.textContent = res.text; textEl.classList.add("revealed"); }
        btn.remove();
      }, function (err) {
        btn.disabled = false;
        window.alert(err.message());
      });
    });

    // Personal data: masked until an allowed role asks (the server audits each reveal).
    $all("button[data-reveal]", page).forEach(function (btn) {
      btn.addEventListener("click", function () {
        var box = btn.closest(".pii");
        var payload = { field: btn.dataset.reveal };
        if (box.dataset.orderNo) payload.order_no = box.dataset.orderNo;
        btn.disabled = true;
        api("POST", "/api/v1/customers/" + customerId + "/reveal", payload).then(function (res) {
          $(".pii-value", box).textContent = res.value || "—";
          btn.remove();
        }, function (err) {
          btn.disabled = false;
          window.alert(err.message());
        });
      });
    });

    // Live ----------------------------------------------------------------------------
    var typingEl = $("#kefu-typing");
    var typingTimer = null;
    socket = startSocket();
    if (socket) {
      ["message.created", "note.created", "conversation.activity", "call.logged"].forEach(function (name) {
        socket.on(name, function (frame) {
          var m = frame.data && frame.data.message;
          if (m && m.conversation_id === convId) {
            placeMessage(m);
            if (m.direction === "incoming") {
              typingEl.hidden = true;
              // The assistant panel (assist.js) refreshes its suggestions on this.
              document.dispatchEvent(new CustomEvent("kefu:customer-message", { detail: { conversation_id: convId } }));
            }
          }
        });
      });
      ["conversation.status_changed", "conversation.assigned", "conversation.transferred"].forEach(function (name) {
        socket.on(name, function (frame) {
          var c = frame.data && frame.data.conversation;
          if (c && c.id === convId && !frame.stale) refreshHeader();
        });
      });
      socket.on("history", function (frame) {
        if (frame.conversation_id !== convId) return;
        (frame.messages || []).forEach(placeMessage);
      });
      socket.on("typing", function (frame) {
        if (frame.conversation_id !== convId || frame.by !== "customer") return;
        typingEl.textContent = customerName + " 正在输入…";
        typingEl.hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typingEl.hidden = true; }, 5000);
      });
      socket.on("read", function (frame) {
        if (frame.conversation_id !== convId || frame.by !== "customer") return;
        customerLastRead = Math.max(customerLastRead, Number(frame.message_id) || 0);
        updateReadStates();
      });
      socket.on("open", function () { markRead(); });
      socket.connect();
      socket.resume(convId, lastId);
    }
    scrollDown();
    markRead();
  }

  // --- wallboard (主管看板) -------------------------------------------------------------
  // Snapshots are pushed over the desk socket (sock.board()); wallboard.js renders them.
  // Actions go over HTTP (/api/v1/wallboard/…); the next snapshot shows their effect.

  function initWallboard(page) {
    var board = window.KefuWallboard;
    if (!board) return;
    var first = $("#kefu-wallboard-snapshot");
    if (first) board.render(page, JSON.parse(first.textContent), { actions: true });
    setInterval(function () { board.tick(page); }, 1000);
    var status = $("#kefu-wallboard-status");
    function say(text, isError) {
      if (!status) return;
      status.textContent = text;
      status.className = isError ? "form-error" : "help";
    }
    function done(text) { return function () { say(text, false); }; }
    function failed(err) { say(err.message ? err.message() : "操作失败", true); }
    page.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-action]");
      if (!b) return;
      var id = Number(b.dataset.conversationId);
      var base = "/api/v1/wallboard/conversations/" + id + "/";
      if (b.dataset.action === "take-over") {
        if (!window.confirm("由您接管这个会话？")) return;
        api("POST", base + "take-over", {}).then(function () {
          window.location.href = "/desk/c/" + id + "/";
        }, failed);
      } else if (b.dataset.action === "reassign") {
        var snap = page.snapshot || { agents: { items: [] } };
        var team = (snap.teams || []).filter(function (t) { return String(t.id) === b.dataset.teamId; })[0];
        var choices = snap.agents.items.filter(function (a) {
          return a.status !== "offline" && (!team || (a.teams || []).indexOf(team.name) >= 0);
        });
        var list = choices.map(function (a, i) { return (i + 1) + ". " + a.name + "（" + a.status_label + " " + a.load + "/" + a.max_concurrent + "）"; });
        var pick = window.prompt("改派给谁？输入序号：\n" + list.join("\n"));
        var chosen = choices[Number(pick) - 1];
        if (!chosen) return;
        api("POST", base + "reassign", { to_user_id: chosen.user_id }).then(done("已改派给 " + chosen.name), failed);
      } else if (b.dataset.action === "whisper") {
        var text = window.prompt("悄悄话（只有接待客服能看到，客户看不到）：");
        if (!text || !text.trim()) return;
        api("POST", base + "whisper", { text: text.trim() }).then(done("悄悄话已发送"), failed);
      }
    });
    socket = startSocket();
    if (!socket) return;
    socket.on("wallboard", function (frame) { board.render(page, frame.snapshot, { actions: true }); });
    socket.on("error", function (frame) { if (frame.field === "wallboard") say(frame.detail, true); });
    socket.board(page.dataset.teamId || null);
    socket.connect();
  }

  // --- whispers (悄悄话) on the conversation page -----------------------------------------
  // A lead's private words to this agent about this conversation: listed in the sidebar
  // for her (and the lead who wrote them) only; never part of the conversation.

  function initWhispers(page) {
    var convId = Number(page.dataset.conversationId || 0);
    var side = $("aside.sidebar", page) || $("aside.sidebar");
    if (!convId || !side) return;
    var box = null;
    var seen = {};
    function add(w) {
      if (!w || w.conversation_id !== convId || seen[w.id]) return;
      seen[w.id] = true;
      if (!box) {
        box = document.createElement("section");
        box.className = "card whispers";
        box.id = "kefu-whispers";
        var h = document.createElement("h2");
        h.textContent = "组长悄悄话（仅您可见，客户看不到）";
        box.appendChild(h);
        box.appendChild(document.createElement("ul"));
        side.insertBefore(box, side.firstChild);
      }
      var li = document.createElement("li");
      li.dataset.whisperId = String(w.id);
      li.textContent = (w.author_name || "组长") + " · " + formatTime(w.created_at) + "：" + w.text;
      $("ul", box).appendChild(li);
    }
    api("GET", "/api/v1/wallboard/conversations/" + convId + "/whispers").then(function (res) {
      (res.items || []).forEach(add);
    }, function () { /* the toast still announces new ones */ });
    if (socket) socket.on("conversation.whisper", function (frame) { add(frame.data && frame.data.whisper); });
  }

  // --- silent observer: the conversation live, and nothing of the observer goes out ----
  // No read receipt, no typing: the customer is never told someone is watching.

  function initObserver(page) {
    var convId = Number(page.dataset.conversationId);
    var list = $("#kefu-observe-messages");
    var seen = {};
    $all("[data-message-id]", list).forEach(function (li) { seen[li.dataset.messageId] = true; });
    function add(m) {
      if (!m || m.conversation_id !== convId || seen[m.id]) return;
      seen[m.id] = true;
      var li = document.createElement("li");
      li.className = "msg dir-" + m.direction + (m.is_private ? " private" : "");
      li.dataset.messageId = String(m.id);
      var who = document.createElement("span");
      who.className = "msg-meta";
      who.textContent = (m.direction === "incoming" ? "客户" : (m.sender_name || "系统")) + " · " + formatTime(m.created_at, true);
      var text = document.createElement("p");
      text.className = "msg-text";
      text.textContent = m.text || (m.image_url ? "[图片]" : "");
      li.appendChild(who);
      li.appendChild(text);
      list.appendChild(li);
      list.scrollTop = list.scrollHeight;
    }
    socket = startSocket();
    if (!socket) return;
    ["message.created", "note.created", "conversation.activity"].forEach(function (name) {
      socket.on(name, function (frame) { add(frame.data && frame.data.message); });
    });
    socket.on("history", function (frame) {
      if (frame.conversation_id === convId) (frame.messages || []).forEach(add);
    });
    var last = 0;
    Object.keys(seen).forEach(function (id) { last = Math.max(last, Number(id)); });
    socket.watch(convId, last);
    socket.connect();
  }

  // --- alerts, counts and notifications (every desk page) ------------------------------
  // So that nobody works blind: the navigation's counts (unread conversations, waiting
  // in my teams' queues, open alerts) stay current; alerts meant for this user pop up
  // as a toast with a sound and can be acknowledged there; and, while the tab is in the
  // background, new chats and customer messages play a sound and, when the agent opted
  // in (per browser), show a desktop notification. The server renders the counts'
  // start values; events only ask it again (GET /api/v1/desk/counts).

  var NOTIFY_KEY = "kefu.desk.notify";
  var NOTIFIED_KEY = "kefu.desk.notified";
  var LEVEL_TEXT = { complaint_risk: "投诉风险", emotion: "情绪预警" };

  function initAwareness(conversationPage) {
    if (!myUserId) return;
    var created = !socket;
    var live = socket || startSocket();
    socket = live;
    var counts = initDeskCounts(live);
    var myOpen = conversationPage ? initMyOpenList(live, conversationPage) : null;
    initAlertToasts(live, counts);
    initAlertsPageRefresh(live);
    initNotifyToggle();
    initWorkNotifications(live, Number(conversationPage && conversationPage.dataset.conversationId || 0));
    if (live) {
      live.on("event", function (frame) {
        if (touchesMyWork(frame)) {
          counts.refresh();
          if (myOpen) myOpen.refresh();
        }
      });
      live.on("open", function (info) {
        document.body.dataset.live = "open";
        if (info.reconnect) { counts.refresh(); if (myOpen) myOpen.refresh(); }
      });
      live.on("close", function () { document.body.dataset.live = "closed"; });
      // Her own status changed elsewhere (another tab, a logout, the presence sweep).
      live.on("agent.status_changed", function (frame) {
        if (showStatus && frame.data && frame.data.user_id === myUserId) showStatus(frame.data.status, frame.data.reason);
      });
      if (created) live.connect();
    }
    document.addEventListener("kefu:read", function () {
      counts.refresh(800);
      if (myOpen) myOpen.refresh(800);
    });
  }

  function conversationOf(frame) {
    var d = frame.data || {};
    return d.conversation || null;
  }

  // Events after which a count or the list of my conversations may differ.
  function touchesMyWork(frame) {
    switch (frame.event) {
      case "conversation.created":
      case "conversation.assigned":
      case "conversation.transferred":
      case "conversation.status_changed":
      case "conversation.emotion_alert":
      case "conversation.alert_acknowledged":
        return true;
      case "message.created":
        var m = frame.data && frame.data.message;
        var c = conversationOf(frame);
        return !!(m && c && m.direction === "incoming" && c.assignee_id === myUserId);
      default:
        return false;
    }
  }

  function customerLabel(c) {
    return (c && (c.customer_name || (c.customer_id ? "客户#" + c.customer_id : ""))) || "客户";
  }

  function initDeskCounts(live) {
    var badges = $all(".nav-badge[data-count]");
    var baseTitle = document.title;
    function show(counts) {
      badges.forEach(function (b) {
        var n = Number(counts[b.dataset.count] || 0);
        var el = $(".n", b) || b;
        el.textContent = String(n);
        b.hidden = n === 0;
      });
      var unread = Number(counts.unread_conversations || 0);
      document.title = unread ? "(" + unread + ") " + baseTitle : baseTitle;
    }
    var timer = null;
    var busy = false;
    var again = false;
    function fetchNow() {
      if (busy) { again = true; return; }
      busy = true;
      api("GET", "/api/v1/desk/counts").then(show, function () { /* the next event asks again */ })
        .then(function () { busy = false; if (again) { again = false; fetchNow(); } });
    }
    function refresh(delay) {
      if (!badges.length) return;
      clearTimeout(timer);
      timer = setTimeout(fetchNow, delay || 400);
    }
    return { refresh: refresh, live: !!live };
  }

  function initMyOpenList(live, page) {
    var box = $("#kefu-my-open");
    if (!box) return null;
    var convId = Number(page.dataset.conversationId);
    var list = $(".my-open-list", box);
    function render(items) {
      var rows = items.map(function (c) {
        var li = document.createElement("li");
        li.dataset.conversationId = String(c.id);
        if (c.unread) li.className = "has-unread";
        var a = document.createElement("a");
        a.href = "/desk/c/" + c.id + "/";
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = c.customer_name;
        a.appendChild(name);
        if (c.unread) {
          var n = document.createElement("span");
          n.className = "unread";
          n.textContent = String(c.unread);
          a.appendChild(n);
          a.title = c.unread + " 条未读";
        }
        li.appendChild(a);
        return li;
      });
      if (!rows.length) {
        var empty = document.createElement("li");
        empty.className = "muted empty";
        empty.textContent = "没有其他进行中的会话";
        rows.push(empty);
      }
      list.replaceChildren.apply(list, rows);
    }
    var timer = null;
    function refresh(delay) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        api("GET", "/api/v1/desk/my-open-conversations?exclude=" + convId).then(function (res) {
          render(res.items || []);
        }, function () {});
      }, delay || 400);
    }
    return { refresh: refresh };
  }

  // Sounds are made, not downloaded: a short tone, two for an alert, an alarm for a
  // complaint risk. Browsers allow audio once the user has interacted with the page.
  var audio = null;
  var TONES = { message: [660], alert: [740, 988], complaint_risk: [988, 659, 988, 659] };
  function playSound(kind) {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      audio = audio || new Ctx();
      if (audio.state === "suspended" && audio.resume) audio.resume();
      (TONES[kind] || TONES.message).forEach(function (freq, i) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.type = "sine";
        osc.frequency.value = freq;
        gain.gain.value = 0.08;
        osc.connect(gain);
        gain.connect(audio.destination);
        var at = audio.currentTime + i * 0.18;
        osc.start(at);
        osc.stop(at + 0.15);
      });
    } catch (e) { /* no audio device: the toast and the badge remain */ }
  }

  function initAlertToasts(live, counts) {
    if (!live) return;
    var box = document.createElement("div");
    box.id = "kefu-toasts";
    box.className = "toasts";
    box.setAttribute("aria-live", "assertive");
    document.body.appendChild(box);
    var shown = {};

    function buildToast(a) {
      var level = a.level === "complaint_risk" ? "complaint_risk" : "emotion";
      var t = document.createElement("div");
      t.className = "toast toast-" + level;
      t.setAttribute("role", "alert");
      t.dataset.alertId = String(a.id);
      var head = document.createElement("div");
      head.className = "toast-head";
      var strong = document.createElement("strong");
      strong.className = "toast-level";
      strong.textContent = a.level_text || LEVEL_TEXT[level];
      var who = document.createElement("span");
      who.className = "toast-customer";
      who.textContent = a.customer_name + (a.label_text ? " · " + a.label_text + " " + Number(a.score).toFixed(1) : "");
      var close = document.createElement("button");
      close.type = "button";
      close.className = "link-button toast-close";
      close.setAttribute("aria-label", "关闭");
      close.textContent = "×";
      close.addEventListener("click", function () { t.remove(); });
      head.appendChild(strong);
      head.appendChild(who);
      head.appendChild(close);
      var reason = document.createElement("p");
      reason.className = "toast-reason";
      reason.textContent = a.reason;
      var actions = document.createElement("div");
      actions.className = "toast-actions";
      var open = document.createElement("a");
      open.href = "/desk/c/" + a.conversation_id + "/";
      open.textContent = "查看会话";
      var ack = document.createElement("button");
      ack.type = "button";
      ack.className = "small primary toast-ack";
      ack.textContent = "确认";
      var error = document.createElement("p");
      error.className = "form-error";
      ack.addEventListener("click", function () {
        ack.disabled = true;
        api("POST", "/api/v1/emotion-alerts/" + a.id + "/ack").then(function (res) {
          acknowledged(t, res);
          counts.refresh(100);
        }, function (err) { ack.disabled = false; showError(error, err); });
      });
      actions.appendChild(open);
      actions.appendChild(ack);
      t.appendChild(head);
      t.appendChild(reason);
      t.appendChild(actions);
      t.appendChild(error);
      return t;
    }

    function acknowledged(t, a) {
      t.classList.add("is-acknowledged");
      var ack = $(".toast-ack", t);
      if (ack) ack.remove();
      var done = $(".toast-done", t) || document.createElement("span");
      done.className = "toast-done";
      done.textContent = (a.acknowledged_by_name || "") + " 已确认";
      $(".toast-actions", t).appendChild(done);
      setTimeout(function () { t.remove(); }, 4000);
    }

    live.on("conversation.emotion_alert", function (frame) {
      var a = frame.data;
      if (!a || shown[a.id] || (a.notify_user_ids || []).indexOf(myUserId) < 0 || a.acknowledged) return;
      shown[a.id] = true;
      box.appendChild(buildToast(a));
      while (box.children.length > 5) box.removeChild(box.firstElementChild);
      playSound(a.level === "complaint_risk" ? "complaint_risk" : "alert");
      if (inBackground() && claimOnce("alert-" + a.id)) {
        desktopNotify("alert-" + a.id, (a.level_text || "预警") + " · " + a.customer_name, a.reason,
          "/desk/c/" + a.conversation_id + "/");
      }
    });
    // A lead's whisper (悄悄话) to this agent: a toast only she sees, never the customer.
    live.on("conversation.whisper", function (frame) {
      var w = frame.data && frame.data.whisper;
      if (!w || w.agent_id !== myUserId || shown["w" + w.id]) return;
      shown["w" + w.id] = true;
      var t = document.createElement("div");
      t.className = "toast toast-whisper";
      t.setAttribute("role", "alert");
      var head = document.createElement("div");
      head.className = "toast-head";
      var strong = document.createElement("strong");
      strong.className = "toast-level";
      strong.textContent = "悄悄话 · " + (w.author_name || "组长");
      var close = document.createElement("button");
      close.type = "button";
      close.className = "link-button toast-close";
      close.setAttribute("aria-label", "关闭");
      close.textContent = "×";
      close.addEventListener("click", function () { t.remove(); });
      head.appendChild(strong);
      head.appendChild(close);
      var text = document.createElement("p");
      text.className = "toast-reason";
      text.textContent = w.text;
      var open = document.createElement("a");
      open.href = "/desk/c/" + w.conversation_id + "/";
      open.textContent = "会话 #" + w.conversation_id;
      t.appendChild(head);
      t.appendChild(text);
      t.appendChild(open);
      box.appendChild(t);
      while (box.children.length > 5) box.removeChild(box.firstElementChild);
      playSound("message");
    });
    live.on("conversation.alert_acknowledged", function (frame) {
      var a = frame.data;
      var t = a && $('.toast[data-alert-id="' + a.id + '"]', box);
      if (t && !t.classList.contains("is-acknowledged")) acknowledged(t, a);
    });
    // SLA escalation steps (升级): a toast for the people the step notifies.
    live.on("ticket.sla_escalated", function (frame) {
      var d = frame.data || {};
      var n = d.notice;
      var tk = d.ticket || {};
      if (!n || shown["esc-" + n.id] || (d.notify_user_ids || []).indexOf(myUserId) < 0) return;
      shown["esc-" + n.id] = true;
      box.appendChild(buildEscalationToast(tk, n, d.text || ""));
      while (box.children.length > 5) box.removeChild(box.firstElementChild);
      playSound("alert");
      if (inBackground() && claimOnce("escalation-" + n.id)) {
        desktopNotify("escalation-" + n.id, "SLA升级 · " + tk.number, d.text, "/desk/tickets/" + tk.id + "/");
      }
    });
  }

  function buildEscalationToast(tk, n, text) {
    var t = document.createElement("div");
    t.className = "toast toast-escalation";
    t.setAttribute("role", "alert");
    t.dataset.escalationId = String(n.id);
    var head = document.createElement("div");
    head.className = "toast-head";
    var strong = document.createElement("strong");
    strong.className = "toast-level";
    strong.textContent = "SLA升级";
    var which = document.createElement("span");
    which.className = "toast-customer";
    which.textContent = (tk.number || "") + " · " + (n.timer_label || "") + "超时";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link-button toast-close";
    close.setAttribute("aria-label", "关闭");
    close.textContent = "×";
    close.addEventListener("click", function () { t.remove(); });
    head.appendChild(strong);
    head.appendChild(which);
    head.appendChild(close);
    var reason = document.createElement("p");
    reason.className = "toast-reason";
    reason.textContent = (tk.title ? "「" + tk.title + "」 " : "") + text;
    var actions = document.createElement("div");
    actions.className = "toast-actions";
    var open = document.createElement("a");
    open.href = "/desk/tickets/" + tk.id + "/";
    open.textContent = "查看工单";
    actions.appendChild(open);
    t.appendChild(head);
    t.appendChild(reason);
    t.appendChild(actions);
    return t;
  }

  // The alerts list follows new alerts and acknowledgements (re-rendered by the server).
  function initAlertsPageRefresh(live) {
    var page = $("#kefu-alerts-page");
    if (!page || !live) return;
    var refresh = debounce(function () {
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok || r.redirected) throw new Error("alerts refresh " + r.status);
        return r.text();
      }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#kefu-alerts-page table.alerts tbody");
        var old = $("table.alerts tbody", page);
        if (fresh && old) old.replaceWith(document.importNode(fresh, true));
      }).catch(function () {});
    }, 400);
    live.on("conversation.emotion_alert", refresh);
    live.on("conversation.alert_acknowledged", refresh);
  }

  // Desktop notifications: opt-in per browser (localStorage), shown only while the tab
  // is in the background, once across this browser's desk tabs.
  function notifyWanted() {
    try { return window.localStorage.getItem(NOTIFY_KEY) === "on"; } catch (e) { return false; }
  }

  function notifyAllowed() {
    return !!window.Notification && window.Notification.permission === "granted" && notifyWanted();
  }

  function inBackground() {
    return document.hidden || (typeof document.hasFocus === "function" && !document.hasFocus());
  }

  // The first desk tab to claim ``key`` notifies; other tabs of this browser stay quiet.
  function claimOnce(key) {
    try {
      var seen = JSON.parse(window.localStorage.getItem(NOTIFIED_KEY) || "[]");
      if (seen.indexOf(key) >= 0) return false;
      seen.push(key);
      window.localStorage.setItem(NOTIFIED_KEY, JSON.stringify(seen.slice(-200)));
    } catch (e) { /* private mode: every tab notifies */ }
    return true;
  }

  function desktopNotify(key, title, body, url) {
    if (!notifyAllowed() || !inBackground()) return false;
    try {
      var n = new window.Notification(title, { body: body || "", tag: "kefu-" + key });
      n.onclick = function () {
        window.focus();
        if (url) window.location.href = url;
        if (n.close) n.close();
      };
    } catch (e) { return false; }
    return true;
  }

  function initNotifyToggle() {
    var me = $(".topbar .me");
    if (!me || !("Notification" in window)) return;
    var btn = document.createElement("button");
    btn.type = "button";
    btn.id = "kefu-notify-toggle";
    btn.className = "link-button notify-toggle";
    function label() {
      var denied = window.Notification.permission === "denied";
      var on = notifyAllowed();
      btn.textContent = denied ? "桌面通知已被浏览器阻止" : on ? "桌面通知：开" : "桌面通知：关";
      btn.title = denied ? "请在浏览器的网站设置中允许通知" : on ? "点击关闭桌面通知" : "后台时有新会话、新消息弹出桌面通知";
      btn.setAttribute("aria-pressed", on ? "true" : "false");
      btn.disabled = denied;
    }
    btn.addEventListener("click", function () {
      if (notifyAllowed()) {
        try { window.localStorage.setItem(NOTIFY_KEY, "off"); } catch (e) { /* private mode */ }
        label();
        return;
      }
      var asked = window.Notification.permission === "granted"
        ? Promise.resolve("granted") : Promise.resolve(window.Notification.requestPermission());
      asked.then(function (permission) {
        try { window.localStorage.setItem(NOTIFY_KEY, permission === "granted" ? "on" : "off"); } catch (e) { /* private mode */ }
        label();
      });
    });
    label();
    me.insertBefore(btn, me.firstChild);
  }

  // New chats given to me and my customers' new messages, while the tab is in the
  // background: a sound, and a desktop notification when opted in. The conversation
  // on screen counts as read only while the tab is in front.
  function initWorkNotifications(live, onScreenId) {
    if (!live) return;
    function announce(key, title, body, url) {
      if (!inBackground() || !claimOnce(key)) return;
      playSound("message");
      desktopNotify(key, title, body, url);
    }
    live.on("conversation.assigned", function (frame) {
      var c = conversationOf(frame);
      if (!c || c.assignee_id !== myUserId || frame.data.actor_id === myUserId) return;
      announce("assigned-" + frame.id, "新会话 · " + customerLabel(c), c.subject || "", "/desk/c/" + c.id + "/");
    });
    live.on("message.created", function (frame) {
      var m = frame.data && frame.data.message;
      var c = conversationOf(frame);
      if (!m || !c || m.direction !== "incoming" || c.assignee_id !== myUserId) return;
      var url = "/desk/c/" + c.id + "/";
      announce("message-" + m.id, "新消息 · " + customerLabel(c), m.text || (m.image_url ? "[图片]" : ""),
        c.id === onScreenId ? null : url);
    });
  }

  var inboxPage = $("#kefu-inbox");
  var conversationPage = $("#kefu-conversation");
  var wallboardPage = $("#kefu-wallboard");
  var observerPage = $("#kefu-observe");
  if (inboxPage) initInbox(inboxPage);
  if (conversationPage) initConversation(conversationPage);
  if (wallboardPage) initWallboard(wallboardPage);
  if (observerPage) initObserver(observerPage);
  initAwareness(conversationPage);
  if (conversationPage) initWhispers(conversationPage);
  window.addEventListener("beforeunload", function () { if (socket) socket.close(); });
})();
