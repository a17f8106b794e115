// Number formatting for metrics and prices (pure). A missing value reads "n/a", never "NaN".

const missing = (x) => x === null || x === undefined || typeof x !== "number" || !Number.isFinite(x);

export function num(x, digits = 2) {
  return missing(x) ? "n/a" : x.toFixed(digits);
}

/** Signed: skill +0.012 / -0.034 (a sign makes "better or worse than the random walk" readable). */
export function signed(x, digits = 3) {
  if (missing(x)) return "n/a";
  const text = Math.abs(x).toFixed(digits);
  return (x < 0 && Number(text) !== 0 ? "-" : "+") + text;
}

export function pct(x, digits = 1) {
  return missing(x) ? "n/a" : `${(100 * x).toFixed(digits)} %`;
}

/** "[lo, hi]" in the value's format, or "" when either end is missing. */
export function interval(lo, hi, format = signed) {
  return missing(lo) || missing(hi) ? "" : `[${format(lo)}, ${format(hi)}]`;
}

/** A value with its 95 % interval: "+0.012 [-0.020, +0.041]". */
export function withInterval(x, lo, hi, format = signed) {
  const band = interval(lo, hi, format);
  return band ? `${format(x)} ${band}` : format(x);
}

export function isMissing(x) {
  return missing(x);
}
