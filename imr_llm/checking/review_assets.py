"""The review page's stylesheet and script, inlined into every page it writes."""

from __future__ import annotations

REVIEW_CSS = """
header.top { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; gap: 6px 18px;
  align-items: center; padding: 8px 14px; background: #fff; border-bottom: 1px solid var(--line); }
.small { font-size: 12px; }
.layout { display: grid; grid-template-columns: 230px 1fr; min-height: calc(100vh - 48px); }
nav#list { border-right: 1px solid var(--line); background: #fff; overflow-y: auto;
  max-height: calc(100vh - 48px); position: sticky; top: 48px; }
nav#list a { display: block; padding: 5px 10px; color: inherit; text-decoration: none;
  border-bottom: 1px solid #eef0f3; }
nav#list a .muted { display: block; }
nav#list a.current { background: #e8eefc; box-shadow: inset 3px 0 #3b63d6; }
nav#list a[hidden] { display: none; }
main { padding: 12px 16px; min-width: 0; }
.cols { display: grid; grid-template-columns: minmax(0, 1.25fr) minmax(0, 1fr); gap: 14px; }
pre.letter-text { white-space: pre-wrap; word-wrap: break-word; background: #fff; margin: 0;
  padding: 10px 12px; border: 1px solid var(--line); font: 12.5px/1.5 ui-monospace, Menlo,
  Consolas, monospace; }
.record table.fields { width: 100%; margin-bottom: 4px; }
.record th { width: 34%; font-weight: 500; }
tr.span { cursor: pointer; }
tr.span:hover, tr.span:focus { background: #f1f5ff; outline: none; }
.problems { background: #fffaf0; border: 1px solid #f0c36d; padding: 6px 10px; margin: 8px 0 12px; }
.problems h3 { margin-top: 4px; }
.problems table { width: 100%; }
.error { color: #a01616; font-weight: 600; }
ul.warn { margin: 6px 0; padding-left: 20px; }
mark { background: none; color: inherit; border-radius: 2px; }
mark.anchor_only { background: #e4edfb; }
mark.llm_only { background: #eadcff; border-bottom: 2px dashed #7d4fd0; }
mark.agreed { background: #c9efc9; }
mark.corrected { background: #ffd59e; }
mark.conflict { background: #ffb4b4; outline: 1px solid #d03030; }
mark.flash { outline: 3px solid #3b63d6; }
.legend mark { padding: 0 4px; margin-right: 2px; font-size: 12px; }
.pill { font-size: 11px; padding: 0 5px; border-radius: 8px; white-space: nowrap; }
.pill.anchor_only { background: #e4edfb; }
.pill.llm_only { background: #eadcff; }
.pill.agreed { background: #c9efc9; }
.pill.corrected { background: #ffd59e; }
.pill.conflict { background: #ffb4b4; }
details summary { cursor: pointer; color: var(--muted); }
"""

REVIEW_JS = r"""
(function () {
  "use strict";
  var letters = Array.prototype.slice.call(document.querySelectorAll("article.letter"));
  var entries = Array.prototype.slice.call(document.querySelectorAll("#list a"));
  var only = document.getElementById("only-review");
  var empty = document.getElementById("empty");
  var current = -1;

  function allowed(i) { return !only.checked || letters[i].dataset.review === "1"; }

  function remember() {
    var hash = "#" + (only.checked ? "review&" : "");
    hash += current >= 0 ? "letter=" + (current + 1) : "";
    try { history.replaceState(null, "", hash); } catch (e) { /* file: URLs may refuse */ }
  }

  function show(i) {
    current = i;
    letters.forEach(function (el, k) { el.hidden = k !== i; });
    entries.forEach(function (el, k) { el.classList.toggle("current", k === i); });
    empty.hidden = i >= 0;
    empty.textContent = only.checked ? "No letter needs review." : "No letters.";
    if (i >= 0) { entries[i].scrollIntoView({ block: "nearest" }); window.scrollTo(0, 0); }
    remember();
  }

  function firstAllowed() {
    for (var k = 0; k < letters.length; k++) { if (allowed(k)) { return k; } }
    return -1;
  }

  function applyFilter() {
    entries.forEach(function (el, k) { el.hidden = !allowed(k); });
    document.body.classList.toggle("filtered", only.checked);
    show(current >= 0 && allowed(current) ? current : firstAllowed());
  }

  function step(delta) {
    for (var k = current + delta; k >= 0 && k < letters.length; k += delta) {
      if (allowed(k)) { show(k); return; }
    }
  }

  function flash(field) {
    if (current < 0) { return; }
    var marks = letters[current].querySelectorAll("mark[data-f]");
    var hits = Array.prototype.filter.call(marks, function (m) {
      return m.dataset.f.split(" ").indexOf(field) >= 0;
    });
    Array.prototype.forEach.call(marks, function (m) { m.classList.remove("flash"); });
    hits.forEach(function (m) { m.classList.add("flash"); });
    if (hits.length) { hits[0].scrollIntoView({ block: "center" }); }
  }

  function fromHash() {
    var start = 0;
    location.hash.slice(1).split("&").forEach(function (part) {
      if (part === "review") { only.checked = true; }
      var m = /^letter=(.+)$/.exec(part);
      if (m) {
        var want = decodeURIComponent(m[1]);
        var n = parseInt(want, 10);
        var k = String(n) === want ? n - 1 : letters.findIndex(function (el) {
          return el.dataset.name === want;
        });
        if (k >= 0 && k < letters.length) { start = k; }
      }
    });
    current = start;
  }

  entries.forEach(function (el, k) {
    el.addEventListener("click", function (ev) { ev.preventDefault(); show(k); });
  });
  only.addEventListener("change", applyFilter);
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest ? ev.target.closest("[data-field]") : null;
    if (row) { flash(row.dataset.field); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var tag = ev.target && ev.target.tagName;
    if (tag === "INPUT" && ev.target.type !== "checkbox" || tag === "TEXTAREA") { return; }
    if (ev.key === "j" || ev.key === "ArrowRight") { step(1); ev.preventDefault(); }
    else if (ev.key === "k" || ev.key === "ArrowLeft") { step(-1); ev.preventDefault(); }
    else if (ev.key === "r") { only.checked = !only.checked; applyFilter(); }
    else if (ev.key === "Enter" && ev.target.dataset && ev.target.dataset.field) {
      flash(ev.target.dataset.field);
    }
  });
  fromHash();
  applyFilter();
})();
"""
