// Page: ask a question about a ticker's forecast; POST /analyze answers 202 with a task, polled until
// the report is there (stance and confidence computed from the facts, the report as Markdown).

import { api, errorMessage } from "./api.js";
import { clearNotice, normalizeTicker, showError, tickerHref } from "./common.js";
import { byId, fill, h, queryParam } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { mountKeyPanel } from "./keypanel.js";
import { progressView, watchTask } from "./task.js";

/** The report fields wherever the answer keeps them (the status's `result`, or the body itself). */
export function reportOf(answer) {
  const result = answer?.result && typeof answer.result === "object" ? answer.result : answer;
  return {
    stance: result?.stance ?? null,
    confidence: result?.confidence ?? null,
    markdown: result?.report_markdown ?? result?.markdown ?? "",
    cached: Boolean(result?.cached),
    cacheNote: result?.cache_note ?? "",
    modelVersion: result?.model_version ?? null,
    generator: result?.generator ?? null,
    ticker: result?.ticker ?? null,
  };
}

function showReport(ticker, report) {
  const stance = byId("analysis-stance");
  fill(stance, report.stance ?? "n/a");
  stance.className = `stance stance-${String(report.stance ?? "none").toLowerCase()}`;
  fill(byId("analysis-confidence"), report.confidence ?? "n/a");
  fill(
    byId("analysis-cached"),
    report.cached ? "cached" : "fresh",
    report.cacheNote ? h("span", { class: "muted" }, ` (${report.cacheNote})`) : "",
  );
  byId("analysis-cached").dataset.cached = String(report.cached);
  fill(
    byId("analysis-model"),
    h("a", { href: tickerHref(ticker) }, ticker),
    report.modelVersion ? ` version ${report.modelVersion}` : "",
    report.generator ? `, written by ${report.generator}` : "",
  );
  fill(byId("analysis-report"), renderMarkdown(report.markdown));
  byId("analysis-result").hidden = false;
}

async function ask(event) {
  event.preventDefault();
  const ticker = normalizeTicker(byId("analysis-ticker").value);
  const question = byId("analysis-question").value.trim();
  const button = byId("analysis-submit");
  const progress = byId("analysis-progress");
  button.disabled = true;
  byId("analysis-result").hidden = true;
  clearNotice();
  fill(progress, h("p", { class: "muted" }, `asking about ${ticker}...`));
  try {
    const { status, data } = await api.analyze(ticker, question);
    let answer = data;
    if (status === 202 && data?.task_id) {
      fill(progress, progressView({ phase: "Pending", task_id: data.task_id }, "analysis"));
      answer = await watchTask(data.task_id, {
        onUpdate: (st) => fill(progress, progressView(st, "analysis")),
      });
    }
    showReport(ticker, reportOf(answer));
  } catch (err) {
    fill(progress, h("p", { class: "error", "data-testid": "analysis-error" }, errorMessage(err)));
  } finally {
    button.disabled = false;
  }
}

async function loadTickerChoices() {
  try {
    const { data } = await api.tickers();
    const tickers = Array.isArray(data) ? data : (data?.tickers ?? []);
    fill(byId("analysis-tickers"), tickers.map((t) => h("option", { value: t.ticker }, t.name ?? t.ticker)));
  } catch (err) {
    showError(err);
  }
}

const preset = queryParam("ticker");
if (preset) byId("analysis-ticker").value = normalizeTicker(preset);
mountKeyPanel(loadTickerChoices);
byId("analysis-form").addEventListener("submit", ask);
loadTickerChoices();
