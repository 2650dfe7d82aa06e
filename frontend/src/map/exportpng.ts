// "Export as PNG": the map's canvas composed with a title, the legend, the date, the data
// source and a scale bar on one canvas in the browser (no server round trip; the map's
// WebGL canvas keeps its pixels: preserveDrawingBuffer).

export interface LegendItem {
  colour: string;
  label: string;
  /** Drawn as an outline (alerts, boundaries) rather than a filled box. */
  outline?: boolean;
}

export interface LegendSection {
  title: string;
  items: LegendItem[];
  note?: string;
}

export interface PngParts {
  title: string;
  subtitle: string;
  sections: LegendSection[];
  footer: string[];
  /** Metres per CSS pixel at the map's centre. */
  metresPerPixel: number;
}

const FONT = `"Noto Sans CJK SC", "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif`;

/** A round length (1, 2 or 5 × 10^n metres) about ``target`` pixels long. */
export function scaleBar(metresPerPixel: number, target = 120): { metres: number; pixels: number; label: string } {
  const raw = metresPerPixel * target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [5, 2, 1].map((m) => m * pow).find((m) => m <= raw) ?? pow;
  const label = step >= 1000 ? `${step / 1000} km` : `${step} m`;
  return { metres: step, pixels: step / metresPerPixel, label };
}

function wrap(ctx: CanvasRenderingContext2D, text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const ch of Array.from(text)) {
    if (ctx.measureText(line + ch).width > width && line) {
      lines.push(line);
      line = ch.trimStart();
    } else line += ch;
  }
  if (line) lines.push(line);
  return lines;
}

export function composePng(mapCanvas: HTMLCanvasElement, parts: PngParts): HTMLCanvasElement {
  const ratio = mapCanvas.width / Math.max(mapCanvas.clientWidth, 1);
  const mapW = mapCanvas.clientWidth;
  const mapH = mapCanvas.clientHeight;
  const side = 260;
  const head = 58;
  const foot = 22 * parts.footer.length + 14;
  const out = document.createElement("canvas");
  out.width = Math.round((mapW + side) * ratio);
  out.height = Math.round((head + mapH + foot) * ratio);
  const ctx = out.getContext("2d")!;
  ctx.scale(ratio, ratio);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, mapW + side, head + mapH + foot);
  // Title
  ctx.fillStyle = "#1f2933";
  ctx.font = `bold 18px ${FONT}`;
  ctx.fillText(parts.title, 12, 26);
  ctx.font = `13px ${FONT}`;
  ctx.fillStyle = "#4b5563";
  ctx.fillText(parts.subtitle, 12, 47);
  // The map
  ctx.drawImage(mapCanvas, 0, head, mapW, mapH);
  ctx.strokeStyle = "#d8dde3";
  ctx.strokeRect(0.5, head + 0.5, mapW - 1, mapH - 1);
  // Scale bar (bottom left of the map)
  const bar = scaleBar(parts.metresPerPixel);
  const bx = 14;
  const by = head + mapH - 18;
  ctx.fillStyle = "rgba(255,255,255,0.85)";
  ctx.fillRect(bx - 6, by - 18, bar.pixels + 12 + 50, 28);
  ctx.strokeStyle = "#1f2933";
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(bx, by - 6);
  ctx.lineTo(bx, by);
  ctx.lineTo(bx + bar.pixels, by);
  ctx.lineTo(bx + bar.pixels, by - 6);
  ctx.stroke();
  ctx.fillStyle = "#1f2933";
  ctx.font = `12px ${FONT}`;
  ctx.fillText(bar.label, bx + bar.pixels + 6, by);
  // Legend (right)
  let y = head + 16;
  const x = mapW + 14;
  for (const section of parts.sections) {
    ctx.font = `bold 13px ${FONT}`;
    ctx.fillStyle = "#1f2933";
    for (const line of wrap(ctx, section.title, side - 24)) {
      ctx.fillText(line, x, y);
      y += 18;
    }
    ctx.font = `12px ${FONT}`;
    for (const item of section.items) {
      if (item.outline) {
        ctx.strokeStyle = item.colour;
        ctx.lineWidth = 2.5;
        ctx.strokeRect(x + 1, y - 11, 20, 12);
      } else {
        ctx.fillStyle = item.colour;
        ctx.fillRect(x, y - 12, 22, 14);
        ctx.strokeStyle = "rgba(0,0,0,.2)";
        ctx.lineWidth = 1;
        ctx.strokeRect(x + 0.5, y - 11.5, 21, 13);
      }
      ctx.fillStyle = "#1f2933";
      const lines = wrap(ctx, item.label, side - 60);
      lines.forEach((line, i) => ctx.fillText(line, x + 30, y + i * 16));
      y += 18 + (lines.length - 1) * 16;
    }
    if (section.note) {
      ctx.fillStyle = "#4b5563";
      for (const line of wrap(ctx, section.note, side - 24)) {
        ctx.fillText(line, x, y);
        y += 16;
      }
    }
    y += 10;
  }
  // Footer: date and source
  ctx.font = `12px ${FONT}`;
  ctx.fillStyle = "#4b5563";
  parts.footer.forEach((line, i) => ctx.fillText(line, 12, head + mapH + 20 + i * 22));
  return out;
}
