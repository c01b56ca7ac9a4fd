// llama.cpp (through node-llama-cpp's prebuilt libraries) on a GGUF file:
// prompt and decode tokens/s with the same tokens and lengths as `wkv bench`,
// for bench/vs_llama_cpp.sh. Prints one JSON line per run.
//
//   node llama_cpp_peer.mjs MODEL N_PROMPT N_PREDICT RUNS [vulkan|cpu] [THREADS]
//
// The prompt is evaluated as llama.cpp does it, in one batch; decoding is greedy.
import {getLlama, readGgufFileInfo} from "node-llama-cpp";

const [model_path, n_prompt_text, n_predict_text, runs_text, gpu = "vulkan", threads_text = "1"] = process.argv.slice(2);
const n_prompt = Number(n_prompt_text), n_predict = Number(n_predict_text), runs = Number(runs_text), threads = Number(threads_text);
if (!model_path || !(n_prompt >= 1) || !(n_predict >= 1) || !(runs >= 1) || !["vulkan", "cpu"].includes(gpu)) {
    console.error("usage: node llama_cpp_peer.mjs MODEL N_PROMPT N_PREDICT RUNS [vulkan|cpu] [THREADS]");
    process.exit(2);
}

const llama = await getLlama({gpu: gpu === "cpu" ? false : "vulkan", build: "never", usePrebuiltBinaries: true, logLevel: "error"});
const context_size = n_prompt + n_predict + 8;
// Every layer and the classifier on the device. Not "max": node-llama-cpp then sizes its trial
// context by the file's training context, and on lavapipe a Phi-4-mini cache of 131072 entries
// per layer is more than one Vulkan buffer may hold, so llama.cpp aborts ("pre-allocated tensor
// (cache_k_l0) ... cannot run the operation"). fitContext makes that trial the run's own size.
const file_info = await readGgufFileInfo(model_path);
const layers = file_info.metadata[file_info.metadata.general.architecture].block_count + 1;
const gpu_layers = gpu === "cpu" ? 0 : {min: layers, max: layers, fitContext: {contextSize: context_size}};
const model = await llama.loadModel({modelPath: model_path, gpuLayers: gpu_layers});
const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 32000;
// wkv bench's prompt: BOS, then (p * 7919) mod vocab.
const prompt = Array.from({length: n_prompt}, (_, p) => (p === 0 ? 1 : (p * 7919) % vocab));

for (let run = 0; run < runs; run++) {
    const context = await model.createContext({contextSize: context_size, batchSize: Math.min(n_prompt, 512), threads});
    const sequence = context.getSequence();
    const t0 = process.hrtime.bigint();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const t1 = process.hrtime.bigint();
    let generated = 0;
    for await (const token of sequence.evaluate([prompt[n_prompt - 1]], {temperature: 0})) {
        if (++generated >= n_predict) break;
    }
    const t2 = process.hrtime.bigint();
    const seconds = (a, b) => Number(b - a) / 1e9;
    console.log(JSON.stringify({
        engine: `llama.cpp ${gpu}`, device: gpu === "cpu" ? "CPU" : (llama.getGpuDeviceNames ? (await llama.getGpuDeviceNames()).join(", ") : "vulkan"),
        prefill_tok_s: n_prompt / seconds(t0, t1), decode_tok_s: generated / seconds(t1, t2),
    }));
    await context.dispose();
}
await model.dispose();
await llama.dispose();
