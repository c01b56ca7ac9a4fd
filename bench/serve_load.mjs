#!/usr/bin/env node
// A load benchmark for `wkv serve`, on loopback only, bounded in tokens and
// time: N clients at once, each holding one long conversation (the whole
// history sent again every turn, as OpenAI clients do, so the server reuses
// what the slot holds). It runs the same workload with 1 client first, as the
// baseline, then with N, and reports aggregate tok/s against N = 1, the
// server's resident set and device memory over time (sampled from /stats), and
// whether every client got every answer whole (a finish_reason and [DONE]).
//
//   node bench/serve_load.mjs [--clients N] [--tokens T] [--reply R] [--limit-s S] [--pause-ms P] [--soak 1] [--out DIR] -- WKV_SERVE_ARGS...
//
// --soak 1: the soak instead of the comparison: one phase of N clients for
// the whole --limit-s, each starting a new conversation whenever one reaches
// T tokens, pausing P ms after each answer (a bounded load).
// WKV_SERVE_ARGS are given to `wkv serve` as they are (the model, its
// tokenizer and template, cache flags); --parallel and --port are set here.
// Defaults: 4 clients, 5,000-token conversations, 128-token replies, 1,200 s
// per phase, results in bench/results/serve_load/.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scriptArgs, sleep, startServe } from "./serve_process.mjs";

function options(argv) {
  const o = { clients: 4, tokens: 5000, reply: 128, limitS: 1200, pauseMs: 0, soak: 0, out: "bench/results/serve_load", wkv: process.env.WKV || "build/cli/wkv" };
  const names = { "--clients": "clients", "--tokens": "tokens", "--reply": "reply", "--limit-s": "limitS", "--pause-ms": "pauseMs", "--soak": "soak" };
  o.serve = scriptArgs(argv, "node bench/serve_load.mjs [--clients N] [--tokens T] [--reply R] [--limit-s S] [--out DIR] -- -m MODEL ...",
                       (flag, value) => {
    const n = Number(value);
    if (flag === "--out") o.out = value;
    else if (names[flag] && Number.isInteger(n) && n >= 0) o[names[flag]] = n;
    else return false;
    return true;
  });
  return o;
}

function startServer(o, parallel) {
  return startServe([o.wkv], [...o.serve, "--parallel", String(parallel), "--queue", String(parallel)]);
}

// One streamed chat turn; returns the reply text, whether it ended properly
// (a finish_reason, then [DONE]) and the usage the server reported.
async function turn(base, messages, maxTokens, seed) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages, max_tokens: maxTokens, temperature: 0.8, seed, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) return { text: "", complete: false, status: res.status, usage: null };
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", finish = null, done = false, usage = null;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!event.startsWith("data: ")) continue;
      const data = event.slice(6);
      if (data === "[DONE]") { done = true; continue; }
      const chunk = JSON.parse(data);
      if (chunk.error) return { text, complete: false, status: 200, usage };
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      text += choice.delta.content || "";
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { text, complete: done && finish !== null && usage !== null, status: 200, usage };
}

const userLines = [
  "Tell me a story about a cat and a boat.",
  "What happened next?",
  "And then? Tell me more about the friends.",
  "Where did they go after that?",
  "How did the day end?",
];

// A client holds one conversation until it has `tokens` tokens: the prompt of its last turn
// (the whole history, as the server counted it) plus the reply.
// In a soak it then starts another, until the deadline.
async function client(base, o, id, deadline) {
  let messages = [{ role: "system", content: "You tell short stories." }];
  let tokens = 0, turns = 0, complete = 0, reused = 0, fed = 0, conversations = 1;
  for (;;) {
    if (tokens >= o.tokens && o.soak && Date.now() < deadline) {
      messages = [{ role: "system", content: "You tell short stories." }];
      tokens = 0;
      conversations++;
    }
    if (tokens >= o.tokens || Date.now() >= deadline) break;
    messages.push({ role: "user", content: userLines[turns % userLines.length] });
    const r = await turn(base, messages, o.reply, 1000 * id + turns);
    turns++;
    if (!r.complete) return { id, turns, complete, tokens, reused, fed, failed: `turn ${turns}: status ${r.status}` };
    complete++;
    messages.push({ role: "assistant", content: r.text });
    tokens = r.usage.total_tokens;
    reused += r.usage.prompt_tokens_details.cached_tokens;
    fed += r.usage.prompt_tokens - r.usage.prompt_tokens_details.cached_tokens;
    if (o.pauseMs) await sleep(o.pauseMs);
  }
  return { id, turns, complete, tokens, reused, fed, conversations, failed: tokens < o.tokens && !o.soak ? "time limit" : null };
}

async function phase(o, n) {
  const { child, base } = await startServer(o, n);
  const samples = [];
  const t0 = Date.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        const s = await (await fetch(`${base}/stats`)).json();
        samples.push({ t: (Date.now() - t0) / 1000, generated: s.tokens_generated, resident: s.resident_bytes, device: s.device_bytes_allocated, kv: s.kv_bytes_in_use });
      } catch {}
      await sleep(1000);
    }
  })();
  const deadline = t0 + o.limitS * 1000;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => client(base, o, i, deadline)));
  const wall = (Date.now() - t0) / 1000;
  sampling = false;
  await sampler;
  const final = await (await fetch(`${base}/stats`)).json();
  child.kill("SIGTERM");
  await new Promise((r) => child.on("exit", r));
  return { n, wall, results, samples, generated: final.tokens_generated, tokPerS: final.tokens_generated / wall };
}

function spread(values) {
  const tail = values.slice(Math.floor(values.length / 10));  // after warm-up
  if (!tail.length) return { min: 0, max: 0, pct: 0 };
  const min = Math.min(...tail), max = Math.max(...tail);
  return { min, max, pct: max ? (100 * (max - min)) / max : 0 };
}

const o = options(process.argv.slice(2));
mkdirSync(o.out, { recursive: true });
const phases = [];
for (const n of o.clients === 1 || o.soak ? [o.clients] : [1, o.clients]) {
  console.error(`serve_load: ${n} client(s), ${o.tokens} tokens each`);
  const p = await phase(o, n);
  phases.push(p);
  writeFileSync(join(o.out, `samples_${n}.tsv`),
    "seconds\ttokens_generated\tresident_bytes\tdevice_bytes\tkv_bytes_in_use\n" +
    p.samples.map((s) => [s.t, s.generated, s.resident, s.device, s.kv].join("\t")).join("\n") + "\n");
}
const base = phases[0];
const mib = (b) => (b / 1048576).toFixed(1);
const soakFlags = o.soak ? ` --soak 1 --pause-ms ${o.pauseMs} --limit-s ${o.limitS}` : "";
let md = `# wkv serve under load\n\n\`node bench/serve_load.mjs${soakFlags} --clients ${o.clients} --tokens ${o.tokens} --reply ${o.reply} -- ${o.serve.join(" ")}\`\n\n`;
md += "| clients | wall s | tokens generated | aggregate tok/s | vs 1 client | complete answers | prompt tokens reused / fed | resident MiB (after warm-up) | device MiB |\n|---|---|---|---|---|---|---|---|---|\n";
let allComplete = true;
for (const p of phases) {
  const answers = p.results.reduce((n, r) => n + r.complete, 0), turns = p.results.reduce((n, r) => n + r.turns, 0);
  const failed = p.results.filter((r) => r.failed);
  if (failed.length) allComplete = false;
  const rs = spread(p.samples.map((s) => s.resident)), ds = spread(p.samples.map((s) => s.device));
  const reused = p.results.reduce((n, r) => n + r.reused, 0), fed = p.results.reduce((n, r) => n + r.fed, 0);
  md += `| ${p.n} | ${p.wall.toFixed(1)} | ${p.generated} | ${p.tokPerS.toFixed(1)} | ${(p.tokPerS / base.tokPerS).toFixed(2)}× | ${answers}/${turns}` +
    `${failed.length ? " (" + failed.map((r) => `client ${r.id}: ${r.failed}`).join("; ") + ")" : ""} | ${reused} / ${fed} | ` +
    `${mib(rs.min)}–${mib(rs.max)} (${rs.pct.toFixed(2)} %) | ${mib(ds.min)}–${mib(ds.max)} (${ds.pct.toFixed(2)} %) |\n`;
}
md += `\nSamples of /stats every second: \`samples_N.tsv\` beside this file.\n`;
writeFileSync(join(o.out, "summary.md"), md);
writeFileSync(join(o.out, "summary.json"), JSON.stringify(phases.map((p) => ({ clients: p.n, wall_s: p.wall, generated: p.generated, tok_per_s: p.tokPerS, results: p.results })), null, 2));
process.stdout.write(md);
process.exit(allComplete ? 0 : 1);
