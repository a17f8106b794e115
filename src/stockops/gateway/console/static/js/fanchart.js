// The forecast fan chart as inline SVG: price history, the forecast median path, its 10-90 % band and
// the random walk (last close carried forward) beside it. Trading sessions are evenly spaced on the x
// axis (no weekend gaps). `fanGeometry` is pure (numbers in, path strings out); `renderFanChart` turns
// it into elements.

import { s } from "./dom.js";

export const SIZE = { width: 800, height: 320, left: 60, right: 20, top: 20, bottom: 34 };
export const NO_EDGE_NOTE = "no edge: forecasts the last close";
export const AHEAD_SHARE = 0.25; // the least share of the width the forecast gets

const finite = (x) => typeof x === "number" && Number.isFinite(x);

/** About `count` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function pathOf(points) {
  return points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
}

/**
 * Geometry of the chart. `history`: [{date, close}] oldest first; `forecast`: {last_close, as_of,
 * forecast: [{date, close, low, high}], naive: [{date, close}]}. The forecast paths start at the last
 * close, so they visibly leave from the end of the history line.
 */
export function fanGeometry(history, forecast, size = SIZE) {
  const past = (history ?? []).filter((p) => finite(p.close));
  const ahead = (forecast?.forecast ?? []).filter((p) => finite(p.close));
  const naive = (forecast?.naive ?? []).filter((p) => finite(p.close));
  const anchorClose = finite(forecast?.last_close) ? forecast.last_close : past.at(-1)?.close;
  const anchorIndex = Math.max(0, past.length - 1);
  const values = [
    ...past.map((p) => p.close),
    ...ahead.flatMap((p) => [p.close, p.low, p.high]),
    ...naive.map((p) => p.close),
    anchorClose,
  ].filter(finite);
  if (!values.length) return null;
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.02 || 1;
  lo -= pad;
  hi += pad;
  // History and forecast share the width, the forecast getting at least AHEAD_SHARE of it: five
  // sessions beside 250 would otherwise be a sliver.
  const nAhead = Math.max(ahead.length, naive.length);
  const plotW = size.width - size.left - size.right;
  const plotH = size.height - size.top - size.bottom;
  const aheadShare = nAhead ? Math.max(AHEAD_SHARE, nAhead / (anchorIndex + 1 + nAhead)) : 0;
  const pastW = plotW * (1 - aheadShare);
  const x = (i) =>
    i <= anchorIndex
      ? size.left + (anchorIndex > 0 ? (i / anchorIndex) * pastW : pastW)
      : size.left + pastW + ((i - anchorIndex) / nAhead) * (plotW - pastW);
  const y = (v) => size.top + (1 - (v - lo) / (hi - lo)) * plotH;
  const anchor = finite(anchorClose) ? [[x(anchorIndex), y(anchorClose)]] : [];
  const step = (i) => x(anchorIndex + 1 + i);
  const banded = ahead.filter((p) => finite(p.low) && finite(p.high));
  const band =
    banded.length === ahead.length && banded.length
      ? `${pathOf([...anchor, ...ahead.map((p, i) => [step(i), y(p.high)])])} ${ahead
          .map((p, i) => [step(i), y(p.low)])
          .reverse()
          .concat(anchor)
          .map(([px, py]) => `L${px.toFixed(1)},${py.toFixed(1)}`)
          .join(" ")} Z`
      : "";
  const dates = [...past.map((p) => p.date), ...ahead.map((p) => p.date)];
  const xTicks = [];
  if (past.length) xTicks.push({ x: x(0), label: past[0].date, anchor: "start" });
  if (past.length > 1) xTicks.push({ x: x(anchorIndex), label: past.at(-1).date, anchor: "middle" });
  if (ahead.length) xTicks.push({ x: step(ahead.length - 1), label: ahead.at(-1).date, anchor: "end" });
  return {
    size,
    history: past.length > 1 ? pathOf(past.map((p, i) => [x(i), y(p.close)])) : "",
    median: ahead.length ? pathOf([...anchor, ...ahead.map((p, i) => [step(i), y(p.close)])]) : "",
    naive: naive.length ? pathOf([...anchor, ...naive.map((p, i) => [step(i), y(p.close)])]) : "",
    band,
    asOfX: x(anchorIndex),
    yTicks: niceTicks(lo, hi).map((v) => ({ y: y(v), label: v.toLocaleString("en-US", { maximumFractionDigits: 2 }) })),
    xTicks,
    firstDate: dates[0],
    lastDate: dates.at(-1),
  };
}

/** The chart as an <svg> element (or a <p> saying why there is nothing to draw). */
export function renderFanChart(history, forecast, { ticker = "", noEdge = false } = {}) {
  const g = fanGeometry(history, forecast);
  if (!g) return s("svg", { class: "fan-chart empty", role: "img", "aria-label": "no prices to draw" });
  const { width, height, left, right, top, bottom } = g.size;
  const summary = `${ticker} closes ${g.firstDate ?? ""} to ${forecast?.as_of ?? ""}, forecast to ${g.lastDate ?? ""}`;
  return s(
    "svg",
    {
      class: "fan-chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": "fan-chart-title",
      "data-testid": "fan-chart-svg",
      preserveAspectRatio: "xMidYMid meet",
    },
    s("title", { id: "fan-chart-title" }, `Fan chart: ${summary}`),
    s(
      "g",
      { class: "axis y-axis" },
      g.yTicks.map((t) => [
        s("line", { class: "grid", x1: left, x2: width - right, y1: t.y.toFixed(1), y2: t.y.toFixed(1) }),
        s("text", { x: left - 6, y: (t.y + 4).toFixed(1), "text-anchor": "end" }, t.label),
      ]),
    ),
    s(
      "g",
      { class: "axis x-axis" },
      g.xTicks.map((t) =>
        s("text", { x: t.x.toFixed(1), y: height - bottom + 20, "text-anchor": t.anchor }, t.label),
      ),
    ),
    s("line", { class: "as-of", x1: g.asOfX, x2: g.asOfX, y1: top, y2: height - bottom }),
    g.band ? s("path", { class: "band", d: g.band, "data-testid": "chart-band" }) : null,
    g.history ? s("path", { class: "history", d: g.history, "data-testid": "chart-history" }) : null,
    g.median ? s("path", { class: "median", d: g.median, "data-testid": "chart-median" }) : null,
    // dashed on top: with no edge the two paths coincide and both stay visible
    g.naive ? s("path", { class: "naive", d: g.naive, "data-testid": "chart-naive" }) : null,
    noEdge
      ? s("text", { class: "no-edge", x: g.asOfX - 8, y: top + 14, "text-anchor": "end", "data-testid": "chart-no-edge" }, NO_EDGE_NOTE)
      : null,
  );
}
