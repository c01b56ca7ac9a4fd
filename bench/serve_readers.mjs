#!/usr/bin/env node
// Does reading a cache view slow the reply it shows? `wkv serve --cache-view`
// publishes each slot's view from its worker; readers take the latest copy and
// never wait for it. This streams one greedy reply of T tokens with no readers
// and the same reply with R readers polling GET /v1/cache?heads=1 with the
// reply's X-Cache-Token as fast as they can, alternately, for K rounds each, in
// one invocation on one server (loopback only, bounded in rounds), and reports
// the decode tokens/s of each (tokens after the first over the time after the
// first) and their ratio, with the readers' reads per second and statuses.
//
//   node bench/serve_readers.mjs [--tokens T] [--readers R] [--rounds K] [--interval-ms I] [--server-cpus LIST]
//                                [--out DIR] -- WKV_SERVE_ARGS...
//
// On a machine with few cores the readers' own work (a client receiving and
// parsing some 40 MB/s of JSON) takes CPU from the server, and a CPU Vulkan
// driver decodes on those same cores; to see what the server itself does, give
// it cores of its own: `taskset -c 0 node bench/serve_readers.mjs --server-cpus 1 ...`
// runs the server under `taskset -c 1`, with and without readers alike.
//
// WKV_SERVE_ARGS go to `wkv serve` as they are (model, tokenizer, cache flags);
// --cache-view, --parallel 1 and --port are set here. Defaults: 2,000 tokens, 8
// readers, 3 rounds, results in bench/results/serve_readers/.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scriptArgs, sleep, startServe } from "./serve_process.mjs";

function options(argv) {
  const o = { tokens: 2000, readers: 8, rounds: 3, intervalMs: 0, serverCpus: "", out: "bench/results/serve_readers", wkv: process.env.WKV || "build/cli/wkv" };
  o.serve = scriptArgs(argv, "node bench/serve_readers.mjs [--tokens T] [--readers R] [--rounds K] [--interval-ms I] " +
                             "[--server-cpus LIST] [--out DIR] -- -m MODEL ...", (flag, value) => {
    const n = Number(value);
    if (flag === "--out") o.out = value;
    else if (flag === "--server-cpus" && /^[0-9,-]+$/.test(value ?? "")) o.serverCpus = value;
    else if (["--tokens", "--readers", "--rounds"].includes(flag) && Number.isInteger(n) && n >= 1) o[flag.slice(2)] = n;
    else if (flag === "--interval-ms" && Number.isInteger(n) && n >= 0) o.intervalMs = n;
    else return false;
    return true;
  });
  return o;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

// The server's sum and count of per-reply mean times per output token.
async function perTokenTimes(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))[1]);
  return { sum: value("wkv_time_per_output_token_seconds_sum"), count: value("wkv_time_per_output_token_seconds_count") };
}

// One streamed reply of o.tokens tokens, with `readers` readers of its view while it runs. A
// reader asks as a poller should, with the ETag of the view it has (a 304 when it is current),
// every o.intervalMs (0: as fast as it can).
async function round(o, url, readers) {
  const before = await perTokenTimes(url);
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt: "Once upon a time", max_tokens: o.tokens, temperature: 0, stream: true }),
  });
  const token = res.headers.get("X-Cache-Token");
  let running = true, reads = 0, started = null;
  const firstToken = new Promise((resolve) => { started = resolve; });
  const statuses = {};
  // From the first token on: before the reply starts, its slot is not known and the token reads nothing.
  const readerLoops = Array.from({ length: readers }, async () => {
    await firstToken;
    let etag = null;
    while (running) {
      const r = await fetch(`${url}/v1/cache?heads=1`,
                            { headers: { "X-Cache-Token": token, ...(etag ? { "If-None-Match": etag } : {}) } });
      await r.arrayBuffer();
      if (r.status === 200) etag = r.headers.get("ETag");
      statuses[r.status] = (statuses[r.status] || 0) + 1;
      reads++;
      if (o.intervalMs) await sleep(o.intervalMs);
    }
  });
  const decoder = new TextDecoder();
  let first = 0, tokens = 0, buffer = "";
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let at;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, at).replace(/^data: /, "");
      buffer = buffer.slice(at + 2);
      if (event === "[DONE]") continue;
      const parsed = JSON.parse(event);
      if (parsed.usage) continue;
      if (parsed.choices?.[0]?.text) { tokens++; if (!first) { first = performance.now(); started(); } }
    }
  }
  const seconds = (performance.now() - first) / 1000;
  running = false;
  started();
  await Promise.all(readerLoops);
  const after = await perTokenTimes(url);
  if (after.count !== before.count + 1) throw new Error("serve_readers: the server counted another reply meanwhile");
  return { readers, tokens, decode_tok_s: 1 / (after.sum - before.sum), client_tok_s: (tokens - 1) / seconds, reads,
           reads_per_s: reads / seconds, statuses };
}

const o = options(process.argv.slice(2));
const { child: server, base: url } = await startServe(o.serverCpus ? ["taskset", "-c", o.serverCpus, o.wkv] : [o.wkv],
                                                     [...o.serve, "--cache-view", "--parallel", "1"]);
const runs = [];
try {
  await round(o, url, 0);  // warm-up: shaders compiled, pipelines cached
  for (let k = 0; k < o.rounds; k++) {
    runs.push(await round(o, url, 0));
    runs.push(await round(o, url, o.readers));
  }
} finally {
  server.kill("SIGINT");
}
const alone = median(runs.filter((r) => r.readers === 0).map((r) => r.decode_tok_s));
const read = median(runs.filter((r) => r.readers > 0).map((r) => r.decode_tok_s));
const summary = {
  serve_args: o.serve, server_cpus: o.serverCpus || "any", tokens: o.tokens, readers: o.readers, rounds: o.rounds,
  interval_ms: o.intervalMs,
  decode_tok_s_no_readers: alone, decode_tok_s_with_readers: read, ratio: read / alone, runs,
};
mkdirSync(o.out, { recursive: true });
writeFileSync(join(o.out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
const lines = [
  `decode tokens/s with ${o.readers} readers of the view (each every ${o.intervalMs} ms) / with none: ` +
    `${(read / alone).toFixed(3)} ` +
    `(medians of ${o.rounds}: ${read.toFixed(1)} / ${alone.toFixed(1)} tok/s; ${o.tokens}-token greedy replies; ` +
    `server on CPUs ${o.serverCpus || "any"})`,
  "",
  "| readers | decode tok/s (server) | as the client saw it | view reads | reads/s | statuses |",
  "|---|---|---|---|---|---|",
  ...runs.map((r) => `| ${r.readers} | ${r.decode_tok_s.toFixed(1)} | ${r.client_tok_s.toFixed(1)} | ${r.reads} | ${r.reads_per_s.toFixed(0)} | ${JSON.stringify(r.statuses)} |`),
];
writeFileSync(join(o.out, "summary.md"), lines.join("\n") + "\n");
console.log(lines.join("\n"));
