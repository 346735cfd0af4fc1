// Line charts in inline SVG: a few series over the same minutes, scaled to their maximum.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const WIDTH = 600, HEIGHT = 160, PAD = 18;

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Draws `series` ([{color, values}], all as long as `minutes`) into the <svg> `svg`.
  function draw(svg, minutes, series) {
    svg.replaceChildren();
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    const n = Math.max(1, minutes.length - 1);
    const x = (i) => PAD + (i * (WIDTH - 2 * PAD)) / n;
    const y = (v) => HEIGHT - PAD - (v * (HEIGHT - 2 * PAD)) / max;
    for (const f of [0, 0.5, 1]) {
      svg.append(el("line", { class: "grid", x1: PAD, x2: WIDTH - PAD, y1: y(max * f), y2: y(max * f) }));
      svg.append(el("text", { x: 2, y: y(max * f) - 2 }, formatNumber(max * f)));
    }
    if (minutes.length > 0) {
      svg.append(el("text", { x: PAD, y: HEIGHT - 4 }, clock(minutes[0])));
      svg.append(el("text", { x: WIDTH - PAD - 28, y: HEIGHT - 4 }, clock(minutes[minutes.length - 1])));
    }
    for (const s of series) {
      const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      svg.append(el("polyline", { points, stroke: s.color }));
    }
  }

  function formatNumber(v) {
    return v >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(1);
  }

  function clock(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? "" : d.toTimeString().slice(0, 5);
  }

  return { draw };
})();
