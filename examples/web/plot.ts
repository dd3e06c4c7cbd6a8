// A small inline-SVG line plot (no chart library).

export interface Series {
  label: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  color: string;
  /** "line" (default), "dashed" or "dots". */
  style?: "line" | "dashed" | "dots";
}

const W = 560;
const H = 320;
const PAD = { left: 44, right: 16, top: 16, bottom: 32 };

function ticks(lo: number, hi: number, n: number): number[] {
  const raw = (hi - lo) / n;
  const step = [1, 2, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(Math.round(t * 1e6) / 1e6);
  return out;
}

export function plotSvg(series: Series[], title: string): string {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of series) {
    for (let i = 0; i < s.xs.length; i++) {
      x0 = Math.min(x0, s.xs[i]!);
      x1 = Math.max(x1, s.xs[i]!);
      y0 = Math.min(y0, s.ys[i]!);
      y1 = Math.max(y1, s.ys[i]!);
    }
  }
  const px = (x: number): number => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const py = (y: number): number => H - PAD.bottom - ((y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const f = (v: number): string => v.toFixed(1);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${title}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  for (const t of ticks(y0, y1, 6)) {
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${f(py(t))}" y2="${f(py(t))}" stroke="#eee"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${f(py(t) + 4)}" text-anchor="end" font-size="11" fill="#555">${t}</text>`);
  }
  for (const t of ticks(x0, x1, 6)) {
    parts.push(`<line x1="${f(px(t))}" x2="${f(px(t))}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${f(px(t))}" y="${H - PAD.bottom + 16}" text-anchor="middle" font-size="11" fill="#555">${t}</text>`);
  }
  if (y0 < 0 && y1 > 0) parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${f(py(0))}" y2="${f(py(0))}" stroke="#999"/>`);
  if (x0 < 0 && x1 > 0) parts.push(`<line x1="${f(px(0))}" x2="${f(px(0))}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#999"/>`);
  series.forEach((s, k) => {
    if (s.style === "dots") {
      for (let i = 0; i < s.xs.length; i += 2) {
        parts.push(`<circle cx="${f(px(s.xs[i]!))}" cy="${f(py(s.ys[i]!))}" r="2.6" fill="${s.color}"/>`);
      }
    } else {
      const pts = Array.from({ length: s.xs.length }, (_, i) => `${f(px(s.xs[i]!))},${f(py(s.ys[i]!))}`).join(" ");
      const dash = s.style === "dashed" ? ' stroke-dasharray="6 4"' : "";
      parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    }
    // The legend, bottom right (where a parabola and a line through 0 leave room).
    const lx = W - PAD.right - 150;
    const ly = H - PAD.bottom - 12 - (series.length - 1 - k) * 18;
    parts.push(`<rect x="${lx}" y="${ly - 5}" width="14" height="4" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 20}" y="${ly}" font-size="12" fill="#222">${s.label}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}
