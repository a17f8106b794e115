// The gateway's JSON API as the console uses it. Paths are relative to the page, so the console also
// works when the gateway sits behind a path prefix. The API key lives in sessionStorage (this tab only,
// gone when it closes) and goes out as `Authorization: Bearer <key>`.

const KEY_STORAGE = "stockops.apiKey";
export const KEY_EVENT = "stockops:key"; // fired on window when the key is set, cleared or refused

export function getKey() {
  return window.sessionStorage.getItem(KEY_STORAGE) ?? "";
}

export function setKey(key) {
  const trimmed = key.trim();
  if (trimmed) window.sessionStorage.setItem(KEY_STORAGE, trimmed);
  else window.sessionStorage.removeItem(KEY_STORAGE);
  window.dispatchEvent(new CustomEvent(KEY_EVENT, { detail: { state: trimmed ? "set" : "cleared" } }));
}

export class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter; // seconds, from Retry-After on 429 (null otherwise)
  }
}

/** FastAPI's `detail`: a string, or a list of {loc, msg} from validation ("body.ticker: ..."). */
export function detailText(body) {
  const detail = body && typeof body === "object" ? body.detail : body;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const loc = Array.isArray(item?.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return loc ? `${loc}: ${item?.msg ?? ""}` : String(item?.msg ?? JSON.stringify(item));
      })
      .join("; ");
  }
  return detail === undefined || detail === null ? "" : JSON.stringify(detail);
}

/** What to tell the user about a failed call (the status decides the advice). */
export function errorMessage(err) {
  if (!(err instanceof ApiError)) {
    // fetch rejects with a TypeError when the connection fails; anything else says what went wrong
    return err instanceof TypeError ? `the gateway could not be reached (${err.message})` : String(err?.message ?? err);
  }
  switch (err.status) {
    case 401:
      return "an API key is needed (or the one given was refused): enter a key above";
    case 403:
      return `this key lacks the scope for that: ${err.detail}`;
    case 429:
      return `rate limited: try again in ${err.retryAfter ?? "a few"} s`;
    default:
      return err.detail ? `${err.detail} (HTTP ${err.status})` : `HTTP ${err.status}`;
  }
}

/** One call: resolves {status, data} on 2xx, rejects with ApiError otherwise. */
export async function call(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const retry = response.headers.get("Retry-After");
    if (response.status === 401) {
      window.dispatchEvent(new CustomEvent(KEY_EVENT, { detail: { state: "refused" } }));
    }
    throw new ApiError(response.status, detailText(data), retry === null ? null : Number(retry));
  }
  return { status: response.status, data };
}

const seg = (value) => encodeURIComponent(value);

/** A task id is `<kind>/<name>/<generation>`: each part encoded, the slashes kept. */
export function statusPath(taskId) {
  return `status/${String(taskId).split("/").map(seg).join("/")}`;
}

export const api = {
  tickers: () => call("tickers"),
  ticker: (ticker) => call(`tickers/${seg(ticker)}`),
  history: (ticker, days) => call(`tickers/${seg(ticker)}/history?days=${Number(days)}`),
  predict: (ticker, days) => call("predict-child", { method: "POST", body: { ticker, days: Number(days) } }),
  status: (taskId) => call(statusPath(taskId)),
  analyze: (ticker, question) => call("analyze", { method: "POST", body: { ticker, question } }),
  monitor: (ticker) => call(`monitor/${seg(ticker)}`, { method: "POST" }),
  drift: (ticker) => call(`monitor/${seg(ticker)}/drift`),
};
