// The API key form in every page's header: asks for the key once, keeps it for this tab.

import { KEY_EVENT, getKey, setKey } from "./api.js";
import { byId, fill } from "./dom.js";

function showState(state) {
  const status = byId("api-key-status");
  const hasKey = Boolean(getKey());
  status.dataset.state = hasKey ? "set" : "missing";
  if (state === "refused") {
    status.dataset.state = "refused";
    fill(status, "the gateway refused this key (401): enter another one");
  } else {
    fill(status, hasKey ? "key set for this tab" : "no key yet: pages need one to show data");
  }
  byId("api-key-forget").hidden = !hasKey;
}

/** Wire the header's key form; `onChange()` runs after a key is saved or forgotten. */
export function mountKeyPanel(onChange) {
  const form = byId("api-key-form");
  const input = byId("api-key-input");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    setKey(input.value);
    input.value = "";
  });
  byId("api-key-forget").addEventListener("click", () => setKey(""));
  window.addEventListener(KEY_EVENT, (event) => {
    showState(event.detail?.state);
    if (event.detail?.state !== "refused" && onChange) onChange();
  });
  showState();
}
