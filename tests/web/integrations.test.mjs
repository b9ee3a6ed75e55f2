// The JavaScript snippets of docs/integrations.md, run as they are written there against a real
// `rerankd serve` with an API key: each ```js block is written to a module under tests/web (so that
// it resolves tests/web/node_modules), its http://localhost:8080 replaced by the server's address,
// RERANKD_API_KEY set, and what it prints is checked against the server's own answer for the same
// query and documents.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";

import { here, requirePackages, source, startServer } from "./harness.mjs";

await requirePackages("cohere-ai", "@langchain/cohere", "@langchain/core/documents");

// The query and documents every snippet uses (the test checks that each one does).
const query = "What is the giant panda?";
const documents = [
  "The giant panda is a bear species endemic to China.",
  "The train to Edinburgh leaves from platform nine.",
  "Pandas eat bamboo almost exclusively.",
  "Paris is the capital of France.",
];
const key = "integrations-test-key";

function snippets() {
  const text = fs.readFileSync(path.join(source, "docs", "integrations.md"), "utf8");
  return [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m, i) => ({ n: i + 1, code: m[1] }));
}

let server, dir;
before(async () => {
  server = await startServer(["--api-key", key]);
  dir = fs.mkdtempSync(path.join(here, ".snippets-"));
});
after(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// The server's ranking, best first: [{index, score}], from its Cohere route.
async function expected(topN) {
  const response = await fetch(`${server.url}/v1/rerank`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, documents, top_n: topN }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).results.map((r) => ({ index: r.index, score: r.relevance_score }));
}

// A snippet prints one line a result, best first: "INDEX SCORE", or "SCORE TEXT" (LangChain,
// whose documents carry no index).
function parse(output) {
  return output.trim().split("\n").map((line) => {
    const [first, ...rest] = line.split(" ");
    if (/^\d+$/.test(first) && rest.length === 1) return { index: Number(first), score: Number(rest[0]) };
    const index = documents.indexOf(rest.join(" "));
    assert.ok(index >= 0, `unexpected output line: ${line}`);
    return { index, score: Number(first) };
  });
}

test("docs/integrations.md has the JavaScript snippets this test runs", () => {
  const found = snippets();
  assert.ok(found.length >= 4, `${found.length} snippets`);
  for (const { n, code } of found) {
    assert.ok(code.includes("http://localhost:8080"), `snippet ${n} names the server`);
    assert.ok(code.includes(JSON.stringify(query)) && documents.every((d) => code.includes(JSON.stringify(d))),
              `snippet ${n} uses the query and documents this test checks`);
  }
});

test("each JavaScript snippet ranks as the server does, with the API key", async () => {
  for (const { n, code } of snippets()) {
    const file = path.join(dir, `snippet-${n}.mjs`);
    fs.writeFileSync(file, code.replaceAll("http://localhost:8080", server.url));
    let stdout;
    try {
      ({ stdout } = await promisify(execFile)(process.execPath, [file],
                                             { env: { ...process.env, RERANKD_API_KEY: key }, timeout: 60000 }));
    } catch (e) {
      assert.fail(`snippet ${n} failed: ${e.message}\n${e.stderr ?? ""}\n${code}`);
    }
    const got = parse(stdout);
    const want = await expected(got.length);
    assert.ok(got.length >= 3, `snippet ${n} printed ${got.length} results`);
    assert.deepEqual(got.map((r) => r.index), want.map((r) => r.index), `snippet ${n}'s order`);
    got.forEach((r, i) => assert.ok(Math.abs(r.score - want[i].score) < 1e-6, `snippet ${n}: ${r.score} vs ${want[i].score}`));
  }
});

test("a snippet without the key is refused, so the key above did travel", async () => {
  const code = snippets()[0].code.replaceAll("http://localhost:8080", server.url);
  const file = path.join(dir, "no-key.mjs");
  fs.writeFileSync(file, code);
  const env = { ...process.env };
  delete env.RERANKD_API_KEY;
  await assert.rejects(promisify(execFile)(process.execPath, [file], { env, timeout: 60000 }),
                       (e) => /401|unauthorized|API key/i.test(e.stderr));
});
