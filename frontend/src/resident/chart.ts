// A small time chart in plain SVG (no chart library, nothing from a CDN): one or two
// series of values over time, the target band shaded, large dots for the elderly eye.
// Home readings are drawn as diamonds. Built with createElementNS, never innerHTML.
import { svg } from "../common/dom";

export interface Series {
  /** The value of a point, or null when the point has none for this series. */
  value: (p: ChartPoint) => number | null;
  colour: string;
  /** Filled dots (true) or rings (false). */
  filled: boolean;
}

export interface ChartPoint {
  at: number; // ms since epoch
  self: boolean;
  raw: Record<string, unknown>;
}

export interface ChartSpec {
  series: Series[];
  /** The shaded target band [low, high) in the values' unit. */
  band: [number, number];
  /** Dashed lines (e.g. a second target). */
  lines: number[];
  /** The y axis always shows at least this range. */
  yMin: number;
  yMax: number;
  unit: string;
}

const W = 360;
const H = 220;
const PAD = { left: 40, right: 10, top: 10, bottom: 28 };

function ticks(lo: number, hi: number, n: number): number[] {
  const step = Math.max((hi - lo) / n, 1e-9);
  const pow = 10 ** Math.floor(Math.log10(step));
  const nice = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= step) ?? step;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(Math.round(v * 100) / 100);
  return out;
}

function dateLabel(ms: number): string {
  const d = new Date(ms);
  return `${d.getMonth() + 1}/${d.getDate()}`;
}

/** Draw ``points`` into ``box`` (replacing what was there); returns the <svg>. */
export function drawChart(box: HTMLElement, points: ChartPoint[], spec: ChartSpec): SVGElement {
  const values = points.flatMap((p) => spec.series.map((s) => s.value(p)).filter((v): v is number => v !== null));
  const lo = Math.min(spec.yMin, ...values) - 2;
  const hi = Math.max(spec.yMax, ...values) + 2;
  const times = points.map((p) => p.at);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const span = t1 - t0 || 86_400_000;
  const x = (t: number) => PAD.left + ((t - (t1 === t0 ? t0 - span / 2 : t0)) / span) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);

  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "trend",
    role: "img",
    "aria-label": spec.unit,
  });
  // The target band.
  const bLo = Math.max(spec.band[0], lo);
  const bHi = Math.min(spec.band[1], hi);
  if (bHi > bLo) {
    root.append(
      svg("rect", {
        class: "band",
        x: PAD.left,
        y: y(bHi),
        width: W - PAD.left - PAD.right,
        height: y(bLo) - y(bHi),
        fill: "#2e8540",
        "fill-opacity": 0.16,
      }),
    );
  }
  for (const v of spec.lines) {
    if (v > lo && v < hi) {
      root.append(
        svg("line", {
          x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v),
          stroke: "#2e8540", "stroke-dasharray": "4 3", "stroke-width": 1.5,
        }),
      );
    }
  }
  // Axes: y ticks, first and last date.
  for (const v of ticks(lo, hi, 4)) {
    root.append(
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: "#dde2e7", "stroke-width": 1 }),
      svg("text", { x: PAD.left - 4, y: y(v) + 5, "text-anchor": "end", "font-size": 14, fill: "#6b7785" }, String(v)),
    );
  }
  if (points.length) {
    root.append(
      svg("text", { x: PAD.left, y: H - 6, "font-size": 14, fill: "#6b7785" }, dateLabel(t0)),
      svg("text", { x: W - PAD.right, y: H - 6, "font-size": 14, fill: "#6b7785", "text-anchor": "end" }, dateLabel(t1)),
    );
  }
  // Each series: a thin line through its points, then the points.
  for (const s of spec.series) {
    const pts = points.filter((p) => s.value(p) !== null);
    if (pts.length > 1) {
      root.append(
        svg("polyline", {
          points: pts.map((p) => `${x(p.at).toFixed(1)},${y(s.value(p)!).toFixed(1)}`).join(" "),
          fill: "none",
          stroke: s.colour,
          "stroke-width": 2,
          "stroke-opacity": 0.6,
        }),
      );
    }
    for (const p of pts) {
      const cx = x(p.at);
      const cy = y(s.value(p)!);
      const paint = { fill: s.filled ? s.colour : "#fff", stroke: s.colour, "stroke-width": 2.5 };
      const mark = p.self
        ? svg("path", { class: "pt self", d: `M${cx},${cy - 7}L${cx + 7},${cy}L${cx},${cy + 7}L${cx - 7},${cy}Z`, ...paint })
        : svg("circle", { class: "pt", cx, cy, r: 5.5, ...paint });
      mark.append(svg("title", {}, `${new Date(p.at).toLocaleDateString()} ${s.value(p)} ${spec.unit}`));
      root.append(mark);
    }
  }
  box.replaceChildren(root);
  return root;
}
