// `wkv serve` as the benchmark scripts run it: on a free port of loopback, its
// stderr kept for the error if it does not start.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A script's command line: its own "--flag value" pairs, then "--" and wkv serve's arguments.
// `take(flag, value)` keeps a pair and says whether it was good; a bad one, or no serve
// arguments, prints `usage` and exits 2.
export function scriptArgs(argv, usage, take) {
  const split = argv.indexOf("--");
  const mine = split < 0 ? argv : argv.slice(0, split);
  const serve = split < 0 ? [] : argv.slice(split + 1);
  for (let i = 0; i < mine.length; i += 2) {
    if (!take(mine[i], mine[i + 1])) {
      console.error(`bad flag '${mine[i]}' or value '${mine[i + 1]}'\nusage: ${usage}`);
      process.exit(2);
    }
  }
  if (!serve.length) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return serve;
}

// Starts `command` (the wkv binary, or a wrapper such as taskset and its arguments, then wkv)
// with `serve ...args`; resolves to the child and the base URL once it listens.
export async function startServe(command, args) {
  const portFile = join(mkdtempSync(join(tmpdir(), "wkv-bench-")), "port");
  const child = spawn(command[0], [...command.slice(1), "serve", ...args, "--port", "0", "--port-file", portFile], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; i < 1200; i++) {
    try {
      const port = Number(readFileSync(portFile, "utf8"));
      if (port > 0) return { child, base: `http://127.0.0.1:${port}` };
    } catch {}
    if (child.exitCode !== null) throw new Error(`wkv serve exited: ${stderr}`);
    await sleep(100);
  }
  child.kill("SIGTERM");
  throw new Error("wkv serve did not listen within 120 s");
}
