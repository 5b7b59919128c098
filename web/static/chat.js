// The chat page: sends through the chat API with the page's token, and follows the
// conversation over the WebSocket, or by long-polling where WebSockets are refused.
// A reply streams in as text; once it has ended, the server's rendering replaces it.
(function () {
  "use strict";
  var root = document.getElementById("chat");
  if (!root) return;
  var token = root.dataset.token, conversation = root.dataset.conversation, slug = root.dataset.slug;
  var list = document.getElementById("messages"), form = document.getElementById("send");
  var box = document.getElementById("message"), status = document.getElementById("status");
  var usage = document.getElementById("usage"), button = form.querySelector("button");
  var auth = { Authorization: "Bearer " + token };
  var shown = {}, last = "", sending = false;

  Array.prototype.forEach.call(list.children, function (li) {
    note(li);
    if (li.dataset.status === "failed") offerAgain(li);
  });
  window.scrollTo(0, document.body.scrollHeight);

  function note(li) {
    shown[li.id] = li;
    if (li.dataset.status !== "streaming" && li.id > last) last = li.id;
  }

  // expired sends the person to sign in again, and back here after: the page's
  // token ended with its session or its hour.
  function expired() { location.reload(); }

  function item(id) {
    var li = shown[id];
    if (!li) {
      li = document.createElement("li");
      li.id = id;
      li.innerHTML = '<div class="body"></div>';
      list.appendChild(li);
      shown[id] = li;
    }
    return li;
  }

  // show puts a message on the page as the API returns it.
  function show(m) {
    var li = item(m.id);
    var ended = m.status !== "streaming";
    if (ended && li.dataset.status === m.status && li.dataset.rendered) return;
    li.className = "msg " + m.role;
    li.dataset.status = m.status;
    var body = li.querySelector(".body");
    if (m.role === "buyer") {
      body.innerHTML = '<p class="plain"></p>';
      body.firstChild.textContent = m.content;
    } else if (!ended) {
      body.textContent = m.content || "";
    } else {
      render(li, m);
    }
    if (ended && m.id > last) last = m.id;
    li.scrollIntoView({ block: "end" });
  }

  // render swaps an ended reply for the server's rendering of it.
  function render(li, m) {
    li.dataset.rendered = "1";
    fetch("/chat/" + slug + "/messages/" + m.id, { headers: auth }).then(function (r) {
      if (r.status === 401 || r.redirected) return expired();
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html == null) { li.querySelector(".body").textContent = m.content; return; }
      var t = document.createElement("template");
      t.innerHTML = html.trim();
      var fresh = t.content.firstElementChild;
      fresh.dataset.rendered = "1";
      li.replaceWith(fresh);
      shown[m.id] = fresh;
      if (m.status === "failed") offerAgain(fresh);
    });
  }

  // offerAgain gives a failed reply a button that puts the message it answered back
  // in the box.
  function offerAgain(li) {
    var again = document.createElement("button");
    again.type = "button";
    again.className = "again";
    again.textContent = "Send again";
    again.addEventListener("click", function () {
      var asked = li.previousElementSibling;
      if (asked) box.value = asked.querySelector(".body").textContent;
      box.focus();
    });
    li.appendChild(again);
  }

  function delta(d) {
    var li = shown[d.message_id];
    if (li && li.dataset.status === "streaming") li.querySelector(".body").textContent += d.delta;
  }

  function event(ev) {
    if (ev.type === "message.delta") delta(ev.data);
    else if (ev.type.indexOf("message.") === 0) show(ev.data);
  }

  // catchUp reads what the page missed, or what polling waits for.
  function catchUp(wait) {
    var url = "/api/v1/conversations/" + conversation + "/messages?limit=100&after=" + last + (wait ? "&wait=" + wait : "");
    return fetch(url, { headers: auth }).then(function (r) {
      if (r.status === 401) { expired(); throw new Error("signed out"); }
      if (!r.ok) throw new Error("status " + r.status);
      return r.json();
    }).then(function (page) { page.data.forEach(show); return page.data; });
  }

  // poll follows the conversation by long-polling: a streaming reply is read again
  // each half second until it ends.
  function poll() {
    catchUp(30).then(function (ms) {
      var streaming = ms.some(function (m) { return m.status === "streaming"; });
      setTimeout(poll, streaming ? 500 : 0);
    }, function () { setTimeout(poll, 3000); });
  }

  function connect() {
    var opened = false, ws;
    try {
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/realtime", ["lobby", "bearer." + token]);
    } catch (e) { return poll(); }
    ws.onopen = function () {
      opened = true;
      ws.send(JSON.stringify({ type: "subscribe", conversation_id: conversation }));
    };
    ws.onmessage = function (e) {
      var ev = JSON.parse(e.data);
      if (ev.type === "subscribed") catchUp(0).catch(function () {});
      else if (ev.type !== "error") event(ev);
    };
    ws.onclose = function (e) {
      if (!opened) return poll(); // refused: a proxy, a network that will not carry it
      if (e.code === 1008) return expired();
      setTimeout(connect, 1000);
    };
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = box.value;
    if (sending || !text.trim()) return;
    sending = true;
    button.disabled = true;
    status.textContent = "";
    fetch("/api/v1/chat", {
      method: "POST",
      headers: { Authorization: auth.Authorization, "Content-Type": "application/json" },
      body: JSON.stringify({ message: text, conversation_id: conversation, wait_seconds: 0 })
    }).then(function (r) {
      if (r.status === 401) return expired();
      return r.json().then(function (v) {
        if (!r.ok) { status.textContent = v.error ? v.error.message : "The message was not sent; try again."; return; }
        box.value = "";
        show(v.message);
        if (v.reply) show(v.reply);
        else if (!shown[v.reply_id]) show({ id: v.reply_id, role: "consultant", status: "streaming", content: "" });
        if (v.usage) usage.textContent = usageText(v.usage);
      });
    }).catch(function () {
      status.textContent = "The message was not sent: the connection failed. Try again.";
    }).then(function () {
      sending = false;
      button.disabled = false;
    });
  });

  // Scrolled to the top, the page reads the messages before the oldest shown from the
  // Earlier messages link's page, as a person without script would follow it.
  var loading = false;
  window.addEventListener("scroll", function () {
    var earlier = document.getElementById("earlier");
    if (loading || !earlier || window.scrollY > 80) return;
    loading = true;
    fetch(earlier.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : ""; }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var older = doc.getElementById("messages"), height = document.body.scrollHeight;
      if (!older) return;
      Array.prototype.slice.call(older.children).reverse().forEach(function (li) {
        if (shown[li.id]) return;
        var node = document.importNode(li, true);
        list.insertBefore(node, list.firstChild);
        shown[node.id] = node;
        if (node.dataset.status === "failed") offerAgain(node);
      });
      var next = doc.getElementById("earlier");
      if (next) earlier.href = next.href; else earlier.parentNode.remove();
      window.scrollBy(0, document.body.scrollHeight - height); // the person stays where they were
    }).then(function () { loading = false; }, function () { loading = false; });
  });

  box.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });

  function usageText(u) {
    // As the page writes a time: 2026-11-01 12:00:05 UTC.
    var resets = new Date(u.period_end).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    if (u.message_cap == null) {
      var s = u.messages_used + " messages this period";
      if (u.credits_cents != null) s += ", $" + (u.credits_cents / 100).toFixed(2) + " of credits left";
      return s;
    }
    var s2 = u.messages_used + " of " + u.message_cap + " messages used this period";
    return s2 + (u.messages_used >= u.message_cap ? ": the cap is reached, and resets " : "; resets ") + resets;
  }

  connect();
})();
