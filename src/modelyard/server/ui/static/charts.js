// Metric history charts: bucketed histories from /ui/data/metric-history, drawn as the bucket mean
// with a min-max band (so downsampling never hides a spike), EMA smoothing, log scale, and the x axis
// by step, wall time or relative time. Each chart is first an SVG sketch (sketch.js, drawn the moment
// its data arrives), then Plotly's interactive chart once Plotly.js has loaded.
"use strict";
window.ModelyardCharts = (function () {
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];

  function readJson(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // One request per (runs, key, buckets) for the page's lifetime: changing smoothing, the x axis or
  // the scale redraws from the data already here.
  const histories = new Map();
  let preloads = {}, preloadBuckets = 0;
  function fetchHistory(runIds, key, buckets) {
    const params = new URLSearchParams();
    runIds.forEach(function (r) { params.append("run_id", r); });
    params.set("key", key);
    params.set("buckets", String(buckets || 1000));
    let url = "/ui/data/metric-history?" + params.toString();
    // The page may have preloaded this history (``<link rel="preload">``, fetched alongside the
    // scripts): use that response when its bucket count suits the chart (half to twice its width).
    const preloaded = runIds.length === 1 && preloads[key];
    if (preloaded && buckets >= preloadBuckets / 2 && buckets <= preloadBuckets * 2) { url = preloaded; }
    if (!histories.has(url)) {
      const request = fetch(url, { credentials: "same-origin" })
        .then(function (response) {
          return response.json().catch(function () { throw new Error("the server answered HTTP " + response.status); })
            .then(function (body) {
              if (!response.ok) { throw new Error(body.message || ("HTTP " + response.status)); }
              return body;
            });
        }, function () { throw new Error("the server did not answer; check that it is running, then reload"); });
      request.catch(function () { histories.delete(url); });  // a failed request is tried again next time
      histories.set(url, request);
    }
    return histories.get(url);
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

  // The runs of a response as drawable series: x values, the min-max band (when bucketed), the
  // line (smoothed when asked, the raw mean kept faint beside it).
  function prepare(body, names, settings) {
    return body.runs.filter(function (series) { return series.count > 0; }).map(function (series, i) {
      const line = ema(series.mean, settings.smooth);
      return {
        id: series.run_id,
        name: names[series.run_id] || series.run_id.slice(0, 8),
        color: COLORS[i % COLORS.length],
        x: xValues(series, settings.x),
        low: series.bucketed ? series.low : null,
        high: series.bucketed ? series.high : null,
        line: line,
        raw: settings.smooth > 0 ? series.mean : null,
      };
    });
  }

  function traces(prepared) {
    const out = [];
    prepared.forEach(function (s) {
      if (s.low) {
        out.push({ x: s.x, y: s.low, mode: "lines", line: { width: 0, color: s.color }, hoverinfo: "skip",
          showlegend: false, type: "scatter", legendgroup: s.id });
        out.push({ x: s.x, y: s.high, mode: "lines", line: { width: 0.6, color: s.color + "99" }, fill: "tonexty",
          fillcolor: s.color + "40", name: s.name + " (min–max)", type: "scatter", showlegend: false,
          legendgroup: s.id, hoverinfo: "skip" });
      }
      if (s.raw) {
        out.push({ x: s.x, y: s.raw, mode: "lines", line: { width: 1, color: s.color }, opacity: 0.3,
          showlegend: false, hoverinfo: "skip", type: "scatter", legendgroup: s.id });
      }
      out.push({ x: s.x, y: s.line, mode: s.line.length === 1 ? "markers" : "lines",
        line: { width: 1.5, color: s.color }, name: s.name, type: "scatter", legendgroup: s.id });
    });
    return out;
  }

  function title(key, body) {
    const points = body.runs.reduce(function (n, s) { return n + s.count; }, 0);
    const bucketed = body.runs.some(function (s) { return s.bucketed; });
    return key + (bucketed ? " (" + points.toLocaleString() + " points, min–max per bucket)" : "");
  }

  function xTitle(settings) {
    return settings.x === "relative" ? "seconds since start" : (settings.x === "time" ? "" : "step");
  }

  function layout(key, body, settings) {
    return {
      title: { text: title(key, body), font: { size: 13 } },
      margin: { l: 50, r: 10, t: 30, b: 40 },
      height: 280,
      xaxis: { title: { text: xTitle(settings) }, type: settings.x === "time" ? "date" : "linear" },
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

  function mark(name) { if (window.performance && performance.mark) { performance.mark(name); } }

  function clear(div) {
    if (div.dataset.renderer === "plotly" && window.Plotly) { window.Plotly.purge(div); }
    div.dataset.renderer = "";
    div.textContent = "";
  }

  // Draw one metric's chart in ``div``: the SVG sketch as soon as the data is here, then Plotly's
  // interactive chart once Plotly.js has loaded (at once when it already has). ``data-drawn="1"``
  // means the data is on screen; ``data-renderer`` says which chart it is ("svg" or "plotly").
  function draw(div, runIds, names, key, settings) {
    const generation = (div.drawGeneration || 0) + 1;
    div.drawGeneration = generation;
    const current = function () { return div.drawGeneration === generation; };
    if (div.dataset.drawn !== "1") { showMessage(div, "Loading chart of " + key + "…"); }
    div.dataset.drawn = "";
    div.setAttribute("aria-busy", "true");
    return fetchHistory(runIds, key, Math.max(200, Math.min(2000, Math.round(div.clientWidth || 800))))
      .then(function (body) {
        if (!current()) { return; }
        div.removeAttribute("aria-busy");
        const prepared = prepare(body, names, settings);
        if (!prepared.length) {
          clear(div);
          showMessage(div, "No history for " + key + " yet: it appears here once the run logs it.", "help");
          div.dataset.drawn = "empty";
          return;
        }
        if (!window.Plotly) {
          clear(div);
          window.ModelyardSketch.draw(div, prepared, { title: title(key, body), xTitle: xTitle(settings),
            xType: settings.x === "time" ? "date" : "linear", log: settings.log });
          div.dataset.renderer = "svg";
          div.dataset.drawn = "1";
          mark("modelyard:chart-drawn:" + key);
          afterPaint(function () { mark("modelyard:chart-painted:" + key); });
        }
        return plotlySoon().then(function () {
          if (!current()) { return; }
          if (div.dataset.renderer !== "plotly") { clear(div); }
          return window.Plotly.react(div, traces(prepared), layout(key, body, settings),
            { responsive: true, displaylogo: false }).then(function () {
            if (!current()) { return; }
            div.dataset.renderer = "plotly";
            div.dataset.drawn = "1";
            mark("modelyard:chart-interactive:" + key);
          });
        }, function () {  // the sketch stays; say why it does not zoom
          if (!current() || div.querySelector(".plotly-missing")) { return; }
          const p = document.createElement("p");
          p.className = "help plotly-missing";
          p.textContent = "The interactive chart is unavailable (Plotly.js did not load); reload to try again.";
          div.appendChild(p);
        });
      })
      .catch(function (error) {
        if (!current()) { return; }
        div.removeAttribute("aria-busy");
        clear(div);
        showMessage(div, "Could not load the chart of " + key + ": " + error.message + ".", "alert error");
        div.dataset.drawn = "error";
      });
  }

  function controlSettings(form, xName) {
    const x = form.querySelector("[name=" + xName + "]");
    const smooth = form.ownerDocument.querySelector("input[name=smooth]");
    const log = form.ownerDocument.querySelector("input[name=log]");
    return { x: x ? x.value : "step", smooth: smooth ? Number(smooth.value) : 0, log: log ? log.checked : false };
  }

  // Plotly.js (4.8 MB) is loaded by this script, never by the page: evaluating it keeps the page busy
  // for a second or more, so it starts only once the sketches are on screen and the browser is idle
  // (or at once when the pointer or the keyboard focus reaches a chart, or a page needs it now).
  const PLOTLY_URL = (document.currentScript && document.currentScript.dataset.plotly) || "/static/ui/plotly.min.js";
  let plotlyPromise = null;
  function plotlyReady() {
    if (window.Plotly) { return Promise.resolve(); }
    if (!plotlyPromise) {
      plotlyPromise = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = PLOTLY_URL;
        script.onload = function () { mark("modelyard:plotly-loaded"); resolve(); };
        script.onerror = function () { plotlyPromise = null; reject(new Error("Plotly.js did not load")); };
        document.head.appendChild(script);
      });
    }
    return plotlyPromise;
  }
  function afterPaint(callback) {
    requestAnimationFrame(function () { setTimeout(callback, 0); });
  }
  let soon = null;
  function plotlySoon() {
    if (window.Plotly) { return Promise.resolve(); }
    if (!soon) {
      soon = new Promise(function (resolve) {
        afterPaint(function () {
          if (window.requestIdleCallback) { window.requestIdleCallback(resolve, { timeout: 500 }); } else { setTimeout(resolve, 50); }
        });
      }).then(plotlyReady);
      soon.catch(function () { soon = null; });
    }
    return soon;
  }
  // Run ``callback`` once Plotly has loaded; if it cannot load, every chart still showing its loading
  // message says so instead of waiting for ever.
  function whenPlotly(callback) {
    plotlyReady().then(callback, function () {
      document.querySelectorAll(".chart").forEach(function (div) {
        if (div.querySelector(".loading")) {
          showMessage(div, "This chart needs Plotly.js, which did not load; reload the page to try again.", "alert error");
          div.dataset.drawn = "error";
        }
      });
    });
  }
  ["pointerover", "focusin"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      if (!window.Plotly && event.target.closest && event.target.closest(".chart")) { plotlyReady().catch(function () {}); }
    }, { passive: true });
  });

  // The run page: one chart per chosen metric key.
  function runPage() {
    const data = readJson("page-data");
    const container = document.getElementById("charts");
    const form = document.getElementById("chart-controls");
    if (!data || !container || !form || document.getElementById("compare-controls")) { return; }
    preloads = data.preload || {};
    preloadBuckets = data.preload_buckets || 0;
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
          div.tabIndex = 0;
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
    drawAll();  // fetches now; sketches on arrival, Plotly later
  }

  runPage();  // this script comes after the page's elements
  return { draw: draw, readJson: readJson, controlSettings: controlSettings, whenPlotly: whenPlotly, colors: COLORS };
})();
