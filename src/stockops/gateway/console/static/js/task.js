// A long-running task (a training, an analysis, a drift check) seen through GET /status/{task_id}:
// poll until a terminal phase, showing phase, epoch and a progress bar on the way.

import { ApiError, api } from "./api.js";
import { h, sleep } from "./dom.js";
import { pct } from "./format.js";

export const DONE_PHASES = new Set(["Ready", "Succeeded"]);
// Phases of work still going on (a training waits for its parent, deploys; an analysis runs).
export const BUSY_PHASES = new Set(["Pending", "WaitingForParent", "Training", "Deploying", "Running"]);
export const FAILED_PHASES = new Set(["Failed"]);

export class TaskFailedError extends Error {
  constructor(status) {
    super(failureText(status));
    this.status = status;
  }
}

function failureText(status) {
  const bad = (status.conditions ?? []).find((c) => c.status === "False" && (c.reason || c.message));
  if (bad) return `${bad.reason ?? bad.type}: ${bad.message ?? ""}`.trim();
  return status.message ?? `task ${status.task_id ?? ""} failed`;
}

/** Progress 0-100 from a status: `progress`, or epoch/epochs, or 100 once done. */
export function progressPercent(status) {
  if (DONE_PHASES.has(status.phase)) return 100;
  if (typeof status.progress === "number" && Number.isFinite(status.progress)) {
    return Math.max(0, Math.min(100, status.progress));
  }
  if (status.epochs > 0 && typeof status.epoch === "number") {
    return Math.max(0, Math.min(100, (100 * status.epoch) / status.epochs));
  }
  return 0;
}

/** The progress block for one status (a fresh element; callers swap it in). */
export function progressView(status, label = "training") {
  const percent = progressPercent(status);
  const phase = status.phase ?? "Pending";
  const epochText =
    typeof status.epoch === "number" && status.epochs ? `epoch ${status.epoch} of ${status.epochs}` : "";
  const problems = (status.conditions ?? []).filter(
    (c) => c.status === "False" && (c.message || c.reason) && FAILED_PHASES.has(phase),
  );
  return h(
    "div",
    { class: "task", "data-testid": "task-progress", "data-phase": phase, "data-task-id": status.task_id },
    h(
      "p",
      { class: "task-line" },
      h("span", { class: `phase phase-${phase.toLowerCase()}`, "data-testid": "task-phase" }, phase),
      " ",
      h("span", { "data-testid": "task-detail" }, [epochText, `${Math.round(percent)} %`].filter(Boolean).join(", ")),
    ),
    h(
      "progress",
      { max: "100", value: String(percent), "aria-label": `${label} progress`, "data-testid": "task-progress-bar" },
      pct(percent / 100, 0),
    ),
    problems.length
      ? h(
          "ul",
          { class: "conditions", "data-testid": "task-conditions" },
          problems.map((c) => h("li", {}, `${c.reason ?? c.type}: ${c.message ?? ""}`)),
        )
      : null,
  );
}

/**
 * Poll a task until it is done; `onUpdate(status)` sees every answer. Resolves with the final status,
 * rejects with TaskFailedError on Failed. Rate limits wait Retry-After; a dropped connection is retried.
 */
export async function watchTask(taskId, { onUpdate, intervalMs = 1000, maxMinutes = 60 } = {}) {
  const deadline = Date.now() + maxMinutes * 60_000;
  let networkErrors = 0;
  while (Date.now() < deadline) {
    let status;
    try {
      ({ data: status } = await api.status(taskId));
      networkErrors = 0;
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) {
        await sleep(1000 * (err.retryAfter || 1));
        continue;
      }
      if (!(err instanceof ApiError) && networkErrors++ < 5) {
        await sleep(intervalMs * 2 ** networkErrors);
        continue;
      }
      throw err;
    }
    onUpdate?.(status);
    if (FAILED_PHASES.has(status.phase)) throw new TaskFailedError(status);
    if (DONE_PHASES.has(status.phase) || status.done === true) return status;
    await sleep(intervalMs);
  }
  throw new Error(`task ${taskId} still not done after ${maxMinutes} minutes`);
}
