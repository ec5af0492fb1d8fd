// Compare runs: parallel coordinates, scatter, contour and a metric overlay, all from the page's
// JSON data block; every control writes its value into the URL.
"use strict";
(function () {
  const C = window.ModelyardCharts;
  const data = C.readJson("page-data");
  const settings = C.readJson("page-settings");
  const form = document.getElementById("compare-controls");
  if (!data || !settings || !form) { return; }
  const names = data.runs.map(function (r) { return r.name || r.id.slice(0, 8); });
  const config = { responsive: true, displaylogo: false };

  function column(field) {
    const raw = data.values.map(function (v) { return field in v ? v[field] : null; });
    const numeric = raw.every(function (v) { return v === null || (v !== "" && !isNaN(Number(v))); });
    return numeric ? raw.map(function (v) { return v === null ? null : Number(v); }) : raw;
  }
  function isNumeric(values) { return values.every(function (v) { return v === null || typeof v === "number"; }); }

  function done(div) { return function () { div.dataset.drawn = "1"; }; }

  function axis(field) {
    const values = column(field);
    if (isNumeric(values)) {
      const finite = values.filter(function (v) { return v !== null && isFinite(v); });
      return { label: field, values: values, min: Math.min.apply(null, finite), max: Math.max.apply(null, finite) };
    }
    const levels = Array.from(new Set(values.map(String))).sort();
    return { label: field, values: values.map(function (v) { return levels.indexOf(String(v)); }),
      levels: levels, min: 0, max: Math.max(levels.length - 1, 1) };
  }

  function parcoords() {
    const div = document.getElementById("parcoords");
    const dims = Array.from(document.querySelectorAll("input[name=dims]:checked")).map(function (b) { return b.value; });
    if (!dims.length) { div.textContent = "Choose one or more axes above."; return; }
    const axes = dims.map(axis);
    div.textContent = "";
    // Drawn with SVG lines (one per run, each axis scaled to [0, 1]) rather than Plotly's WebGL
    // parcoords, which renders blank on machines without a GPU.
    const traces = data.runs.map(function (run, i) {
      return { type: "scatter", mode: "lines+markers", name: names[i], x: axes.map(function (_, j) { return j; }),
        y: axes.map(function (a) {
          const v = a.values[i];
          return v === null || v === -1 ? null : (a.max > a.min ? (v - a.min) / (a.max - a.min) : 0.5);
        }),
        text: axes.map(function (a) { const v = a.values[i]; return a.levels ? a.levels[v] : String(v); }),
        hovertemplate: "%{text}<extra>" + names[i] + "</extra>", line: { color: C.colors[i % C.colors.length] } };
    });
    const annotations = [];
    axes.forEach(function (a, j) {
      const top = a.levels ? a.levels[a.levels.length - 1] : Number(a.max.toPrecision(5));
      const bottom = a.levels ? a.levels[0] : Number(a.min.toPrecision(5));
      annotations.push({ x: j, y: 1.04, text: String(top), showarrow: false, font: { size: 10 } });
      annotations.push({ x: j, y: -0.06, text: String(bottom), showarrow: false, font: { size: 10 } });
    });
    const shapes = axes.map(function (_, j) {
      return { type: "line", x0: j, x1: j, y0: 0, y1: 1, line: { color: "#888", width: 1 } };
    });
    window.Plotly.react(div, traces, {
      margin: { l: 40, r: 40, t: 30, b: 60 }, height: 360, annotations: annotations, shapes: shapes,
      xaxis: { tickvals: axes.map(function (_, j) { return j; }), ticktext: dims, zeroline: false, showgrid: false,
        range: [-0.3, axes.length - 0.7], side: "top" },
      yaxis: { visible: false, range: [-0.12, 1.1] },
    }, config).then(done(div));
  }

  function scatter() {
    const div = document.getElementById("scatter");
    const x = column(settings.x), y = column(settings.y);
    div.textContent = "";
    window.Plotly.react(div, [{ type: "scatter", mode: "markers+text", x: x, y: y, text: names,
      textposition: "top center", marker: { size: 10, color: "#1f77b4" } }],
      { margin: { l: 60, r: 10, t: 20, b: 50 }, height: 340, xaxis: { title: { text: settings.x } },
        yaxis: { title: { text: settings.y } } }, config).then(done(div));
  }

  function contour() {
    const div = document.getElementById("contour");
    const x = column(settings.x), y = column(settings.y), z = column(settings.z);
    div.textContent = "";
    if (!(isNumeric(x) && isNumeric(y) && isNumeric(z))) {
      const p = document.createElement("p");
      p.className = "help";
      p.textContent = "A contour needs numbers on X, Y and colour; choose numeric fields.";
      div.appendChild(p);
      return;
    }
    window.Plotly.react(div, [
      { type: "contour", x: x, y: y, z: z, connectgaps: true, colorscale: "Viridis",
        colorbar: { title: { text: settings.z } }, contours: { coloring: "heatmap" } },
      { type: "scatter", mode: "markers", x: x, y: y, text: names, marker: { color: "#fff", size: 7,
        line: { color: "#000", width: 1 } }, showlegend: false },
    ], { margin: { l: 60, r: 10, t: 20, b: 50 }, height: 340, xaxis: { title: { text: settings.x } },
      yaxis: { title: { text: settings.y } } }, config).then(done(div));
  }

  function overlay() {
    const div = document.getElementById("overlay");
    if (!div || !settings.metric) { return; }
    const byId = {};
    data.runs.forEach(function (r) { byId[r.id] = r.name; });
    C.draw(div, data.runs.map(function (r) { return r.id; }), byId, settings.metric, C.controlSettings(form, "x_axis"));
  }

  document.querySelectorAll("[form=compare-controls]").forEach(function (el) {
    el.addEventListener(el.type === "range" ? "input" : "change", function () {
      if (el.name === "dims") {
        settings.dims = Array.from(document.querySelectorAll("input[name=dims]:checked")).map(function (b) { return b.value; });
        window.modelyardSetParam("dims", settings.dims);
        C.whenPlotly(parcoords);
        return;
      }
      if (el.name === "x_axis" || el.name === "smooth" || el.name === "log") {
        const s = C.controlSettings(form, "x_axis");
        window.modelyardSetParam("x_axis", s.x === "step" ? null : s.x);
        window.modelyardSetParam("smooth", s.smooth ? s.smooth : null);
        window.modelyardSetParam("log", s.log ? "1" : null);
        const out = document.getElementById("smooth-value");
        if (out) { out.textContent = String(s.smooth); }
        overlay();
        return;
      }
      settings[el.name] = el.value;
      window.modelyardSetParam(el.name, el.value);
      if (el.name === "metric") { const d = document.getElementById("overlay"); if (d) { d.dataset.key = el.value; } overlay(); C.whenPlotly(parcoords); }
      else { C.whenPlotly(scatter); C.whenPlotly(contour); }
    });
  });
  overlay();  // its data request goes out first
  C.whenPlotly(function () { parcoords(); scatter(); contour(); });
})();
