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
//   node bench/serve_readers.mjs [--tokens T] [--readers R] [--rounds K] [--out DIR] -- WKV_SERVE_ARGS...
//
// WKV_SERVE_ARGS go to `wkv serve` as they are (model, tokenizer, cache flags);
// --cache-view, --parallel 1 and --port are set here. Defaults: 2,000 tokens, 8
// readers, 3 rounds, results in bench/results/serve_readers/.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function options(argv) {
  const o = { tokens: 2000, readers: 8, rounds: 3, out: "bench/results/serve_readers", wkv: process.env.WKV || "build/cli/wkv" };
  const split = argv.indexOf("--");
  const mine = split < 0 ? argv : argv.slice(0, split);
  o.serve = split < 0 ? [] : argv.slice(split + 1);
  for (let i = 0; i < mine.length; i += 2) {
    const [flag, value] = [mine[i], mine[i + 1]];
    const n = Number(value);
    if (flag === "--out") o.out = value;
    else if (["--tokens", "--readers", "--rounds"].includes(flag) && Number.isInteger(n) && n >= 1) o[flag.slice(2)] = n;
    else {
      console.error(`serve_readers: bad flag '${flag}' or value '${value}'`);
      process.exit(2);
    }
  }
  if (!o.serve.length) {
    console.error("usage: node bench/serve_readers.mjs [--tokens T] [--readers R] [--rounds K] [--out DIR] -- -m MODEL ...");
    process.exit(2);
  }
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

async function startServer(o) {
  const dir = mkdtempSync(join(tmpdir(), "wkv-readers-"));
  const portFile = join(dir, "port");
  const server = spawn(o.wkv, ["serve", ...o.serve, "--cache-view", "--parallel", "1", "--port", "0", "--port-file", portFile],
                       { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 1200; i++) {
    try { return { server, url: `http://127.0.0.1:${Number(readFileSync(portFile, "utf8"))}` }; } catch { await sleep(100); }
    if (server.exitCode !== null) break;
  }
  console.error("serve_readers: wkv serve did not start");
  process.exit(1);
}

// One streamed reply of o.tokens tokens, with `readers` readers of its view while it runs.
async function round(o, url, readers) {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt: "Once upon a time", max_tokens: o.tokens, temperature: 0, stream: true }),
  });
  const token = res.headers.get("X-Cache-Token");
  let running = true, reads = 0;
  const statuses = {};
  const readerLoops = Array.from({ length: readers }, async () => {
    while (running) {
      const r = await fetch(`${url}/v1/cache?heads=1`, { headers: { "X-Cache-Token": token } });
      await r.arrayBuffer();
      statuses[r.status] = (statuses[r.status] || 0) + 1;
      reads++;
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
      if (parsed.choices?.[0]?.text) { tokens++; if (!first) first = performance.now(); }
    }
  }
  const seconds = (performance.now() - first) / 1000;
  running = false;
  await Promise.all(readerLoops);
  return { readers, tokens, decode_tok_s: (tokens - 1) / seconds, reads, reads_per_s: reads / seconds, statuses };
}

const o = options(process.argv.slice(2));
const { server, url } = await startServer(o);
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
  serve_args: o.serve, tokens: o.tokens, readers: o.readers, rounds: o.rounds,
  decode_tok_s_no_readers: alone, decode_tok_s_with_readers: read, ratio: read / alone, runs,
};
mkdirSync(o.out, { recursive: true });
writeFileSync(join(o.out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
const lines = [
  `decode tokens/s with ${o.readers} readers of the view / with none: ${(read / alone).toFixed(3)} ` +
    `(medians of ${o.rounds}: ${read.toFixed(1)} / ${alone.toFixed(1)} tok/s; ${o.tokens}-token greedy replies)`,
  "",
  "| readers | decode tok/s | view reads | reads/s | statuses |",
  "|---|---|---|---|---|",
  ...runs.map((r) => `| ${r.readers} | ${r.decode_tok_s.toFixed(1)} | ${r.reads} | ${r.reads_per_s.toFixed(0)} | ${JSON.stringify(r.statuses)} |`),
];
writeFileSync(join(o.out, "summary.md"), lines.join("\n") + "\n");
console.log(lines.join("\n"));
