// The side panel's 12-month trend: a small inline SVG line chart, no chart library.
import { svg } from "../common/dom";

export interface TrendPoint {
  period: string;
  value: number | null;
}

export function trendChart(
  points: TrendPoint[],
  format: (v: number) => string,
  width = 300,
  height = 120,
): SVGElement {
  const pad = { l: 40, r: 8, t: 10, b: 22 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: "trend",
    role: "img",
  });
  const vals = points.map((p) => p.value).filter((v): v is number => v !== null && Number.isFinite(v));
  root.append(svg("rect", { x: pad.l, y: pad.t, width: w, height: hgt, fill: "#fafafa", stroke: "#ddd" }));
  if (points.length === 0 || vals.length === 0) return root;
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  if (lo === hi) {
    lo -= Math.abs(lo) * 0.1 || 0.05;
    hi += Math.abs(hi) * 0.1 || 0.05;
  }
  const x = (i: number) => pad.l + (points.length === 1 ? w / 2 : (i * w) / (points.length - 1));
  const y = (v: number) => pad.t + hgt - ((v - lo) / (hi - lo)) * hgt;
  for (const v of [lo, hi]) {
    root.append(svg("text", { x: pad.l - 4, y: y(v) + 4, "text-anchor": "end", class: "axis" }, format(v)));
  }
  // The line breaks where a period has no value (suppressed or not computed).
  let d = "";
  let pen = false;
  points.forEach((p, i) => {
    if (p.value === null || !Number.isFinite(p.value)) {
      pen = false;
      return;
    }
    d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`;
    pen = true;
  });
  root.append(svg("path", { d, fill: "none", stroke: "#2c7fb8", "stroke-width": 2 }));
  points.forEach((p, i) => {
    if (p.value !== null && Number.isFinite(p.value)) {
      const dot = svg("circle", { cx: x(i), cy: y(p.value), r: 3, fill: "#2c7fb8" });
      dot.append(svg("title", {}, `${p.period}: ${format(p.value)}`));
      root.append(dot);
    }
  });
  const first = points[0].period.slice(0, 7);
  const last = points[points.length - 1].period.slice(0, 7);
  root.append(svg("text", { x: pad.l, y: height - 6, class: "axis" }, first));
  root.append(svg("text", { x: pad.l + w, y: height - 6, "text-anchor": "end", class: "axis" }, last));
  return root;
}
