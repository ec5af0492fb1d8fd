// Metric history charts (Plotly): bucketed histories from /ui/data/metric-history, drawn as the
// bucket mean with a min-max band (so downsampling never hides a spike), EMA smoothing, log scale,
// and the x axis by step, wall time or relative time.
"use strict";
window.ModelyardCharts = (function () {
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];

  function readJson(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function fetchHistory(runIds, key, buckets) {
    const params = new URLSearchParams();
    runIds.forEach(function (r) { params.append("run_id", r); });
    params.set("key", key);
    params.set("buckets", String(buckets || 1000));
    return fetch("/ui/data/metric-history?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.message || ("HTTP " + response.status)); }
          return body;
        });
      });
  }

  function ema(values, weight) {
    if (!weight) { return values; }
    const out = [];
    let last = 0, debias = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null) { out.push(null); continue; }
      last = last * weight + (1 - weight) * v;
      debias = debias * weight + (1 - weight);
      out.push(last / debias);
    }
    return out;
  }

  function xValues(series, axis) {
    if (axis === "time") { return series.timestamp.map(function (t) { return new Date(t); }); }
    if (axis === "relative") {
      const first = series.timestamp.length ? Math.min.apply(null, series.timestamp) : 0;
      return series.timestamp.map(function (t) { return (t - first) / 1000; });
    }
    return series.step;
  }

  function traces(body, names, settings) {
    const out = [];
    body.runs.forEach(function (series, i) {
      const color = COLORS[i % COLORS.length];
      const name = names[series.run_id] || series.run_id.slice(0, 8);
      const x = xValues(series, settings.x);
      if (series.bucketed) {
        out.push({ x: x, y: series.low, mode: "lines", line: { width: 0, color: color }, hoverinfo: "skip",
          showlegend: false, type: "scatter", legendgroup: series.run_id });
        out.push({ x: x, y: series.high, mode: "lines", line: { width: 0.6, color: color + "99" }, fill: "tonexty",
          fillcolor: color + "40", name: name + " (min–max)", type: "scatter", showlegend: false,
          legendgroup: series.run_id, hoverinfo: "skip" });
      }
      if (settings.smooth > 0) {
        out.push({ x: x, y: series.mean, mode: "lines", line: { width: 1, color: color }, opacity: 0.3,
          showlegend: false, hoverinfo: "skip", type: "scatter", legendgroup: series.run_id });
      }
      out.push({ x: x, y: ema(series.mean, settings.smooth), mode: series.mean.length === 1 ? "markers" : "lines",
        line: { width: 1.5, color: color }, name: name, type: "scatter", legendgroup: series.run_id });
    });
    return out;
  }

  function layout(key, body, settings) {
    const points = body.runs.reduce(function (n, s) { return n + s.count; }, 0);
    const bucketed = body.runs.some(function (s) { return s.bucketed; });
    return {
      title: { text: key + (bucketed ? " (" + points.toLocaleString() + " points, min–max per bucket)" : ""), font: { size: 13 } },
      margin: { l: 50, r: 10, t: 30, b: 40 },
      height: 280,
      xaxis: { title: { text: settings.x === "relative" ? "seconds since start" : (settings.x === "time" ? "" : "step") },
        type: settings.x === "time" ? "date" : "linear" },
      yaxis: { type: settings.log ? "log" : "linear" },
      legend: { orientation: "h" },
      showlegend: body.runs.length > 1,
    };
  }

  function showMessage(div, text, cls) {
    div.textContent = "";
    const p = document.createElement("p");
    p.className = cls || "loading";
    p.textContent = text;
    div.appendChild(p);
  }

  function draw(div, runIds, names, key, settings) {
    showMessage(div, "Loading chart of " + key + "…");
    div.dataset.drawn = "";
    return fetchHistory(runIds, key, Math.max(200, Math.min(2000, Math.round(div.clientWidth || 800))))
      .then(function (body) {
        plotlyReady();  // only now: evaluating Plotly blocks the page and would hold the request up
        if (!body.runs.some(function (s) { return s.count > 0; })) {
          showMessage(div, "No history for " + key + ".", "help");
          return;
        }
        return plotlyReady().then(function () {
          div.textContent = "";
          return window.Plotly.react(div, traces(body, names, settings), layout(key, body, settings),
            { responsive: true, displaylogo: false });
        }).then(function () { div.dataset.drawn = "1"; });
      })
      .catch(function (error) { showMessage(div, "Could not load " + key + ": " + error.message, "alert error"); });
  }

  function controlSettings(form, xName) {
    const x = form.querySelector("[name=" + xName + "]");
    const smooth = form.ownerDocument.querySelector("input[name=smooth]");
    const log = form.ownerDocument.querySelector("input[name=log]");
    return { x: x ? x.value : "step", smooth: smooth ? Number(smooth.value) : 0, log: log ? log.checked : false };
  }

  // Plotly.js (4.8 MB) is loaded by this script once the first chart data has arrived: evaluating it
  // keeps the page busy for a while, and the data request should not wait behind it.
  let plotlyPromise = null;
  function plotlyReady() {
    if (window.Plotly) { return Promise.resolve(); }
    if (!plotlyPromise) {
      plotlyPromise = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = "/static/ui/plotly.min.js";
        script.onload = function () { resolve(); };
        script.onerror = function () { reject(new Error("Plotly.js did not load")); };
        document.head.appendChild(script);
      });
    }
    return plotlyPromise;
  }
  function whenPlotly(callback) { plotlyReady().then(callback); }

  // The run page: one chart per chosen metric key.
  function runPage() {
    const data = readJson("page-data");
    const container = document.getElementById("charts");
    const form = document.getElementById("chart-controls");
    if (!data || !container || !form || document.getElementById("compare-controls")) { return; }
    const names = {};
    data.runs.forEach(function (r) { names[r.id] = r.name; });
    const ids = data.runs.map(function (r) { return r.id; });

    function keys() {
      return Array.from(document.querySelectorAll("input[name=charts]:checked")).map(function (b) { return b.value; });
    }
    function drawAll() {
      const settings = controlSettings(form, "x");
      const wanted = keys();
      Array.from(container.children).forEach(function (div) {
        if (wanted.indexOf(div.dataset.key) < 0) { container.removeChild(div); }
      });
      wanted.forEach(function (key) {
        let div = Array.from(container.children).find(function (d) { return d.dataset.key === key; });
        if (!div) {
          div = document.createElement("div");
          div.className = "chart";
          div.dataset.key = key;
          div.setAttribute("role", "img");
          div.setAttribute("aria-label", "Chart of " + key);
          container.appendChild(div);
        }
        draw(div, ids, names, key, settings);
      });
    }
    function syncUrl() {
      const s = controlSettings(form, "x");
      window.modelyardSetParam("charts", keys());
      window.modelyardSetParam("x", s.x === "step" ? null : s.x);
      window.modelyardSetParam("smooth", s.smooth ? s.smooth : null);
      window.modelyardSetParam("log", s.log ? "1" : null);
      const out = document.getElementById("smooth-value");
      if (out) { out.textContent = String(s.smooth); }
    }
    document.querySelectorAll("#chart-controls select, #chart-controls input, input[name=charts]").forEach(function (el) {
      el.addEventListener("change", function () { syncUrl(); drawAll(); });
    });
    const smooth = form.querySelector("input[name=smooth]");
    if (smooth) { smooth.addEventListener("input", function () { syncUrl(); drawAll(); }); }
    drawAll();  // fetches now; draws once Plotly has loaded
  }

  runPage();  // this script comes after the page's elements
  return { draw: draw, readJson: readJson, controlSettings: controlSettings, whenPlotly: whenPlotly, colors: COLORS };
})();
