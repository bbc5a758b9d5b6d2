// Parse Mermaid diagrams with Mermaid's own parser: one diagram per argument file; prints
// one JSON line per file: {"file": ..., "ok": true, "type": ...} or {"ok": false, "error": ...}.
// mermaid.parse needs a DOM (DOMPurify): jsdom provides one.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMPurify = undefined;

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  try {
    const res = await mermaid.parse(text);
    console.log(JSON.stringify({ file, ok: true, type: res.diagramType }));
  } catch (err) {
    failed += 1;
    console.log(JSON.stringify({ file, ok: false, error: String(err.message || err).split("\n").slice(0, 4).join(" ") }));
  }
}
process.exit(failed ? 1 : 0);
