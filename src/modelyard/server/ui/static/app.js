// modelyard UI: behaviour shared by every page. No data from the server is ever written as HTML:
// text goes through textContent, and page state lives in the URL (history.replaceState).
"use strict";
(function () {
  const busy = document.getElementById("busy");
  function showBusy() { if (busy) busy.hidden = false; }
  window.addEventListener("pageshow", function () { if (busy) busy.hidden = true; });

  // Confirmations and the loading indicator for form posts.
  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    const message = button && button.dataset.confirm;
    if (message && !window.confirm(message)) { event.preventDefault(); return; }
    showBusy();
  });
  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("a[href]");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && link.origin === location.origin
        && !link.hash) { showBusy(); }
  });

  // Update one query parameter of the current URL without reloading.
  window.modelyardSetParam = function (name, value) {
    const url = new URL(location.href);
    if (value === null || value === "" || (Array.isArray(value) && value.length === 0)) {
      url.searchParams.delete(name);
    } else {
      url.searchParams.set(name, Array.isArray(value) ? value.join(",") : String(value));
    }
    history.replaceState(null, "", url.pathname + url.search);
  };

  // Column chooser: opening it lists every key of the experiments' runs, not only this page's.
  const chooser = document.getElementById("column-chooser");
  if (chooser && chooser.dataset.keysUrl) {
    chooser.addEventListener("toggle", function () {
      if (!chooser.open || chooser.dataset.loaded) { return; }
      chooser.dataset.loaded = "loading";
      const status = document.getElementById("chooser-status");
      status.textContent = "Loading every key of the experiment…";
      fetch(chooser.dataset.keysUrl, { headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) { throw new Error(body.message || ("HTTP " + response.status)); }
            return body;
          });
        })
        .then(function (body) {
          let cut = false;
          ["metrics", "params", "tags"].forEach(function (kind) {
            const fieldset = chooser.querySelector("fieldset[data-kind=" + kind + "]");
            if (!fieldset) { return; }
            const labels = {};
            fieldset.querySelectorAll("input[name=columns]").forEach(function (box) {
              labels[box.value.slice(kind.length + 1)] = box.closest("label");
            });
            (body[kind] || []).forEach(function (key) {
              if (labels[key]) { return; }
              const label = document.createElement("label");
              const box = document.createElement("input");
              box.type = "checkbox"; box.name = "columns"; box.value = kind + "." + key;
              label.appendChild(box);
              label.appendChild(document.createTextNode(" " + key));
              labels[key] = label;
            });
            cut = cut || (body[kind] || []).length >= body.max_keys;
            const keys = Object.keys(labels).sort();
            fieldset.querySelectorAll("p.help").forEach(function (p) {
              p.textContent = keys.length ? "" : "none in the experiments";
              p.hidden = keys.length > 0;
            });
            keys.forEach(function (key) { fieldset.appendChild(labels[key]); });
          });
          chooser.dataset.loaded = "1";
          status.textContent = "Every param, metric and tag key of the runs in the experiment" +
            (cut ? " (the first " + body.max_keys + " of each kind)." : ".");
        })
        .catch(function (error) {
          chooser.dataset.loaded = "";
          status.textContent = "Could not load every key (" + error.message + "); the keys of the runs on this page are listed. Close and open Columns to try again.";
        });
    });
  }

  // Runs table: selection, compare, nested-run collapsing.
  const form = document.getElementById("runs-form");
  if (!form) { return; }
  const boxes = Array.from(form.querySelectorAll("input[name=run_id]"));
  const selectAll = document.getElementById("select-all");
  const count = document.getElementById("selection-count");
  const compare = document.getElementById("compare-button");
  const needing = Array.from(form.querySelectorAll("[data-needs-selection]"));

  function selectedIds() { return boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; }); }
  function refresh() {
    const ids = selectedIds();
    count.textContent = ids.length + " selected";
    compare.disabled = ids.length < 1;
    needing.forEach(function (b) { b.disabled = ids.length < 1; });
    if (selectAll) { selectAll.checked = ids.length > 0 && ids.length === boxes.length; }
    window.modelyardSetParam("selected", ids);
  }
  boxes.forEach(function (b) { b.addEventListener("change", refresh); });
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = selectAll.checked; });
      refresh();
    });
  }
  compare.addEventListener("click", function () {
    const ids = selectedIds();
    if (ids.length) { showBusy(); location.href = "/compare?runs=" + encodeURIComponent(ids.join(",")); }
  });

  const collapsed = new Set((form.dataset.collapsed || "").split(",").filter(Boolean));
  const rows = Array.from(form.querySelectorAll("tr[data-run]"));
  function applyCollapse() {
    rows.forEach(function (row) {
      const ancestors = (row.dataset.ancestors || "").split(" ").filter(Boolean);
      row.hidden = ancestors.some(function (a) { return collapsed.has(a); });
    });
    form.querySelectorAll("button[data-toggle]").forEach(function (button) {
      const closed = collapsed.has(button.dataset.toggle);
      button.setAttribute("aria-expanded", closed ? "false" : "true");
      button.textContent = closed ? "▸" : "▾";
    });
    window.modelyardSetParam("collapsed", Array.from(collapsed));
  }
  form.querySelectorAll("button[data-toggle]").forEach(function (button) {
    button.addEventListener("click", function () {
      const id = button.dataset.toggle;
      if (collapsed.has(id)) { collapsed.delete(id); } else { collapsed.add(id); }
      applyCollapse();
    });
  });
  applyCollapse();
  refresh();
})();
