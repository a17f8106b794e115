// What every page shares: the notice line for errors, phase badges, links between pages.

import { errorMessage } from "./api.js";
import { byId, fill, h } from "./dom.js";

export function showNotice(message) {
  const notice = byId("notice");
  fill(notice, message);
  notice.hidden = false;
}

export function clearNotice() {
  const notice = byId("notice");
  fill(notice);
  notice.hidden = true;
}

export function showError(err) {
  showNotice(errorMessage(err));
}

export function phaseBadge(phase, attrs = {}) {
  const text = phase || "Unknown";
  return h("span", { class: `phase phase-${text.toLowerCase()}`, ...attrs }, text);
}

export const tickerHref = (ticker) => `ticker.html?ticker=${encodeURIComponent(ticker)}`;
export const analysisHref = (ticker) => `analysis.html?ticker=${encodeURIComponent(ticker)}`;

/** The ticker as typed: trimmed and upper-cased (the gateway validates and answers 4xx if wrong). */
export const normalizeTicker = (value) => String(value ?? "").trim().toUpperCase();
