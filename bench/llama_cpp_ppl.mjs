// llama.cpp's perplexity (through node-llama-cpp's prebuilt libraries) of one
// window of token ids, with the K and V cache types it is asked for: the
// reference for `wkv ppl --cache-type-k/-v` (bench/kv_types_ppl.sh).
//
//   node llama_cpp_ppl.mjs MODEL IDS.json TYPE_K TYPE_V [vulkan|cpu]
//
// IDS.json: a JSON array of token ids (BOS first), as `wkv tokenize --json`
// writes them, so that both engines score the same tokens. Every next token is
// scored with the full softmax (temperature 1, nothing cut), one window, the
// full cache. A quantised V needs flash attention in llama.cpp, so it is on
// for every run. Prints one JSON line: {"perplexity", "tokens", "type_k", ...}.
import {getLlama} from "node-llama-cpp";
import {readFileSync} from "node:fs";

const [model_path, ids_path, type_k, type_v, gpu = "cpu"] = process.argv.slice(2);
const types = ["F32", "F16", "Q8_0", "Q4_0"];
if (!model_path || !ids_path || !types.includes(type_k) || !types.includes(type_v) || !["vulkan", "cpu"].includes(gpu)) {
    console.error("usage: node llama_cpp_ppl.mjs MODEL IDS.json F32|F16|Q8_0|Q4_0 F32|F16|Q8_0|Q4_0 [vulkan|cpu]");
    process.exit(2);
}
const ids = JSON.parse(readFileSync(ids_path, "utf8"));
if (!Array.isArray(ids) || ids.length < 2 || !ids.every(Number.isInteger)) {
    console.error(`${ids_path}: expected a JSON array of at least two token ids`);
    process.exit(2);
}

const llama = await getLlama({gpu: gpu === "cpu" ? false : "vulkan", build: "never", usePrebuiltBinaries: true, logLevel: "error"});
const model = await llama.loadModel({modelPath: model_path, gpuLayers: gpu === "cpu" ? 0 : "max"});
const context = await model.createContext({
    contextSize: ids.length + 8, batchSize: ids.length, flashAttention: true,
    experimentalKvCacheKeyType: type_k, experimentalKvCacheValueType: type_v,
});
const sequence = context.getSequence();
// Every token but the last asks for the raw logits of the next one; the
// log-softmax is taken here, in double.
const input = ids.slice(0, -1).map((id) => [id, {generateNext: {logits: true}}]);
const outputs = await sequence.controlledEvaluate(input);
let nll = 0;
for (let i = 0; i + 1 < ids.length; i++) {
    const logits = outputs[i]?.next?.logits;
    if (!logits) {
        console.error(`no logits after token ${i}: ${JSON.stringify(Object.keys(outputs[i]?.next ?? {}))}`);
        process.exit(1);
    }
    const values = logits instanceof Map ? [...logits.values()] : Array.from(logits);
    const target = logits instanceof Map ? logits.get(ids[i + 1]) : logits[ids[i + 1]];
    const max = Math.max(...values);
    let sum = 0;
    for (const v of values) sum += Math.exp(v - max);
    nll -= target - max - Math.log(sum);
}
console.log(JSON.stringify({
    engine: `llama.cpp ${gpu}`, model: model_path, type_k, type_v, flash_attention: true,
    tokens: ids.length - 1, perplexity: Math.exp(nll / (ids.length - 1)),
}));
await context.dispose();
await model.dispose();
await llama.dispose();
