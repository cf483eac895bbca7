// authsmtp web UI: small progressive enhancements. Every page works
// without this script; it adds the password meter and generator, and live
// new-mail updates in webmail.
"use strict";

(function () {
  // Same estimate as the server (webui/password.go), so they agree.
  var common = ["password", "123456", "qwerty", "letmein", "welcome", "admin", "iloveyou", "monkey", "dragon", "abc123", "passw0rd", "secret"];
  function bits(pw, context) {
    var lower = false, upper = false, digit = false, other = false, seen = {}, n = 0;
    for (var ch of pw) {
      n++; seen[ch] = true;
      if (ch.toLowerCase() !== ch.toUpperCase()) { if (ch === ch.toLowerCase()) lower = true; else upper = true; }
      else if (/[0-9]/.test(ch)) digit = true; else other = true;
    }
    var pool = (lower ? 26 : 0) + (upper ? 26 : 0) + (digit ? 10 : 0) + (other ? 33 : 0);
    if (!pool) return 0;
    var distinct = Object.keys(seen).length;
    if (distinct * 2 < n) n = distinct * 2;
    var b = n * Math.log2(pool), l = pw.toLowerCase();
    common.forEach(function (w) { if (l.indexOf(w) >= 0) b -= 20; });
    (context || "").toLowerCase().split(/[.@]/).forEach(function (p) { if (p.length >= 3 && l.indexOf(p) >= 0) b -= 15; });
    return b;
  }

  document.querySelectorAll(".meter").forEach(function (m) {
    var input = document.getElementById(m.dataset.for);
    if (!input) return;
    var form = input.form, min = parseFloat(m.dataset.min || "50");
    var bar = m.querySelector("span"), label = m.querySelector("em");
    function update() {
      var v = input.value, b = bits(v, form && form.dataset.context);
      var pct = Math.max(0, Math.min(100, b / (min * 1.6) * 100));
      var c = b < min * 0.6 ? "#ef4444" : b < min ? "#f59e0b" : "#22c55e";
      var t = !v ? "" : v.length < 10 ? "too short" : b < min * 0.6 ? "weak" : b < min ? "almost" : b < min * 1.5 ? "good" : "strong";
      bar.style.setProperty("--w", (v ? pct : 0) + "%");
      bar.style.setProperty("--c", c);
      label.textContent = t;
    }
    input.addEventListener("input", update);
    update();
  });

  document.querySelectorAll("button.gen").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.!@#%";
      var buf = new Uint32Array(20), out = "";
      crypto.getRandomValues(buf);
      for (var i = 0; i < buf.length; i++) out += alphabet[buf[i] % alphabet.length];
      var a = document.getElementById(btn.dataset.gen), b = document.getElementById(btn.dataset.confirm);
      if (a) { a.value = out; a.dispatchEvent(new Event("input")); a.select(); }
      if (b) b.value = out;
    });
  });

  // Live new mail: the folder list and unread counts follow server-sent
  // events; a list page offers to show new messages.
  var folders = document.getElementById("folders");
  if (folders && window.EventSource) {
    var es = new EventSource("/mail/events");
    var list = document.getElementById("messages");
    es.addEventListener("mail", function (ev) {
      var e; try { e = JSON.parse(ev.data); } catch (x) { return; }
      if (e.kind !== "new") return;
      folders.querySelectorAll("a").forEach(function (a) {
        if (a.dataset.mailbox !== e.mailbox) return;
        var c = a.querySelector(".count");
        if (!c) { c = document.createElement("b"); c.className = "count"; c.textContent = "0"; a.appendChild(c); }
        c.textContent = String((parseInt(c.textContent, 10) || 0) + 1);
      });
      var cur = list ? list.dataset.folder : (document.querySelector("#folders a.active") || {}).dataset;
      var banner = document.getElementById("new-mail");
      if (banner && (!list || list.dataset.folder === e.mailbox)) banner.classList.remove("hidden");
    });
  }
})();
