// Page: every ticker model (phase, test skill, live skill) and the "forecast a new ticker" form. The
// list refreshes itself while any model is still training.

import { api, errorMessage } from "./api.js";
import { analysisHref, clearNotice, normalizeTicker, phaseBadge, showError, tickerHref } from "./common.js";
import { byId, fill, h } from "./dom.js";
import { signed } from "./format.js";
import { mountKeyPanel } from "./keypanel.js";
import { BUSY_PHASES, progressView, watchTask } from "./task.js";

let refreshTimer = null;

function row(t) {
  return h(
    "tr",
    { "data-testid": "ticker-row", "data-ticker": t.ticker, "data-phase": t.phase ?? "" },
    h("th", { scope: "row" }, h("a", { href: tickerHref(t.ticker) }, t.ticker)),
    h("td", {}, t.name ?? ""),
    h("td", {}, phaseBadge(t.phase, { "data-testid": "ticker-phase" })),
    h("td", { class: "num", "data-testid": "ticker-skill" }, signed(t.skill)),
    h("td", { class: "num", "data-testid": "ticker-live-skill" }, signed(t.live_skill)),
    h("td", {}, t.model_version ?? "n/a"),
    h(
      "td",
      { class: "links" },
      h("a", { href: tickerHref(t.ticker) }, "forecast"),
      " ",
      h("a", { href: analysisHref(t.ticker) }, "analysis"),
    ),
  );
}

async function loadTickers() {
  clearTimeout(refreshTimer);
  try {
    const { data } = await api.tickers();
    const tickers = Array.isArray(data) ? data : (data?.tickers ?? []);
    fill(byId("tickers-body"), tickers.map(row));
    byId("tickers-empty").hidden = tickers.length > 0;
    clearNotice();
    if (tickers.some((t) => BUSY_PHASES.has(t.phase))) refreshTimer = setTimeout(loadTickers, 3000);
  } catch (err) {
    fill(byId("tickers-body"));
    showError(err);
  }
}

function readyView(ticker, answer) {
  const last = answer?.forecast?.at(-1);
  return h(
    "p",
    { "data-testid": "new-ticker-ready" },
    `${ticker}: forecast ready`,
    last ? ` (${last.date}: ${last.close.toFixed(2)})` : "",
    ". ",
    h("a", { href: tickerHref(ticker), "data-testid": "new-ticker-link" }, `Open ${ticker}`),
  );
}

async function requestForecast(event) {
  event.preventDefault();
  const ticker = normalizeTicker(byId("new-ticker-input").value);
  const days = Number(byId("new-ticker-days").value);
  const result = byId("new-ticker-result");
  const button = byId("new-ticker-submit");
  button.disabled = true;
  fill(result, h("p", { class: "muted" }, `asking for a ${days}-session forecast of ${ticker}...`));
  try {
    let { status, data } = await api.predict(ticker, days);
    if (status === 202) {
      fill(result, h("p", {}, `${ticker} has no model yet: training started (task ${data.task_id}).`), progressView({ phase: "Pending", task_id: data.task_id }));
      loadTickers();
      await watchTask(data.task_id, {
        onUpdate: (st) => fill(result, h("p", {}, `${ticker}: training (task ${data.task_id}).`), progressView(st)),
      });
      ({ status, data } = await api.predict(ticker, days));
    }
    result.append(status === 200 ? readyView(ticker, data) : h("p", {}, `${ticker}: still training, check the list.`));
  } catch (err) {
    result.append(h("p", { class: "error", "data-testid": "new-ticker-error" }, errorMessage(err)));
  } finally {
    button.disabled = false;
    loadTickers();
  }
}

mountKeyPanel(loadTickers);
byId("new-ticker-form").addEventListener("submit", requestForecast);
loadTickers();
