/*
 * KefuDeskSocket — the agent desk's realtime connection (/ws/desk/).
 * Protocol: docs/architecture.md, "Desk websocket". Session-authenticated: the page
 * must be served to a logged-in desk user (same origin).
 *
 * API
 *   var sock = new KefuDeskSocket({url?, maxBackoffMs?});   // url default: ws(s)://<host>/ws/desk/
 *   sock.connect();                          // opens; reconnects with backoff until close()
 *   sock.close();                            // stops for good
 *   var off = sock.on(name, fn);             // subscribe; returns an unsubscribe function
 *       name: an event type ("message.created", "conversation.assigned", "note.created", …)
 *               fn(event) with event = {type:"event", id, event, at, data, conversation_id?, seq?}
 *               Events about a conversation carry its id and ``seq``, which grows with every
 *               event published about it in the order the changes committed. One that
 *               arrives after a higher seq of the same conversation has ``stale: true``:
 *               its snapshot of the conversation is older than one already seen. Gaps
 *               are normal (some events go only to some users, e.g. alerts).
 *             "event"    every desk event (after de-duplication by id)
 *             "typing"   fn({conversation_id, by, name})        customer typing
 *             "read"     fn({conversation_id, by, message_id})  read receipts
 *             "history"  fn({conversation_id, messages})        answer to resume()
 *             "error"    fn({field, detail, conversation_id?})  refused frame (e.g. no access)
 *             "open"     fn({reconnect: bool})  after (re)connect; watched conversations are resumed
 *             "close"    fn({code, willRetry: bool})  "unauthorized" fn() when the session ended (4401)
 *                        code 1012: the server is restarting (it sent {type:"reconnect",
 *                        retry_after_ms} first); the socket reconnects after that spread-out
 *                        delay, through the proxy to another process, and resumes
 *             "realtime" fn({status: "degraded" | "ok"})  the server's channel layer (Redis) is
 *                        down: events stop until "ok"; then the socket has already resumed
 *                        its watched conversations and emits "open" {reconnect: true}, so
 *                        lists refresh as after a reconnect (docs/reliability.md)
 *                        A refused frame with code "unavailable" (the database restarting)
 *                        is followed by the watched conversations' resumes again after its
 *                        retry_after_ms.
 *             "access"   fn({groups})  the agent's teams or role changed; the socket already
 *                        follows them, lists on the page are as they were loaded
 *             "activity" fn({conversations: [{conversation_id, team_id, assignee_id, status,
 *                        events, incoming}]})  at most about once a second: conversations
 *                        of the agent's teams that moved, which this socket neither owns nor
 *                        has open — counts only (``incoming``: customer messages). Messages,
 *                        notes and activity lines arrive as full events only for the
 *                        conversations the agent is assigned or has open (resume / watch).
 *   sock.typing(conversationId);             // throttled to one frame per 3 s per conversation
 *   sock.read(conversationId, messageId);
 *   sock.resume(conversationId, after);      // -> "history"; also watches the conversation
 *   sock.board(teamId?);                     // team leads and above: push the wallboard
 *       "wallboard" fn({snapshot})  a fresh snapshot (docs/wallboard.md); again after a
 *                                   reconnect, after desk events and every few seconds
 *   sock.watch(conversationId, lastMessageId?) / sock.unwatch(conversationId)
 *       Watched conversations are resumed automatically after every reconnect, from the
 *       highest message id seen (via history or message.created / note.created events);
 *       resuming opens the conversation on this socket (its full events), unwatch closes it.
 *
 * Messages are sent over HTTP (POST /api/v1/conversations/{id}/messages), not here.
 */
(function (global) {
  "use strict";

  var TYPING_EVERY_MS = 3000;
  var SEEN_LIMIT = 1000;

  function KefuDeskSocket(options) {
    options = options || {};
    var proto = global.location.protocol === "https:" ? "wss:" : "ws:";
    this.url = options.url || proto + "//" + global.location.host + "/ws/desk/";
    this.maxBackoffMs = options.maxBackoffMs || 30000;
    this._handlers = {};
    this._seen = [];          // recent event ids, oldest first
    this._seenSet = {};
    this._watched = {};       // conversation id -> last message id seen
    this._restartHintMs = null;  // set by a "reconnect" frame just before a 1012 close
    this._seq = {};           // conversation id -> highest event seq seen
    this._typingAt = {};
    this._ws = null;
    this._attempt = 0;
    this._timer = null;
    this._stopped = true;
    this._opened = false;
    this._board = null;       // {team_id?} while the wallboard is wanted
    this._degraded = false;   // the server said its channel layer is down
    this._retryTimer = null;
  }

  KefuDeskSocket.prototype.on = function (name, fn) {
    (this._handlers[name] = this._handlers[name] || []).push(fn);
    var self = this;
    return function () {
      self._handlers[name] = (self._handlers[name] || []).filter(function (f) { return f !== fn; });
    };
  };

  KefuDeskSocket.prototype._emit = function (name, arg) {
    (this._handlers[name] || []).slice().forEach(function (fn) {
      try { fn(arg); } catch (e) { if (global.console) global.console.error(e); }
    });
  };

  KefuDeskSocket.prototype.connect = function () {
    this._stopped = false;
    this._open();
    return this;
  };

  KefuDeskSocket.prototype.close = function () {
    this._stopped = true;
    clearTimeout(this._timer);
    if (this._ws) this._ws.close(1000);
    this._ws = null;
  };

  KefuDeskSocket.prototype._open = function () {
    var self = this;
    clearTimeout(this._timer);
    if (this._stopped) return;
    var ws = new WebSocket(this.url);
    this._ws = ws;
    ws.onopen = function () {
      var reconnect = self._opened;
      self._opened = true;
      self._attempt = 0;
      self._degraded = false;
      self._resumeAll();
      self._emit("open", { reconnect: reconnect });
    };
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame === "object") self._frame(frame);
    };
    ws.onclose = function (ev) {
      if (self._ws !== ws) return;
      self._ws = null;
      if (ev.code === 4401) {
        self._stopped = true;
        self._emit("close", { code: ev.code, willRetry: false });
        self._emit("unauthorized");
        return;
      }
      var retry = !self._stopped;
      self._emit("close", { code: ev.code, willRetry: retry });
      if (retry && (ev.code === 1012 || ev.code === 1013)) {
        // 1012: a restart, not an outage: the other processes are up. 1013: this
        // process could not reach its database for the handshake; try again soon.
        // Come back after the server's spread-out hint (plus a little jitter of our
        // own), backoff untouched.
        var hint = self._restartHintMs !== null ? self._restartHintMs : Math.random() * 2000;
        self._restartHintMs = null;
        self._timer = setTimeout(function () { self._open(); }, hint + Math.random() * 250);
      } else if (retry) {
        var delay = Math.min(self.maxBackoffMs, 1000 * Math.pow(2, self._attempt));
        self._attempt += 1;
        self._timer = setTimeout(function () { self._open(); }, delay / 2 + Math.random() * delay / 2);
      }
    };
  };

  KefuDeskSocket.prototype._resumeAll = function () {
    var self = this;
    Object.keys(this._watched).forEach(function (id) {
      self._send({ type: "resume", conversation_id: Number(id), after: self._watched[id] });
    });
    if (this._board) this._send(this._board);
  };

  KefuDeskSocket.prototype._send = function (frame) {
    if (!this._ws || this._ws.readyState !== WebSocket.OPEN) return false;
    this._ws.send(JSON.stringify(frame));
    return true;
  };

  KefuDeskSocket.prototype._remember = function (id) {
    if (!id) return true;
    if (this._seenSet[id]) return false;
    this._seenSet[id] = true;
    this._seen.push(id);
    if (this._seen.length > SEEN_LIMIT) delete this._seenSet[this._seen.shift()];
    return true;
  };

  KefuDeskSocket.prototype._saw = function (conversationId, messageId) {
    if (conversationId in this._watched && typeof messageId === "number" && messageId > this._watched[conversationId]) {
      this._watched[conversationId] = messageId;
    }
  };

  KefuDeskSocket.prototype._frame = function (frame) {
    var self = this;
    switch (frame.type) {
      case "event":
        if (!this._remember(frame.id)) return;
        if (frame.conversation_id && typeof frame.seq === "number") {
          var last = this._seq[frame.conversation_id] || 0;
          frame.stale = frame.seq < last;
          if (frame.seq > last) this._seq[frame.conversation_id] = frame.seq;
        }
        var m = frame.data && frame.data.message;
        if (m) this._saw(m.conversation_id, m.id);
        this._emit("event", frame);
        this._emit(frame.event, frame);
        break;
      case "reconnect":
        this._restartHintMs = Math.max(0, Number(frame.retry_after_ms) || 0);
        break;
      case "history":
        (frame.messages || []).forEach(function (msg) { self._saw(frame.conversation_id, msg.id); });
        this._emit("history", frame);
        break;
      case "realtime":
        if (frame.status === "degraded") {
          this._degraded = true;
          this._emit("realtime", { status: "degraded" });
        } else if (frame.status === "ok" && this._degraded) {
          // Events published while Redis was away never came: catch up as after a reconnect.
          this._degraded = false;
          this._resumeAll();
          this._emit("realtime", { status: "ok" });
          this._emit("open", { reconnect: true });
        }
        break;
      case "error":
        if (frame.code === "unavailable") {
          clearTimeout(this._retryTimer);
          this._retryTimer = setTimeout(function () { self._resumeAll(); }, Math.max(500, Number(frame.retry_after_ms) || 2000));
        }
        this._emit(frame.type, frame);
        break;
      case "typing":
      case "read":
      case "access":
      case "activity":
      case "wallboard":
        this._emit(frame.type, frame);
        break;
      default:
        break;
    }
  };

  KefuDeskSocket.prototype.typing = function (conversationId) {
    var now = Date.now();
    if (now - (this._typingAt[conversationId] || 0) < TYPING_EVERY_MS) return false;
    if (this._send({ type: "typing", conversation_id: conversationId })) this._typingAt[conversationId] = now;
    return true;
  };

  KefuDeskSocket.prototype.read = function (conversationId, messageId) {
    return this._send({ type: "read", conversation_id: conversationId, message_id: messageId });
  };

  KefuDeskSocket.prototype.board = function (teamId) {
    this._board = teamId ? { type: "wallboard", team_id: Number(teamId) } : { type: "wallboard" };
    return this._send(this._board);
  };

  KefuDeskSocket.prototype.watch = function (conversationId, lastMessageId) {
    var current = this._watched[conversationId] || 0;
    this._watched[conversationId] = Math.max(current, lastMessageId || 0);
  };

  KefuDeskSocket.prototype.unwatch = function (conversationId) {
    delete this._watched[conversationId];
    return this._send({ type: "unwatch", conversation_id: Number(conversationId) });
  };

  KefuDeskSocket.prototype.resume = function (conversationId, after) {
    this.watch(conversationId, after || 0);
    return this._send({ type: "resume", conversation_id: conversationId, after: after || 0 });
  };

  global.KefuDeskSocket = KefuDeskSocket;
})(window);
