// docs/openapi.json against a real OpenAPI validator (@apidevtools/swagger-parser), the JSON
// examples of docs/api.md against its schemas (ajv, JSON Schema 2020-12, which OpenAPI 3.1 uses),
// and a real `rerankd serve` against both: it serves the file byte for byte, every route it has is
// described, and its answers on each route (successes and errors) are instances of what the
// document says, headers included. The requests sent are checked against the request schemas
// too: the schema accepts what the server accepts and refuses what it refuses for their shape.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { documents as docs, query as q, requirePackages, source, startServer } from "./harness.mjs";

const [{ default: SwaggerParser }, { default: Ajv2020 }, { default: addFormats }] =
  await requirePackages("@apidevtools/swagger-parser", "ajv/dist/2020.js", "ajv-formats");

const specPath = path.join(source, "docs", "openapi.json");
const specText = fs.readFileSync(specPath, "utf8");
const spec = () => JSON.parse(specText);  // a fresh copy: the parser dereferences in place

const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true });
addFormats(ajv);
const resolved = await SwaggerParser.dereference(spec());
const schemas = resolved.components.schemas;

function check(schema, value, what) {
  const validate = ajv.compile(schema);
  assert.ok(validate(value), `${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 400)}`);
}
const isValid = (schema, value) => ajv.compile(schema)(value);

test("docs/openapi.json is a valid OpenAPI 3.1 document", async () => {
  const api = await SwaggerParser.validate(spec());
  assert.equal(api.openapi, "3.1.0");
  // The validator does reject a broken document (so the line above can fail).
  const dangling = spec();
  dangling.paths["/rerank"].post.requestBody.content["application/json"].schema = { $ref: "#/components/schemas/Nope" };
  await assert.rejects(SwaggerParser.validate(dangling));
  const undescribed = spec();
  delete undescribed.paths["/health"].get.responses["200"].description;
  await assert.rejects(SwaggerParser.validate(undescribed));
});

// Every ```json block in docs/api.md, with the schema named in the comment just above it.
function apiExamples() {
  const lines = fs.readFileSync(path.join(source, "docs", "api.md"), "utf8").split("\n");
  const out = [];
  for (let i = 0; i < lines.length; ++i) {
    if (lines[i].trim() !== "```json") continue;
    const end = lines.indexOf("```", i + 1);
    let mark = i - 1;
    while (mark >= 0 && lines[mark].trim() === "") --mark;
    const name = /^<!-- schema: (\w+) -->$/.exec(lines[mark]?.trim() ?? "")?.[1];
    out.push({ line: i + 1, name, value: JSON.parse(lines.slice(i + 1, end).join("\n")) });
    i = end;
  }
  return out;
}

test("every JSON example in docs/api.md is valid against the schema it names", () => {
  const examples = apiExamples();
  assert.ok(examples.length >= 10, `${examples.length} examples`);
  for (const { line, name, value } of examples) {
    assert.ok(name, `docs/api.md:${line}: a JSON example needs a "<!-- schema: Name -->" line above it`);
    assert.ok(schemas[name], `docs/api.md:${line}: no schema ${name} in docs/openapi.json`);
    check(schemas[name], value, `docs/api.md:${line} as ${name}`);
    // And the check can fail: without a required field the example is no longer valid.
    const target = Array.isArray(value) ? value[0] : value;
    const schema = Array.isArray(value) ? schemas[name].items : schemas[name];
    for (const field of schema.required ?? []) {
      const broken = structuredClone(value);
      delete (Array.isArray(broken) ? broken[0] : broken)[field];
      assert.ok(field in target && !isValid(schemas[name], broken), `docs/api.md:${line} without ${field}`);
    }
  }
});

// The documented answer for `status` on `route`/`method`: its own entry, or `default` where the
// case allows (404 and 405 are nobody's own entry).
function checkAnswer(route, method, answer, { viaDefault = false } = {}) {
  const operation = resolved.paths[route]?.[method];
  assert.ok(operation, `${method.toUpperCase()} ${route} is not in docs/openapi.json`);
  const documented = operation.responses[String(answer.status)];
  assert.ok(documented || viaDefault, `${method} ${route}: status ${answer.status} is not documented`);
  const response = documented ?? operation.responses.default;
  const what = `${method.toUpperCase()} ${route} ${answer.status}`;
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const value = answer.headers.get(name);
    if (value === null) {
      assert.ok(!header.required, `${what}: header ${name} is missing`);
      continue;
    }
    check(header.schema, header.schema.type === "integer" ? Number(value) : value, `${what} header ${name}`);
  }
  const type = (answer.headers.get("content-type") ?? "").split(";")[0].trim();
  const content = response.content?.[type];
  assert.ok(content, `${what}: Content-Type ${type} is not documented (${Object.keys(response.content ?? {})})`);
  check(content.schema, type === "application/json" ? JSON.parse(answer.body) : answer.body, what);
}

async function call(url, route, method, body, headers = {}) {
  const init = { method: method.toUpperCase(), headers };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const response = await fetch(url + route, init);
  return { status: response.status, headers: response.headers, body: await response.text() };
}

let open, keyed;
before(async () => {
  [open, keyed] = await Promise.all([
    startServer(["--max-client-batch-size", "4"]),
    startServer(["--api-key", "openapi-test-key"]),
  ]);
});
after(async () => { await Promise.all([open?.stop(), keyed?.stop()]); });

test("the server serves docs/openapi.json as it is, and describes every route it has", async () => {
  const served = await call(open.url, "/openapi.json", "get");
  assert.equal(served.status, 200);
  assert.ok(served.body === specText, "GET /openapi.json differs from docs/openapi.json (rebuild rerankd?)");
  checkAnswer("/openapi.json", "get", served);
  const info = JSON.parse((await call(open.url, "/info", "get")).body);
  assert.equal(spec().info.version, info.version, "docs/openapi.json's info.version is the server's");
  // Its routes, as it labels them in /metrics (every route from the start, and "other").
  const metrics = (await call(open.url, "/metrics", "get")).body;
  const routes = new Set([...metrics.matchAll(/rerankd_http_request_duration_seconds_count\{route="([^"]+)"\}/g)].map((m) => m[1]));
  routes.delete("other");
  assert.deepEqual([...routes].sort(), Object.keys(spec().paths).sort());
});

// [route, body, status, the request schema's verdict ("valid", "invalid", or null: not JSON /
// refused for a reason no schema can see), extra headers]
const long = docs[4];
const rerankCases = [
  ["/rerank", { query: q, texts: docs.slice(0, 4), return_text: true, return_tokens: true }, 200, "valid"],
  ["/rerank", { query: q, texts: [long, "hi"], raw_scores: true, truncation_direction: "Left", truncate: null }, 200, "valid"],
  ["/rerank", { query: q, documents: docs.slice(0, 3), return_tokens: true, unknown_field: 1 }, 200, "valid"],
  ["/v1/rerank", { model: "m", query: q, documents: ["hi", { text: long }], top_n: 1, return_documents: true, return_tokens: true }, 200, "valid"],
  ["/v2/rerank", { query: q, documents: docs.slice(0, 3) }, 200, "valid"],
  ["/rerank", "", 400, null],
  ["/rerank", "{not json", 400, null],
  ["/rerank", { texts: ["a"] }, 400, "invalid"],
  ["/rerank", { query: "q", texts: [] }, 400, "invalid"],
  ["/rerank", { query: "q", texts: ["a"], documents: ["b"] }, 400, "invalid"],
  ["/v1/rerank", { query: "q", documents: [{ title: "no text" }] }, 400, "invalid"],
  ["/rerank", { query: 5, texts: ["a"] }, 422, "invalid"],
  ["/rerank", { query: "q", texts: "a" }, 422, "invalid"],
  ["/rerank", { query: "q", texts: ["a"], truncation_direction: "Up" }, 422, "invalid"],
  ["/rerank", { query: "q", texts: ["a"], return_tokens: "yes" }, 422, "invalid"],
  ["/v1/rerank", { query: "q", documents: ["a"], top_n: 0 }, 422, "invalid"],
  ["/v1/rerank", { query: "q", documents: ["a"], top_n: 1.5 }, 422, "invalid"],
  ["/rerank", { query: "q", texts: [long], truncate: false }, 422, "valid"],
  ["/rerank", { query: "q", texts: ["a", "b", "c", "d", "e"] }, 413, "valid"],
  ["/rerank", { query: "q", texts: ["a"] }, 400, "valid", { "X-Request-Timeout": "soon" }],
  ["/rerank", { query: "q", texts: ["a"] }, 504, "valid", { "X-Request-Timeout": "1e-9" }],
];

test("rerank answers, successes and errors, are what the document says", async () => {
  for (const [route, body, status, verdict, headers] of rerankCases) {
    const what = `${route} ${JSON.stringify(body).slice(0, 80)}`;
    const answer = await call(open.url, route, "post", body, { "Content-Type": "application/json", ...headers });
    assert.equal(answer.status, status, `${what}: ${answer.body}`);
    checkAnswer(route, "post", answer);
    if (verdict !== null) {
      const schema = resolved.paths[route].post.requestBody.content["application/json"].schema;
      assert.equal(isValid(schema, body), verdict === "valid", `${what}: the request schema's verdict`);
    }
    if (status === 200) assert.match(answer.headers.get("server-timing"), /^queue;dur=/);
  }
});

test("the other routes' answers are what the document says", async () => {
  for (const route of ["/health", "/info", "/metrics", "/"]) checkAnswer(route, "get", await call(open.url, route, "get"));
  checkAnswer("/health", "get", await call(open.url, "/nowhere", "get"), { viaDefault: true });
  const wrongMethod = await call(open.url, "/rerank", "get");
  assert.equal(wrongMethod.status, 405);
  checkAnswer("/rerank", "post", wrongMethod, { viaDefault: true });
});

test("with API keys: 401 as documented, /health and / open, the rest with the key", async () => {
  const bearer = { Authorization: "Bearer openapi-test-key" };
  for (const route of ["/info", "/metrics", "/openapi.json"]) {
    const refused = await call(keyed.url, route, "get");
    assert.equal(refused.status, 401, route);
    checkAnswer(route, "get", refused);
    checkAnswer(route, "get", await call(keyed.url, route, "get", undefined, bearer));
  }
  const refused = await call(keyed.url, "/v1/rerank", "post", { query: q, documents: ["a"] });
  assert.equal(refused.status, 401);
  checkAnswer("/v1/rerank", "post", refused);
  checkAnswer("/v1/rerank", "post", await call(keyed.url, "/v1/rerank", "post", { query: q, documents: ["a"] }, bearer));
  for (const route of ["/health", "/"]) {
    const answer = await call(keyed.url, route, "get");
    assert.equal(answer.status, 200, route);
    checkAnswer(route, "get", answer);
  }
});
