// The owner's consultant page: uploads a document through the knowledge API (a chosen
// or dropped file) and shows each document's ingestion moving until it is ready or
// failed, reading GET /api/v1/consultants/{slug}/knowledge each second.
(function () {
  "use strict";
  var table = document.getElementById("documents"), form = document.getElementById("upload");
  if (!table || !form) return;
  var slug = table.dataset.slug, body = table.tBodies[0], status = document.getElementById("upload-status");
  var file = document.getElementById("file"), drop = document.getElementById("drop"), api = "/api/v1/consultants/" + slug + "/knowledge";

  function row(doc) {
    var tr = document.getElementById(doc.id);
    if (!tr) {
      var empty = body.querySelector(".empty");
      if (empty) empty.remove();
      tr = document.createElement("tr");
      tr.id = doc.id;
      tr.innerHTML = "<td></td><td class=\"doc-status\"></td><td><progress></progress></td>";
      tr.cells[0].textContent = doc.title;
      body.insertBefore(tr, body.firstChild);
    }
    tr.dataset.status = doc.status;
    tr.querySelector(".doc-status").textContent = doc.status + (doc.error ? ": " + doc.error : "");
    var bar = tr.querySelector("progress");
    bar.max = Math.max(doc.chunks_total, 1);
    bar.value = doc.status === "ready" ? bar.max : doc.chunks_done;
    bar.setAttribute("aria-label", "Progress of " + doc.title);
    bar.textContent = doc.chunks_done + " of " + doc.chunks_total;
  }

  function busy() {
    return Array.prototype.some.call(body.rows, function (tr) {
      return tr.dataset.status && tr.dataset.status !== "ready" && tr.dataset.status !== "failed";
    });
  }

  var watching = false;
  function watch() {
    if (watching || !busy()) return;
    watching = true;
    (function tick() {
      fetch(api + "?limit=100", { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { location.reload(); throw new Error("signed out"); }
        return r.json();
      }).then(function (page) {
        page.data.forEach(row);
        if (busy()) setTimeout(tick, 1000); else watching = false;
      }, function () { setTimeout(tick, 3000); });
    })();
  }

  function upload(f) {
    var data = new FormData();
    data.append("file", f);
    var title = document.getElementById("title").value;
    if (title) data.append("title", title);
    status.textContent = "";
    fetch(api, { method: "POST", body: data, credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (v) {
        if (!r.ok) { status.textContent = v.error ? v.error.message : "The upload failed; try again."; return; }
        form.reset();
        row(v.document);
        watch();
      });
    }, function () { status.textContent = "The upload failed: the connection broke. Try again."; });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (file.files.length) upload(file.files[0]);
  });
  ["dragenter", "dragover"].forEach(function (type) {
    form.addEventListener(type, function (e) { e.preventDefault(); form.classList.add("dropping"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    form.addEventListener(type, function () { form.classList.remove("dropping"); });
  });
  form.addEventListener("drop", function (e) {
    e.preventDefault();
    if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });
  drop.hidden = false;
  watch();
})();
