// Class breaks computed in the browser from the values the API returns for the level
// and period shown (the same schemes as mapclassify: Quantiles, NaturalBreaks/Jenks,
// EqualInterval). A break list of k classes is k-1 inner thresholds; a value v falls in
// class i when breaks[i-1] <= v < breaks[i] (MapLibre's "step" expression).

export type Scheme = "quantile" | "jenks" | "equal";

/** Largest sample Jenks works on (O(k·n²)); mapclassify samples too (FisherJenksSampled). */
const JENKS_SAMPLE = 1000;

export function breaks(values: number[], k: number, scheme: Scheme): number[] {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return [];
  const lo = v[0];
  const hi = v[v.length - 1];
  if (lo === hi) return [];
  k = Math.max(2, Math.min(k, v.length));
  let inner: number[];
  if (scheme === "equal") {
    inner = Array.from({ length: k - 1 }, (_, i) => lo + ((hi - lo) * (i + 1)) / k);
  } else if (scheme === "quantile") {
    inner = Array.from({ length: k - 1 }, (_, i) => quantile(v, (i + 1) / k));
  } else {
    inner = jenks(sample(v, JENKS_SAMPLE), k);
  }
  // Strictly increasing thresholds inside (lo, hi]: ties collapse classes.
  const out: number[] = [];
  for (const b of inner) {
    if (b > lo && (out.length === 0 || b > out[out.length - 1])) out.push(b);
  }
  return out;
}

function quantile(sorted: number[], p: number): number {
  const pos = (sorted.length - 1) * p;
  const i = Math.floor(pos);
  const frac = pos - i;
  return i + 1 < sorted.length ? sorted[i] + frac * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/** An evenly spaced sample of a sorted array, always keeping both ends. */
function sample(sorted: number[], n: number): number[] {
  if (sorted.length <= n) return sorted;
  return Array.from({ length: n }, (_, i) => sorted[Math.round((i * (sorted.length - 1)) / (n - 1))]);
}

/**
 * Jenks natural breaks (Fisher's exact optimisation by dynamic programming): the k
 * classes minimising the within-class sum of squared deviations. Returns the k-1 inner
 * thresholds: the first value of each class but the first.
 */
export function jenks(sorted: number[], k: number): number[] {
  const n = sorted.length;
  if (k >= n) return sorted.slice(1);
  const pre = new Float64Array(n + 1);
  const pre2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    pre[i + 1] = pre[i] + sorted[i];
    pre2[i + 1] = pre2[i] + sorted[i] * sorted[i];
  }
  // Sum of squared deviations of sorted[a..b] (inclusive).
  const ssd = (a: number, b: number): number => {
    const m = b - a + 1;
    const s = pre[b + 1] - pre[a];
    return pre2[b + 1] - pre2[a] - (s * s) / m;
  };
  // cost[j][i]: best cost of sorted[0..i] in j+1 classes; from[j][i]: start of last class.
  const cost: Float64Array[] = [];
  const from: Int32Array[] = [];
  cost.push(Float64Array.from({ length: n }, (_, i) => ssd(0, i)));
  from.push(new Int32Array(n));
  for (let j = 1; j < k; j++) {
    const c = new Float64Array(n).fill(Infinity);
    const f = new Int32Array(n);
    for (let i = j; i < n; i++) {
      for (let s = j; s <= i; s++) {
        const total = cost[j - 1][s - 1] + ssd(s, i);
        if (total < c[i]) {
          c[i] = total;
          f[i] = s;
        }
      }
    }
    cost.push(c);
    from.push(f);
  }
  const starts: number[] = [];
  let end = n - 1;
  for (let j = k - 1; j > 0; j--) {
    const s = from[j][end];
    starts.unshift(sorted[s]);
    end = s - 1;
  }
  return starts;
}

/** Sequential colours (ColorBrewer YlGnBu-like) for k classes; index 0 = lowest. */
const RAMPS: Record<number, string[]> = {
  2: ["#c7e9b4", "#225ea8"],
  3: ["#edf8b1", "#7fcdbb", "#2c7fb8"],
  4: ["#ffffcc", "#a1dab4", "#41b6c4", "#225ea8"],
  5: ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"],
  6: ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494"],
  7: ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#0c2c84"],
};

export function colours(k: number): string[] {
  return RAMPS[Math.max(2, Math.min(7, k))];
}

/** The heat ramp of the mobility layer (people per hour). */
export const HEAT = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704"];
