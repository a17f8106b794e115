// A small Markdown subset rendered to DOM nodes: the shapes the analysis reports use (headings,
// paragraphs, bold/italic/code, bullet and numbered lists with nesting, tables, block quotes, fenced
// code, http(s) links). Text only ever becomes text nodes, never markup, so a report that contains
// "<script>" shows those characters.

import { h } from "./dom.js";

// bold, code, http(s) links, then *em* / _em_ (an underscore inside a word, as in model_name, is text)
const INLINE =
  /(\*\*[^*]+?\*\*|`[^`]+`|\[[^\]]+\]\(https?:\/\/[^\s)]+\)|(?<![\w*])\*(?![\s*]).+?(?<!\s)\*(?![\w*])|(?<!\w)_(?!\s).+?(?<!\s)_(?!\w))/;

/** Inline spans of one line of text, as an array of nodes. */
export function inline(text) {
  const nodes = [];
  let rest = text;
  while (rest) {
    const match = INLINE.exec(rest);
    if (!match) {
      nodes.push(document.createTextNode(rest));
      break;
    }
    if (match.index) nodes.push(document.createTextNode(rest.slice(0, match.index)));
    const token = match[0];
    if (token.startsWith("**")) nodes.push(h("strong", {}, inline(token.slice(2, -2))));
    else if (token.startsWith("`")) nodes.push(h("code", {}, token.slice(1, -1)));
    else if (token.startsWith("[")) {
      const [, label, href] = /^\[([^\]]+)\]\(([^)]+)\)$/.exec(token);
      nodes.push(h("a", { href, rel: "noopener noreferrer", target: "_blank" }, label));
    } else nodes.push(h("em", {}, inline(token.slice(1, -1))));
    rest = rest.slice(match.index + token.length);
  }
  return nodes;
}

const splitRow = (line) =>
  line
    .trim()
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split("|")
    .map((cell) => cell.trim());
const isTableSeparator = (line) => /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(line);
const LIST_ITEM = /^(\s*)([-*+]|\d+[.)])\s+(.*)$/;

function table(lines) {
  const head = splitRow(lines[0]);
  const aligns = splitRow(lines[1]).map((c) => (c.endsWith(":") ? (c.startsWith(":") ? "center" : "right") : null));
  // alignment by class, not a style attribute, so a strict Content-Security-Policy needs no exception
  const cell = (tag, text, i) => h(tag, aligns[i] ? { class: `align-${aligns[i]}` } : {}, inline(text));
  return h(
    "table",
    { class: "md-table" },
    h("thead", {}, h("tr", {}, head.map((text, i) => cell("th", text, i)))),
    h(
      "tbody",
      {},
      lines.slice(2).map((line) => h("tr", {}, splitRow(line).map((text, i) => cell("td", text, i)))),
    ),
  );
}

function list(lines) {
  // lines: consecutive list items (with indentation); nested by indentation depth
  const root = { indent: -1, el: null, children: [] };
  const stack = [root];
  for (const line of lines) {
    const [, spaces, marker, text] = LIST_ITEM.exec(line);
    const indent = spaces.length;
    while (stack.length > 1 && stack.at(-1).indent >= indent) stack.pop();
    const parent = stack.at(-1);
    const item = { indent, ordered: /\d/.test(marker), text, children: [] };
    parent.children.push(item);
    stack.push(item);
  }
  // siblings become one <ul> or <ol> per run of the same marker kind
  const build = (items) => {
    const runs = [];
    for (const item of items) {
      if (runs.at(-1)?.[0].ordered === item.ordered) runs.at(-1).push(item);
      else runs.push([item]);
    }
    return runs.map((run) =>
      h(
        run[0].ordered ? "ol" : "ul",
        {},
        run.map((item) => h("li", {}, inline(item.text), item.children.length ? build(item.children) : null)),
      ),
    );
  };
  return build(root.children);
}

/** The Markdown text as a DocumentFragment. Headings shift down one level (the page owns <h1>). */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    if (/^```/.test(line)) {
      const body = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) body.push(lines[i]);
      i++;
      fragment.append(h("pre", {}, h("code", {}, body.join("\n"))));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      const level = Math.min(6, heading[1].length + 1);
      fragment.append(h(`h${level}`, {}, inline(heading[2].trim())));
      i++;
      continue;
    }
    if (/^\s*\|/.test(line) && i + 1 < lines.length && isTableSeparator(lines[i + 1])) {
      const rows = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(lines[i++]);
      fragment.append(table(rows));
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
      fragment.append(h("blockquote", {}, renderMarkdown(quoted.join("\n"))));
      continue;
    }
    if (LIST_ITEM.test(line)) {
      const items = [];
      while (i < lines.length && LIST_ITEM.test(lines[i])) items.push(lines[i++]);
      fragment.append(...list(items));
      continue;
    }
    if (/^\s*(-{3,}|\*{3,})\s*$/.test(line)) {
      fragment.append(h("hr"));
      i++;
      continue;
    }
    const paragraph = [lines[i++].trim()]; // at least this line, so the loop always advances
    while (
      i < lines.length &&
      lines[i].trim() &&
      !/^(#{1,6}\s|```|\s*>|\s*\|)/.test(lines[i]) &&
      !LIST_ITEM.test(lines[i])
    ) {
      paragraph.push(lines[i++].trim());
    }
    fragment.append(h("p", {}, inline(paragraph.join(" "))));
  }
  return fragment;
}
