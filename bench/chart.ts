/**
 * docs/benchmarks.svg: hand-written SVG bars of deliveries/s for the fan-out of 32, one bar per peer,
 * from bench/results.json (no chart library, so the docs need nothing to render it).
 */
import { cellOf, type Results, ratio } from "./results.ts";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The SVG for the fan-out N=32 workload; a placeholder when it did not run. */
export function renderChart(results: Results): string {
  const bars = results.peers
    .map((p) => {
      const median = cellOf(results, "fanout32", p.id)?.median;
      return { peer: p, value: median?.deliveriesPerSec, clientBound: (median?.clientCpu ?? 0) >= 0.9 };
    })
    .filter((b): b is { peer: Results["peers"][number]; value: number; clientBound: boolean } => b.value !== undefined);
  const width = 760;
  const left = 210;
  const right = 230;
  const top = 52;
  const row = 30;
  const height = top + Math.max(1, bars.length) * row + 44;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const scale = (width - left - right) / max;
  const color = (p: Results["peers"][number]) => (p.parley ? "#d9622b" : "#5b7da8");
  const runs = results.quick ? "1 quick run" : `median of ${results.runs} runs`;
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="15" font-weight="600" fill="#1f2328">Fan-out, one room of 32: deliveries per second (${esc(runs)})</text>`,
    `<text x="16" y="42" fill="#57606a">Parley in orange, raw peers in blue; server on one core, load client on the other. Longer is better.</text>`,
  ];
  bars.forEach((b, i) => {
    const y = top + i * row;
    const w = Math.max(1, b.value * scale);
    const r = ratio(results, "fanout32", b.peer.id, "deliveriesPerSec");
    const notes = [
      r !== undefined ? `${r.toFixed(2)}× ${results.peers.find((p) => p.id === b.peer.baseline)?.label ?? "raw"}` : "",
      b.clientBound ? "load client saturated" : "",
    ].filter(Boolean);
    lines.push(
      `<text x="${left - 10}" y="${y + 19}" text-anchor="end" fill="#1f2328">${esc(b.peer.label)}</text>`,
      `<rect x="${left}" y="${y + 5}" width="${w.toFixed(1)}" height="${row - 10}" rx="3" fill="${color(b.peer)}"><title>${esc(b.peer.label)}: ${Math.round(b.value)} deliveries/s</title></rect>`,
      `<text x="${(left + w + 8).toFixed(1)}" y="${y + 19}" fill="#1f2328">${Math.round(b.value).toLocaleString("en-US")}${notes.length ? `<tspan fill="#57606a"> (${esc(notes.join(", "))})</tspan>` : ""}</text>`,
    );
  });
  if (bars.length === 0)
    lines.push(`<text x="16" y="${top + 19}" fill="#57606a">The fan-out of 32 was not part of this run.</text>`);
  const m = results.machine;
  lines.push(
    `<text x="16" y="${height - 14}" font-size="11" fill="#57606a">${esc(`${m.nproc} × ${m.cpu}; Node ${m.node}, Deno ${m.deno}, Bun ${m.bun}, wrangler ${m.wrangler}; ${results.startedAt.slice(0, 10)}; ${results.command}`)}</text>`,
    "</svg>",
  );
  return `${lines.join("\n")}\n`;
}
