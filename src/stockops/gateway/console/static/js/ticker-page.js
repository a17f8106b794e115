// Page: one ticker. Fan chart with the random walk, the forecast table, test metrics with their
// intervals, training progress while a model trains, the drift and live-error panels.

import { ApiError, api, errorMessage } from "./api.js";
import { analysisHref, clearNotice, normalizeTicker, phaseBadge, showError, showNotice } from "./common.js";
import { byId, fill, h, queryParam } from "./dom.js";
import { NO_EDGE_NOTE, renderFanChart } from "./fanchart.js";
import { num, pct, signed, withInterval } from "./format.js";
import { mountKeyPanel } from "./keypanel.js";
import { BUSY_PHASES, TaskFailedError, progressView, watchTask } from "./task.js";

const ticker = normalizeTicker(queryParam("ticker"));
let watching = null; // {taskId, done}: the training being polled, so two loads share one poll

function setPhase(phase) {
  fill(byId("ticker-phase"), phase ? phaseBadge(phase, { "data-testid": "ticker-phase" }) : "");
}

/** Poll a training until it ends, showing its progress; resolves when the model is ready. */
function followTraining(taskId) {
  if (watching?.taskId === taskId) return watching.done;
  byId("training-section").hidden = false;
  const panel = byId("training-panel");
  fill(panel, progressView({ phase: "Pending", task_id: taskId }));
  const done = watchTask(taskId, {
    onUpdate: (status) => {
      fill(panel, progressView(status));
      setPhase(status.phase);
    },
  })
    .catch((err) => {
      fill(panel, err instanceof TaskFailedError ? progressView(err.status) : "", h("p", { class: "error" }, errorMessage(err)));
      throw err;
    })
    .finally(() => {
      if (watching?.taskId === taskId) watching = null;
    });
  watching = { taskId, done };
  return done;
}

function metricRow(label, value, testid, note = "") {
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, label),
    h("td", { class: "num", "data-testid": testid }, value),
    h("td", { class: "muted" }, note),
  );
}

function metricsView(m) {
  if (!m || typeof m !== "object" || !Object.keys(m).length) return h("p", { class: "muted" }, "no metrics yet");
  const perHorizon = Array.isArray(m.per_horizon) ? m.per_horizon : [];
  return [
    h(
      "table",
      { class: "data metrics", "data-testid": "metrics-table" },
      h("caption", {}, "Test split, price units"),
      h(
        "tbody",
        {},
        metricRow("Skill vs random walk", withInterval(m.skill, m.skill_ci_low, m.skill_ci_high), "metric-skill", "1 - RMSE / random-walk RMSE"),
        metricRow(
          "Skill vs random walk with drift",
          withInterval(m.skill_vs_drift, m.skill_vs_drift_ci_low, m.skill_vs_drift_ci_high),
          "metric-skill-vs-drift",
          "against the training period's mean return",
        ),
        metricRow("RMSE", num(m.rmse), "metric-rmse", `random walk ${num(m.naive_rmse)}, with drift ${num(m.drift_rmse)}`),
        metricRow("Directional accuracy", pct(m.directional_accuracy), "metric-direction", `always-up base rate ${pct(m.up_rate)}`),
        metricRow("10-90 % interval coverage", pct(m.interval_coverage), "metric-coverage", "nominal 80 %"),
      ),
    ),
    perHorizon.length
      ? h(
          "table",
          { class: "data per-horizon", "data-testid": "per-horizon-table" },
          h("caption", {}, "Per session ahead"),
          h(
            "thead",
            {},
            h("tr", {}, ["Step", "RMSE", "Random walk RMSE", "Skill [95 %]", "Direction", "Coverage"].map((c) => h("th", { scope: "col" }, c))),
          ),
          h(
            "tbody",
            {},
            perHorizon.map((p) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, String(p.step)),
                h("td", { class: "num" }, num(p.rmse)),
                h("td", { class: "num" }, num(p.naive_rmse)),
                h("td", { class: "num" }, withInterval(p.skill, p.skill_ci_low, p.skill_ci_high)),
                h("td", { class: "num" }, pct(p.directional_accuracy)),
                h("td", { class: "num" }, pct(p.interval_coverage)),
              ),
            ),
          ),
        )
      : null,
  ];
}

function renderDetail(detail) {
  fill(
    byId("ticker-name"),
    [
      detail.name ? `resource ${detail.name}` : "",
      detail.kind === "parent" ? "parent model" : detail.parent ? `transferred from ${detail.parent}` : "",
      detail.model_version ? `model version ${detail.model_version}` : "",
      detail.data_as_of ? `data as of ${detail.data_as_of}` : "",
      detail.message ?? "",
    ]
      .filter(Boolean)
      .join(" · "),
  );
  setPhase(detail.phase);
  byId("ticker-synthetic").hidden = !detail.synthetic;
  fill(byId("metrics-panel"), metricsView(detail.metrics));
  if (detail.horizon_days) {
    const days = byId("forecast-days");
    days.max = String(detail.horizon_days);
    if (Number(days.value) > detail.horizon_days) days.value = String(detail.horizon_days);
  }
  if (detail.drift) renderDrift(detail.drift);
  if (detail.live) renderLive(detail.live);
  else if (typeof detail.live_skill === "number") renderLive({ skill: detail.live_skill });
}

function renderForecast(history, answer) {
  const noEdge = Boolean(answer.no_edge);
  fill(byId("fan-chart"), renderFanChart(history, answer, { ticker, noEdge }));
  const note = byId("no-edge-note");
  note.hidden = !noEdge;
  fill(note, noEdge ? `${NO_EDGE_NOTE}: validation showed no edge over the random walk, so the median path is the random walk.` : "");
  byId("ticker-synthetic").hidden = !answer.synthetic;
  fill(
    byId("forecast-meta"),
    [
      `as of ${answer.as_of}, last close ${num(answer.last_close)}`,
      `model version ${answer.model_version ?? "n/a"}`,
      answer.cached ? "cached answer" : "fresh answer",
      answer.data_note ?? "",
    ]
      .filter(Boolean)
      .join(", "),
  );
  const table = byId("forecast-table");
  const naiveByDate = new Map((answer.naive ?? []).map((p) => [p.date, p.close]));
  fill(
    table.tBodies[0],
    (answer.forecast ?? []).map((p) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, p.date),
        h("td", { class: "num" }, num(p.close)),
        h("td", { class: "num" }, num(p.low)),
        h("td", { class: "num" }, num(p.high)),
        h("td", { class: "num" }, num(naiveByDate.get(p.date))),
      ),
    ),
  );
  table.hidden = false;
}

async function loadForecast() {
  const days = Number(byId("forecast-days").value);
  const historyDays = Number(byId("history-days").value);
  const fetchHistory = () =>
    api.history(ticker, historyDays).then(
      ({ data }) => (Array.isArray(data) ? data : (data?.history ?? [])),
      () => [],
    );
  let history = fetchHistory(); // beside the forecast call, not after it
  let { status, data } = await api.predict(ticker, days);
  if (status === 202) {
    history = null; // a ticker new to the gateway has no stored prices until its training ingests them
    fill(byId("fan-chart"), h("p", { class: "muted" }, "the model is training: the chart appears when it is ready"));
    await followTraining(data.task_id);
    ({ status, data } = await api.predict(ticker, days));
    await loadDetail();
  }
  if (status !== 200) throw new Error(`${ticker}: no forecast yet (HTTP ${status})`);
  renderForecast(await (history ?? fetchHistory()), data);
}

let lastDetail = null;

async function loadDetail() {
  const { data } = await api.ticker(ticker);
  lastDetail = data;
  renderDetail(data);
  return data;
}

function driftView(result) {
  const features = Array.isArray(result.features) ? result.features : [];
  return [
    h(
      "p",
      {},
      "Verdict: ",
      h("strong", { "data-testid": "drift-verdict" }, result.verdict ?? "n/a"),
      result.share !== undefined && result.share !== null ? ` (${pct(result.share, 0)} of tested inputs drifted)` : "",
      result.checked_at ? `, checked ${String(result.checked_at).replace(/\.\d+/, "")}` : "",
    ),
    result.message ? h("p", { class: "muted" }, result.message) : null,
    features.length
      ? h(
          "table",
          { class: "data", "data-testid": "drift-table" },
          h("caption", {}, "Per model input: recent sessions against the training frame"),
          h("thead", {}, h("tr", {}, ["Input", "Test", "Score", "Threshold", "Drifted"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            features.map((f) =>
              h(
                "tr",
                { class: f.drifted ? "drifted" : "" },
                h("th", { scope: "row" }, f.name ?? f.column ?? ""),
                h("td", {}, f.stattest ?? ""),
                h("td", { class: "num" }, num(f.score, 3)),
                h("td", { class: "num" }, num(f.threshold, 3)),
                h("td", {}, f.drifted ? "yes" : "no"),
              ),
            ),
          ),
        )
      : null,
  ];
}

function renderLive(live) {
  fill(
    byId("live-panel"),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Verdict"),
      h("dd", { "data-testid": "live-verdict" }, live.verdict ?? "n/a"),
      h("dt", {}, "Live skill"),
      h("dd", { "data-testid": "live-skill" }, withInterval(live.skill, live.skill_ci_low, live.skill_ci_high)),
      h("dt", {}, "RMSE"),
      h("dd", {}, `${num(live.rmse)} (random walk ${num(live.naive_rmse)})`),
      h("dt", {}, "Interval coverage"),
      h("dd", {}, pct(live.coverage)),
      h("dt", {}, "Directional accuracy"),
      h("dd", {}, pct(live.directional_accuracy)),
      h("dt", {}, "Scored"),
      h("dd", {}, `${live.n_forecasts ?? 0} forecasts, ${live.n_points ?? 0} closes`),
    ),
    live.message ? h("p", { class: "muted" }, live.message) : null,
  );
}

function renderDrift(result) {
  const drift = result?.drift ?? result;
  fill(byId("drift-panel"), driftView(drift));
  const live = result?.live ?? drift?.live;
  if (live) renderLive(live);
}

async function loadDrift() {
  try {
    const { data } = await api.drift(ticker);
    renderDrift(data);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      fill(byId("drift-panel"), h("p", { class: "muted", "data-testid": "drift-none" }, "no drift check yet: run one"));
      return;
    }
    fill(byId("drift-panel"), h("p", { class: "error" }, errorMessage(err)));
  }
}

async function runDriftCheck() {
  const button = byId("drift-run");
  button.disabled = true;
  fill(byId("drift-panel"), h("p", { class: "muted" }, "checking the recent inputs against the training frame..."));
  try {
    const { status, data } = await api.monitor(ticker);
    if (status === 202 && data?.task_id) {
      const final = await watchTask(data.task_id, { onUpdate: (st) => fill(byId("drift-panel"), progressView(st, "drift check")) });
      if (final.result) renderDrift(final.result);
      else await loadDrift();
    } else if (data && (data.verdict || data.drift)) renderDrift(data);
    else await loadDrift();
  } catch (err) {
    fill(byId("drift-panel"), h("p", { class: "error", "data-testid": "drift-error" }, errorMessage(err)));
  } finally {
    button.disabled = false;
  }
}

async function load() {
  if (!ticker) {
    showNotice("no ticker given: open one from the list of tickers");
    return;
  }
  clearNotice();
  try {
    const detail = await loadDetail();
    if (BUSY_PHASES.has(detail.phase) && detail.task_id) {
      await followTraining(detail.task_id);
      await loadDetail();
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      offerTraining();
    } else {
      showError(err);
    }
    return;
  }
  await forecastOrSayWhy();
  if (!lastDetail?.drift) await loadDrift();
}

async function forecastOrSayWhy() {
  try {
    await loadForecast();
  } catch (err) {
    fill(byId("fan-chart"), h("p", { class: "error", "data-testid": "forecast-error" }, errorMessage(err)));
  }
}

/** No model and no training yet: visiting the page starts nothing; a button does. */
function offerTraining() {
  showNotice(`${ticker} has no model yet`);
  const start = h(
    "button",
    { type: "button", id: "ticker-train" },
    `Forecast ${ticker} (starts its training from the parent)`,
  );
  start.addEventListener("click", async () => {
    start.disabled = true;
    clearNotice();
    await forecastOrSayWhy();
    await loadDrift();
  });
  fill(byId("fan-chart"), h("p", {}, start));
}

document.title = `StockOps console: ${ticker || "ticker"}`;
fill(byId("ticker-title"), ticker || "Ticker");
byId("ticker-analysis-link").href = analysisHref(ticker);
mountKeyPanel(load);
byId("forecast-form").addEventListener("submit", (event) => {
  event.preventDefault();
  forecastOrSayWhy();
});
byId("drift-run").addEventListener("click", runDriftCheck);
load();
