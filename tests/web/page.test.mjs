// The page at / in headless Chromium (Debian's, driven by playwright-core): it loads from a real
// `rerankd serve` on the tiny test model, takes a query and pasted documents, and shows them
// ranked. The ranked list is read back from the DOM and checked against the float64 reference's
// order, scores and token counts (tests/reference/reference.py via build/testdata/expected) and
// against the API's own ranking of the same input. Then the flow with API keys: the page asks for
// a key and sends it like any client. Screenshots go to $RERANKD_ARTIFACTS (build/artifacts).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { modelDir, requirePackages, serverRanking, skip, startServer } from "./harness.mjs";

const chromiumPath = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (p) => p && fs.existsSync(p));
if (!chromiumPath) skip("no chromium found (scripts/setup.sh installs Debian's chromium; or set CHROMIUM)");
const [{ chromium }] = await requirePackages("playwright-core");

const artifacts = process.env.RERANKD_ARTIFACTS || path.resolve("artifacts");
fs.mkdirSync(artifacts, { recursive: true });

// The reference's answers for one query: a handful of the ranking set (distinct enough scores
// that float32 cannot reorder them) and one document long enough to be truncated.
function referenceCase() {
  const read = (name) => fs.readFileSync(path.join(process.env.RERANKD_TESTDATA, "expected", name), "utf8")
    .split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  const q = "what is panda?";
  const pool = read("ranking-tiny.jsonl").filter((r) => r.query === q && r.document === r.document.trim());
  const picked = [];
  for (const r of pool) {
    if (picked.every((p) => Math.abs(p.logit - r.logit) > 1e-3)) picked.push(r);
    if (picked.length === 7) break;
  }
  const long = read("tiny.jsonl").find((r) => r.query === q && r.ids.length === r.max_length);
  assert.ok(long && picked.length === 7, "the reference data has the rows this test needs");
  picked.splice(3, 0, long);
  return { query: q, rows: picked };
}

const sigmoid = (x) => 1 / (1 + Math.exp(-x));

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
});
after(async () => { await browser?.close(); });

// A fresh page on `url` that records every request it makes and every error or CSP complaint.
async function openPage(url) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const seen = { requests: [], problems: [] };
  page.on("request", (r) => seen.requests.push({ url: r.url(), headers: r.headers() }));
  page.on("pageerror", (e) => seen.problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") seen.problems.push(`console: ${m.text()}`); });
  await page.goto(`${url}/`);
  return { page, seen };
}

async function rankedList(page) {
  return page.$$eval("#results .result", (items) => items.map((li) => ({
    index: Number(li.dataset.index),
    score: Number(li.dataset.score),
    tokens: li.querySelector(".tokens").textContent,
    truncated: li.querySelector(".truncated") !== null,
    text: li.querySelector(".text").textContent,
  })));
}

async function submit(page, q, docsText, count) {
  await page.fill("#query", q);
  await page.fill("#documents", docsText);
  await page.click("#submit");
  await page.waitForFunction((n) => document.querySelectorAll("#results .result").length === n, count);
}

test("the page ranks pasted documents as the reference and the API do", async () => {
  const server = await startServer();
  try {
    const { page, seen } = await openPage(server.url);
    await page.waitForFunction(() => document.querySelector("#model").textContent.includes("tiny"));
    assert.ok(await page.locator("#model-row").isHidden(), "one model: no choice to offer");
    const { query: q, rows } = referenceCase();
    await submit(page, q, rows.map((r) => r.document).join("\n\n"), rows.length);
    const shown = await rankedList(page);

    const expectedOrder = rows.map((r, i) => [r.logit, i]).sort((a, b) => b[0] - a[0]).map(([, i]) => i);
    assert.deepEqual(shown.map((r) => r.index), expectedOrder, "the reference's order");
    assert.deepEqual(shown.map((r) => r.index), await serverRanking(server.url, q, rows.map((r) => r.document)),
                     "the API's own ranking of the same input");
    for (const r of shown) {
      const ref = rows[r.index];
      assert.ok(Math.abs(r.score - sigmoid(ref.logit)) < 1e-4, `document ${r.index}: ${r.score} vs ${sigmoid(ref.logit)}`);
      assert.equal(r.tokens, `${ref.ids.length} tokens`);
      assert.equal(r.truncated, ref.ids.length === ref.max_length, `document ${r.index}'s truncation mark`);
      assert.equal(r.text, ref.document);
    }
    assert.equal(shown.filter((r) => r.truncated).length, 1);
    const timing = await page.textContent("#timing");
    assert.match(timing, /^queue [\d.]+ ms · inference [\d.]+ ms · server [\d.]+ ms · round trip [\d.]+ ms · \d+ tokens$/);
    assert.ok(timing.endsWith(` ${rows.reduce((s, r) => s + r.ids.length, 0)} tokens`), timing);
    await page.screenshot({ path: path.join(artifacts, "page.png"), fullPage: true });

    // One document a line when there is no blank line; markup in a document stays text.
    const hostile = '<img src=x onerror="window.__pwned = 1">';
    await submit(page, "panda", ["pandas eat bamboo", hostile, "trains run late"].join("\n"), 3);
    const second = await rankedList(page);
    assert.ok(second.some((r) => r.text === hostile), "shown as text");
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.locator("#results img").count(), 0);

    // The page is a client of the public API and nothing else: this origin, these routes.
    const paths = seen.requests.map((r) => new URL(r.url));
    assert.ok(paths.every((u) => u.origin === server.url), JSON.stringify(seen.requests.map((r) => r.url)));
    assert.deepEqual([...new Set(paths.map((u) => u.pathname))].sort(), ["/", "/info", "/v1/rerank"]);
    assert.deepEqual(seen.problems, []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test("with several models the page offers them and ranks with the one chosen", async () => {
  const server = await startServer(["--model", "bert=" + modelDir("bert-cased")]);
  try {
    const { page, seen } = await openPage(server.url);
    await page.waitForSelector("#model-row:not([hidden])");
    assert.deepEqual(await page.$$eval("#model-choice option", (o) => o.map((x) => x.value)), ["tiny", "bert"]);
    await page.selectOption("#model-choice", "bert");
    const rows = fs.readFileSync(path.join(process.env.RERANKD_TESTDATA, "expected", "bert-cased.jsonl"), "utf8")
      .split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l))
      .filter((r, _, all) => r.query === all[0].query && r.document.trim() && r.document === r.document.trim());
    await submit(page, rows[0].query, rows.map((r) => r.document).join("\n\n"), rows.length);
    // BERT's reference scores, not the default model's: the choice reached the server.
    for (const r of await rankedList(page)) {
      const ref = rows[r.index];
      assert.ok(Math.abs(r.score - sigmoid(ref.logit)) < 1e-4, `document ${r.index}: ${r.score} vs ${sigmoid(ref.logit)}`);
    }
    assert.deepEqual(seen.problems, []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test("for a decoder reranker the page shows its instruction and sends the one typed", async () => {
  const server = await startServer(["--model", "qwen3=" + modelDir("qwen3-tiny"), "--max-length", "8192",
                                    "--dtype", "float32"]);
  try {
    const { page, seen } = await openPage(server.url);
    await page.waitForSelector("#model-row:not([hidden])");
    assert.ok(await page.$eval("#instruction-row", (e) => e.hidden), "a cross-encoder takes no instruction");
    await page.selectOption("#model-choice", "qwen3");
    await page.waitForSelector("#instruction-row:not([hidden])");
    assert.match(await page.$eval("#instruction", (e) => e.placeholder), /Given a web search query/);
    const rows = fs.readFileSync(path.join(process.env.RERANKD_TESTDATA, "expected", "qwen3-tiny.jsonl"), "utf8")
      .split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l))
      .filter((r) => r.instruction !== null && r.max_length === 8192 && r.document.trim() && r.document === r.document.trim());
    const same = rows.filter((r) => r.query === rows[0].query && r.instruction === rows[0].instruction);
    await page.fill("#instruction", same[0].instruction);
    await submit(page, same[0].query, same.map((r) => r.document).join("\n\n"), same.length);
    for (const r of await rankedList(page)) {
      const ref = same[r.index];
      assert.ok(Math.abs(r.score - sigmoid(ref.logit)) < 1e-4, `document ${r.index}: ${r.score} vs ${sigmoid(ref.logit)}`);
    }
    assert.deepEqual(seen.problems, []);
    await page.close();
  } finally {
    await server.stop();
  }
});

test("with API keys the page asks for one and sends it like any client", async () => {
  const server = await startServer(["--api-key", "page-test-key"]);
  try {
    const { page, seen } = await openPage(server.url);
    await page.waitForSelector("#auth:not([hidden])");
    assert.equal(await page.textContent("#model"), "API key required");

    // Ranking without a key is refused by the server, and the page says so.
    await page.fill("#query", "panda");
    await page.fill("#documents", "pandas eat bamboo\ntrains run late");
    await page.click("#submit");
    await page.waitForFunction(() => /API key/.test(document.querySelector("#error").textContent));
    assert.equal(await page.locator("#results .result").count(), 0);

    await page.fill("#key", "wrong-key");
    await page.click("#use-key");
    await page.waitForFunction(() => /refused this key/.test(document.querySelector("#error").textContent));

    await page.fill("#key", "page-test-key");
    await page.click("#use-key");  // then ranks what is in the form
    await page.waitForFunction(() => document.querySelectorAll("#results .result").length === 2);
    assert.ok(await page.locator("#auth").isHidden());
    assert.deepEqual((await rankedList(page)).map((r) => r.index),
                     await serverRanking(server.url, "panda", ["pandas eat bamboo", "trains run late"],
                                         { Authorization: "Bearer page-test-key" }));
    await page.screenshot({ path: path.join(artifacts, "page-with-key.png"), fullPage: true });

    const api = seen.requests.filter((r) => new URL(r.url).pathname !== "/");
    const last = api.filter((r) => new URL(r.url).pathname === "/v1/rerank").at(-1);
    assert.equal(last.headers.authorization, "Bearer page-test-key");
    assert.ok(api.filter((r) => r.headers.authorization === undefined).length >= 2, "the first tries went without");
    // The browser's own console logs each 401 as a failed resource; nothing else may go wrong.
    assert.deepEqual(seen.problems.filter((p) => !/status of 401/.test(p)), []);
    await page.close();
  } finally {
    await server.stop();
  }
});
