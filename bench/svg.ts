/** Plain SVG charts for BENCHMARKS.md: horizontal bars with a target line, and time series. */

const FONT = 'font-family="system-ui, sans-serif" font-size="12"';

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Horizontal bars (value and label), optionally with a vertical target line at `target`. */
export function barChart(options: {
  title: string;
  unit: string;
  bars: Array<{ label: string; value: number; note?: string; color?: string }>;
  target?: { value: number; label: string };
}): string {
  const width = 880;
  const left = 310;
  const right = 170;
  const rowH = 28;
  const top = 36;
  const height = top + options.bars.length * rowH + 30;
  const max = Math.max(...options.bars.map((b) => b.value), options.target?.value ?? 0) * 1.05 || 1;
  const x = (v: number) => left + (v / max) * (width - left - right);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" ${FONT} font-weight="bold">${esc(options.title)}</text>`,
  ];
  options.bars.forEach((b, i) => {
    const y = top + i * rowH;
    out.push(
      `<text x="${left - 8}" y="${y + 17}" ${FONT} text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(b.value) - left)}" height="${rowH - 8}" fill="${
        b.color ?? "#4a7bd0"
      }"/>`,
      `<text x="${x(b.value) + 6}" y="${y + 17}" ${FONT}>${
        esc(`${formatNumber(b.value)} ${options.unit}${b.note ? `  ${b.note}` : ""}`)
      }</text>`,
    );
  });
  if (options.target) {
    const tx = x(options.target.value);
    out.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${
        height - 22
      }" stroke="#c0392b" stroke-dasharray="4 3"/>`,
      `<text x="${tx}" y="${height - 8}" ${FONT} fill="#c0392b" text-anchor="middle">${
        esc(options.target.label)
      }</text>`,
    );
  }
  out.push("</svg>");
  return out.join("\n");
}

/** Time series sharing an x axis (seconds), each line scaled to its own maximum, labelled. */
export function lineChart(options: {
  title: string;
  series: Array<
    { label: string; unit: string; points: Array<[number, number]>; color: string; limit?: number }
  >;
}): string {
  const width = 760;
  const panelH = 110;
  const top = 34;
  const left = 70;
  const right = 20;
  const height = top + options.series.length * (panelH + 26) + 10;
  const maxX = Math.max(1, ...options.series.flatMap((s) => s.points.map((p) => p[0])));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" ${FONT} font-weight="bold">${esc(options.title)}</text>`,
  ];
  options.series.forEach((s, i) => {
    const y0 = top + i * (panelH + 26);
    const maxY = Math.max(1e-9, s.limit ?? 0, ...s.points.map((p) => p[1])) * 1.1;
    const px = (t: number) => left + (t / maxX) * (width - left - right);
    const py = (v: number) => y0 + panelH - (v / maxY) * panelH;
    out.push(
      `<text x="${left}" y="${y0 + 10}" ${FONT} fill="${s.color}">${
        esc(`${s.label} (${s.unit}), max ${formatNumber(Math.max(0, ...s.points.map((p) => p[1])))}`)
      }</text>`,
      `<line x1="${left}" y1="${y0 + panelH}" x2="${width - right}" y2="${y0 + panelH}" stroke="#999"/>`,
      `<text x="${left - 6}" y="${y0 + panelH}" ${FONT} text-anchor="end">0</text>`,
      `<text x="${left - 6}" y="${y0 + 16}" ${FONT} text-anchor="end">${formatNumber(maxY / 1.1)}</text>`,
      `<text x="${width - right}" y="${y0 + panelH + 14}" ${FONT} text-anchor="end">${
        formatNumber(maxX)
      } s</text>`,
    );
    if (s.limit !== undefined) {
      out.push(
        `<line x1="${left}" y1="${py(s.limit)}" x2="${width - right}" y2="${
          py(s.limit)
        }" stroke="#c0392b" stroke-dasharray="4 3"/>`,
        `<text x="${width - right}" y="${py(s.limit) - 3}" ${FONT} fill="#c0392b" text-anchor="end">target ${
          formatNumber(s.limit)
        } ${esc(s.unit)}</text>`,
      );
    }
    if (s.points.length > 0) {
      const d = s.points.map((p, j) => `${j === 0 ? "M" : "L"}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`)
        .join(" ");
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    }
  });
  out.push("</svg>");
  return out.join("\n");
}

/** 1234567 → "1,234,567"; 12.345 → "12.3"; 0.0123 → "0.012". */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n) || Math.abs(n) >= 100) return Math.round(n).toLocaleString("en-US");
  if (Math.abs(n) >= 10) return n.toFixed(1);
  if (Math.abs(n) >= 1) return n.toFixed(2);
  return n.toPrecision(2);
}
