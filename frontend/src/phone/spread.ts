// Spreading the route map's markers that would be drawn on one another (docs/routing.md).

/** Markers closer than this on screen (px) are drawn apart. */
export const NEAR_PX = 26;

/**
 * Pixel offsets that spread markers drawn on (or nearly on) one another: households placed
 * at one village seat, a stop at the base, neighbours at a low zoom. Markers closer than
 * NEAR_PX form a cluster (single linkage); each cluster's markers go on a circle around
 * its centre (the base, when in it, stays in the middle). Clusters whose spread markers
 * still touch another's are merged and spread again, until none touch. Recomputed after
 * every zoom.
 */
export function spreadOffsets(points: { x: number; y: number; base?: boolean }[]): [number, number][] {
  const group = points.map((_, i) => i); // union-find over the points
  const find = (i: number): number => (group[i] === i ? i : (group[i] = find(group[i])));
  const join = (a: number, b: number): boolean => {
    const [ra, rb] = [find(a), find(b)];
    if (ra === rb) return false;
    group[rb] = ra;
    return true;
  };
  const touching = (xy: [number, number][]): boolean => {
    let merged = false;
    for (let i = 0; i < xy.length; i++)
      for (let j = i + 1; j < xy.length; j++)
        if (Math.hypot(xy[i][0] - xy[j][0], xy[i][1] - xy[j][1]) < NEAR_PX) merged = join(i, j) || merged;
    return merged;
  };
  let shown: [number, number][] = points.map((pt) => [pt.x, pt.y]);
  touching(shown);
  for (let round = 0; round < 20; round++) {
    const members = new Map<number, number[]>();
    points.forEach((_, i) => members.set(find(i), [...(members.get(find(i)) ?? []), i]));
    shown = points.map((pt) => [pt.x, pt.y]);
    for (const ids of members.values()) {
      if (ids.length < 2) continue;
      const base = ids.find((i) => points[i].base);
      const cx = base !== undefined ? points[base].x : ids.reduce((a, i) => a + points[i].x, 0) / ids.length;
      const cy = base !== undefined ? points[base].y : ids.reduce((a, i) => a + points[i].y, 0) / ids.length;
      const around = ids.filter((i) => i !== base);
      // Neighbours on the circle at least NEAR_PX + 4 apart, and clear of a base in the middle.
      const radius = Math.max(NEAR_PX + 4, (NEAR_PX + 4) / (2 * Math.sin(Math.PI / Math.max(around.length, 2))));
      around.forEach((i, k) => {
        const a = (2 * Math.PI * k) / around.length - Math.PI / 2;
        shown[i] = [cx + radius * Math.cos(a), cy + radius * Math.sin(a)];
      });
      if (base !== undefined) shown[base] = [cx, cy];
    }
    if (!touching(shown)) break;
  }
  return points.map((pt, i) => [Math.round(shown[i][0] - pt.x), Math.round(shown[i][1] - pt.y)]);
}
