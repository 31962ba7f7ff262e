// Replays a kit's golden prompts with transformers.js under Node: node replay_tjs.mjs NODE_MODULES KIT DTYPE EOG_IDS_JSON
// stdin: the golden file; stdout: [{prompt_ids, output_ids, output_text, rendered}] per case.
import { createRequire } from "node:module";
import { basename, dirname } from "node:path";
import { readFileSync } from "node:fs";

const [modules, kit, dtype, eogJson] = process.argv.slice(2);
const eog = new Set(JSON.parse(eogJson));
const T = await import(createRequire(modules + "/").resolve("@huggingface/transformers"));
T.env.allowRemoteModels = false;  // the kit folder only, never the hub
T.env.localModelPath = dirname(kit) + "/";
const id = basename(kit);
const golden = JSON.parse(readFileSync(0, "utf8"));
const tokenizer = await T.AutoTokenizer.from_pretrained(id);
const model = await T.AutoModelForCausalLM.from_pretrained(id, { dtype });
const long = (xs) => new T.Tensor("int64", BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
const out = [];
for (const c of golden.cases) {
  const rendered = Array.isArray(c.prompt)
    ? tokenizer.apply_chat_template(c.prompt, { tokenize: false, add_generation_prompt: true }) : null;
  const ids = c.prompt_ids;
  const seq = await model.generate({ input_ids: long(ids), attention_mask: long(ids.map(() => 1)),
                                     max_new_tokens: c.max_tokens, do_sample: false });
  const fresh = Array.from(seq.data, Number).slice(ids.length);
  const end = fresh.findIndex((t) => eog.has(t));  // the Engine stops before the first end token
  const kept = end < 0 ? fresh : fresh.slice(0, end);
  out.push({ prompt_ids: tokenizer.encode(c.text), output_ids: kept, rendered,
             output_text: tokenizer.decode(kept, { skip_special_tokens: true }) });  // as the Engine prints
}
process.stdout.write(JSON.stringify(out));
await model.dispose();
