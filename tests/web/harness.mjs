// Shared by the web tests: runs `rerankd serve` on a test model (port 0, the port read from its
// "rerankd: listening on HOST:PORT" line), and loads the npm packages scripts/setup.sh installs
// into tests/web/node_modules, or says "skipped: ..." and exits 0 when they are missing (no npm
// registry) so that ctest reports the test skipped rather than failed.
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const source = process.env.RERANKD_SOURCE || path.resolve(here, "..", "..");
const bin = process.env.RERANKD_BIN;
const testdata = process.env.RERANKD_TESTDATA;

export function skip(reason) {
  console.log(`skipped: ${reason}`);
  process.exit(0);
}

// Each name's module, or skip naming the missing one.
export async function requirePackages(...names) {
  const modules = [];
  for (const name of names) {
    try {
      modules.push(await import(name));
    } catch (e) {
      if (e.code !== "ERR_MODULE_NOT_FOUND") throw e;
      skip(`npm package ${name} is not installed in tests/web/node_modules (scripts/setup.sh installs it; ` +
           `the npm registry was unreachable?)`);
    }
  }
  return modules;
}

export function modelDir(name = "tiny") {
  return path.join(testdata, "models", name);
}

// A running server. `args` go to `rerankd serve`; stop() ends it with SIGTERM and waits.
export async function startServer(args = [], model = "tiny") {
  if (!bin || !testdata) throw new Error("RERANKD_BIN and RERANKD_TESTDATA must be set (ctest sets them)");
  const child = spawn(bin, ["serve", "--model", modelDir(model), "--port", "0", "--log-level", "warn", ...args], {
    env: { ...process.env, RERANKD_DTYPE: process.env.RERANKD_DTYPE || "float32" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => { log += d; });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /rerankd: listening on (\S+)/.exec(out);
      if (m) resolve(`http://${m[1]}`);
    });
    child.on("exit", (code) => reject(new Error(`rerankd serve exited ${code} before listening:\n${log}`)));
  });
  return {
    url,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

// A few documents of the test corpus, and a long one that the test model must truncate.
export const query = "what is a panda?";
export const documents = [
  "hi",
  "The giant panda is a bear species endemic to China.",
  "The train to Edinburgh leaves from platform nine at a quarter past eight.",
  "Pandas eat bamboo almost exclusively, up to fourteen kilograms a day.",
  "The giant panda lives in the mountains of central China. ".repeat(120).trim(),
];

// The server's own ranking of `docs` for `q`: indices best first, from the TEI route.
export async function serverRanking(url, q, docs, headers = {}) {
  const response = await fetch(`${url}/rerank`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ query: q, texts: docs }),
  });
  if (!response.ok) throw new Error(`/rerank ${response.status}: ${await response.text()}`);
  return (await response.json()).map((r) => r.index);
}
