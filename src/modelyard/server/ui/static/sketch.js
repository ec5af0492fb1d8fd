// A light-weight SVG line chart, drawn the moment a metric's history arrives: axes with ticks, the
// min-max band of each bucket and the (smoothed) line, one colour per run. Plotly.js (4.8 MB, over a
// second to evaluate on a slow machine) replaces it with the interactive chart once it has loaded.
// Text goes in with textContent only.
"use strict";
window.ModelyardSketch = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const HEIGHT = 280;
  const M = { l: 56, r: 12, t: 28, b: 36 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function text(parent, x, y, content, attrs) {
    const node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = content;
    return node;
  }

  // About ``count`` round tick values between lo and hi (1, 2 or 5 times a power of ten apart).
  function ticks(lo, hi, count) {
    if (!(hi > lo)) { return [lo]; }
    const raw = (hi - lo) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(function (m) { return m * power; }).find(function (s) { return s >= raw; });
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) { out.push(Math.abs(v) < step * 1e-9 ? 0 : v); }
    return out;
  }

  function label(v) {
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) { return v.toExponential(1); }
    return String(Number(v.toPrecision(4)));
  }

  function timeLabel(ms, span) {
    const d = new Date(ms);
    const iso = d.toISOString();
    return span > 2 * 86400000 ? iso.slice(5, 10) : iso.slice(11, span > 3600000 ? 16 : 19);
  }

  function finite(v) { return v !== null && v !== undefined && isFinite(v); }

  // series: [{name, color, x: [...], low, high (or null), line, raw (or null)}]
  // options: {title, xTitle, xType: "linear" | "date", log}
  function draw(div, series, options) {
    const width = Math.max(240, Math.round(div.clientWidth || 800) - 8);
    const w = width - M.l - M.r, h = HEIGHT - M.t - M.b;
    const ty = options.log ? function (v) { return v > 0 ? Math.log10(v) : null; } : function (v) { return v; };
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    series.forEach(function (s) {
      s.x.forEach(function (x) { const n = +x; if (n < x0) { x0 = n; } if (n > x1) { x1 = n; } });
      [s.low, s.high, s.line, s.raw].forEach(function (ys) {
        (ys || []).forEach(function (v) { const t = finite(v) ? ty(v) : null; if (t !== null) { if (t < y0) { y0 = t; } if (t > y1) { y1 = t; } } });
      });
    });
    if (!isFinite(x0)) { x0 = 0; x1 = 1; }
    if (!isFinite(y0)) { y0 = 0; y1 = 1; }
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;
    const sx = function (x) { return M.l + (x - x0) / (x1 - x0) * w; };
    const sy = function (t) { return M.t + (1 - (t - y0) / (y1 - y0)) * h; };

    const svg = el("svg", { width: width, height: HEIGHT, viewBox: "0 0 " + width + " " + HEIGHT, class: "sketch",
      "font-size": "11", "font-family": "system-ui, sans-serif" });
    el("title", {}, svg).textContent = options.title;
    text(svg, width / 2, 16, options.title, { "text-anchor": "middle", "font-size": "13", fill: "#1f2430" });

    const axes = el("g", { stroke: "#d8dde6", fill: "#5b6475" }, svg);
    ticks(y0, y1, 5).forEach(function (t) {
      const y = sy(t).toFixed(1);
      el("line", { x1: M.l, x2: M.l + w, y1: y, y2: y }, axes);
      text(axes, M.l - 6, +y + 4, options.log ? label(Math.pow(10, t)) : label(t), { "text-anchor": "end", stroke: "none" });
    });
    const xticks = options.xType === "date" ? ticks(x0, x1, 5) : ticks(x0, x1, 6);
    xticks.forEach(function (t) {
      const x = sx(t).toFixed(1);
      el("line", { x1: x, x2: x, y1: M.t + h, y2: M.t + h + 4 }, axes);
      text(axes, x, M.t + h + 16, options.xType === "date" ? timeLabel(t, x1 - x0) : label(t), { "text-anchor": "middle", stroke: "none" });
    });
    el("rect", { x: M.l, y: M.t, width: w, height: h, fill: "none" }, axes);
    const many = series.length > 1;
    if (options.xTitle) {
      text(axes, many ? M.l : M.l + w / 2, HEIGHT - 4, options.xTitle, { "text-anchor": many ? "start" : "middle", stroke: "none" });
    }

    function path(xs, ys) {
      let d = "", pen = false;
      for (let i = 0; i < xs.length; i++) {
        const t = finite(ys[i]) ? ty(ys[i]) : null;
        if (t === null) { pen = false; continue; }
        d += (pen ? "L" : "M") + sx(+xs[i]).toFixed(1) + " " + sy(t).toFixed(1);
        pen = true;
      }
      return d;
    }
    function band(xs, low, high) {
      let d = "";
      let run = [];
      function close() {
        if (run.length) {
          d += "M" + run.map(function (i) { return sx(+xs[i]).toFixed(1) + " " + sy(ty(high[i])).toFixed(1); }).join("L");
          d += "L" + run.slice().reverse().map(function (i) { return sx(+xs[i]).toFixed(1) + " " + sy(ty(low[i])).toFixed(1); }).join("L") + "Z";
        }
        run = [];
      }
      for (let i = 0; i < xs.length; i++) {
        if (finite(low[i]) && finite(high[i]) && ty(low[i]) !== null && ty(high[i]) !== null) { run.push(i); } else { close(); }
      }
      close();
      return d;
    }

    const plot = el("g", { "stroke-linejoin": "round", fill: "none" }, svg);
    series.forEach(function (s) {
      if (s.low && s.high) {
        el("path", { d: band(s.x, s.low, s.high), fill: s.color, "fill-opacity": "0.25", stroke: s.color, "stroke-opacity": "0.5", "stroke-width": "0.6", class: "band" }, plot);
      }
      if (s.raw) { el("path", { d: path(s.x, s.raw), stroke: s.color, "stroke-opacity": "0.3", "stroke-width": "1" }, plot); }
      if (s.line.length === 1 && finite(s.line[0]) && ty(s.line[0]) !== null) {
        el("circle", { cx: sx(+s.x[0]), cy: sy(ty(s.line[0])), r: 3, fill: s.color, class: "line" }, plot);
      } else {
        el("path", { d: path(s.x, s.line), stroke: s.color, "stroke-width": "1.5", class: "line" }, plot);
      }
    });
    if (many) {  // a one-line legend under the plot, as far as it fits
      let lx = M.l + 130;
      series.forEach(function (s) {
        const room = 24 + Math.min(160, 6.5 * s.name.length);
        if (lx + room > width) { return; }
        el("rect", { x: lx, y: HEIGHT - 10, width: 10, height: 3, fill: s.color }, svg);
        text(svg, lx + 14, HEIGHT - 4, s.name, { fill: "#1f2430" });
        lx += room;
      });
    }
    div.textContent = "";
    div.appendChild(svg);
    div.sketch = { x0: x0, x1: x1, y0: y0, y1: y1, series: series };  // for tests and debugging
  }

  return { draw: draw };
})();
