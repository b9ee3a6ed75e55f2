// Hugging Face's own tokenizers library (the npm binding of the Rust crate) against rerankd's
// byte-level BPE and the Python reference (tests/reference/bpe_tokenizer.py): each tokenizer.json
// of $RERANKD_TESTDATA/text_tokenizers (Qwen's layout and the variants) encodes every case with
// addSpecialTokens=false, and the three must give the same ids. The Gemma sentencepiece model has
// no tokenizer.json the library could read; python3-sentencepiece checks it instead.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { requirePackages, skip } from "./harness.mjs";

const [{ default: tokenizers }] = await requirePackages("tokenizers");
const testdata = process.env.RERANKD_TESTDATA;
const cppBin = process.env.RERANKD_TOKENIZE_CASES_BIN;
if (!testdata || !cppBin) skip("RERANKD_TESTDATA and RERANKD_TOKENIZE_CASES_BIN must be set (ctest sets them)");
const root = path.join(testdata, "text_tokenizers");

const layouts = ["qwen", ...fs.readdirSync(path.join(root, "variants")).sort().map((v) => path.join("variants", v))];

for (const layout of layouts) {
  test(`${layout}: Hugging Face tokenizers, the reference and rerankd give the same ids`, async () => {
    const dir = path.join(root, layout);
    const hf = tokenizers.Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
    const cases = fs.readFileSync(path.join(dir, "tokenizer-cases.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const cpp = execFileSync(cppBin, [dir], { encoding: "utf8", maxBuffer: 64 << 20 }).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(cpp.length, cases.length);
    assert.ok(cases.length > 90);
    let differing = [];
    for (const [k, c] of cases.entries()) {
      const ids = (await hf.encode(c.text, null, { addSpecialTokens: false })).getIds();
      if (JSON.stringify(ids) !== JSON.stringify(c.ids) || JSON.stringify(ids) !== JSON.stringify(cpp[k])) {
        differing.push(`${JSON.stringify(c.text).slice(0, 80)}: tokenizers ${JSON.stringify(ids)}, reference ` +
                       `${JSON.stringify(c.ids)}, rerankd ${JSON.stringify(cpp[k])}`);
      }
    }
    assert.deepEqual(differing, []);
  });
}
