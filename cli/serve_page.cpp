#include "serve_page.hpp"

namespace wkv {

// A chat box that streams the reply, and beside it a live chart (from /stats)
// of the tokens so far against the tokens the KV cache holds, on one scale:
// under a compressing policy the second goes flat at the budget while the
// first keeps growing; under --policy full the two are one line. Below it,
// after each reply, on a server started with --cache-view, what the
// conversation's cache holds (/v1/cache, with the X-Cache-Token the reply
// carried: this tab's conversation only): its text, each token shaded by the
// share of (layer, KV head) caches still holding it (faded where none does,
// underlined where a held value absorbed evicted ones), and a strip of layers
// x positions (a sliding-window layer's row green, a global layer's blue).
// Without --cache-view that part says the view is off. Opening /?say=TEXT
// sends TEXT at once (repeat say= for more turns; demos and the browser test);
// &stream=0 asks for each reply whole (a headless browser's virtual clock
// waits for a pending request, but not for a streamed body).
const char* const kServePage = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wkv: an endless conversation in fixed memory</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; display: flex; height: 100vh; color: #222; }
  #chat { flex: 3; display: flex; flex-direction: column; border-right: 1px solid #ddd; }
  #log { flex: 1; overflow-y: auto; padding: 1em; }
  .msg { margin: 0.4em 0; padding: 0.5em 0.8em; border-radius: 8px; white-space: pre-wrap; max-width: 85%; }
  .user { background: #e3effd; margin-left: auto; }
  .assistant { background: #f2f2f2; }
  form { display: flex; gap: 0.5em; padding: 0.8em; border-top: 1px solid #ddd; }
  #input { flex: 1; font-size: 1em; padding: 0.5em; }
  #side { flex: 2; padding: 1em; }
  #chart { width: 100%; height: 260px; border: 1px solid #ddd; }
  .legend span { display: inline-block; margin-right: 1em; }
  .kv { color: #c0392b; } .tokens { color: #2471a3; }
  #numbers { margin-top: 0.8em; line-height: 1.6; }
  #side { overflow-y: auto; }
  #strip { width: 100%; height: 80px; border: 1px solid #ddd; image-rendering: pixelated; }
  #held { font-family: ui-monospace, monospace; font-size: 13px; line-height: 1.7; white-space: pre-wrap; word-break: break-all; }
  #held span.evicted { color: #aaa; }
  #held span.merged { border-bottom: 2px solid #c0392b; }
</style>
</head>
<body>
<div id="chat">
  <div id="log"></div>
  <form id="form"><input id="input" autocomplete="off" placeholder="Say something"><button>Send</button></form>
</div>
<div id="side">
  <h3>Memory</h3>
  <canvas id="chart" width="600" height="260"></canvas>
  <div class="legend"><span class="tokens">&#9632; tokens so far</span><span class="kv">&#9632; tokens the KV cache holds</span></div>
  <div id="numbers"></div>
  <h3>What the cache holds</h3>
  <div id="viewinfo">after the first reply</div>
  <canvas id="strip" width="600" height="80"></canvas>
  <div id="held"></div>
</div>
<script>
"use strict";
const log = document.getElementById("log"), input = document.getElementById("input");
const history = [];   // the whole conversation, sent again each turn: the server continues it in the slot that holds it
const points = [];    // {tokens, held}: tokens so far, and the entries the caches hold
let replies = 0;

// A server started with --api-key wants it on every request but /health: asked for once
// on the first 401, kept for this tab only.
async function api(path, options = {}) {
  const call = () => fetch(path, {...options, headers: {...(options.headers || {}),
    ...(sessionStorage.wkvKey ? {Authorization: "Bearer " + sessionStorage.wkvKey} : {})}});
  let res = await call();
  if (res.status === 401 && !api.asked) {
    api.asked = true;  // once: the polls would ask again every second
    const key = window.prompt("This server needs an API key:");
    if (key) { sessionStorage.wkvKey = key; res = await call(); }
  }
  return res;
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

const params = new URLSearchParams(location.search);
const streamed = params.get("stream") !== "0";

async function send(text) {
  history.push({role: "user", content: text});
  bubble("user", text);
  const out = bubble("assistant", "");
  const res = await api("/v1/chat/completions", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({messages: history, stream: streamed, max_tokens: 128, temperature: 0})});
  if (!res.ok) { out.textContent = "(error " + res.status + ")"; history.pop(); return; }
  let reply = "";
  const token = res.headers.get("X-Cache-Token");  // this reply's view, on a server with --cache-view
  if (!streamed) {
    const body = await res.json();
    reply = body.choices[0].message.content;
    out.textContent = reply;
  }
  const reader = streamed ? res.body.getReader() : null, decoder = new TextDecoder();
  let buffer = "";
  while (reader) {
    const {done, value} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let at;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, at).replace(/^data: /, "");
      buffer = buffer.slice(at + 2);
      if (event === "[DONE]") continue;
      const parsed = JSON.parse(event);
      const delta = parsed.choices?.[0]?.delta?.content;
      if (delta) { reply += delta; out.textContent = reply; }
    }
  }
  history.push({role: "assistant", content: reply});
  await poll();
  await showCache(token);
  replies++;
  document.body.dataset.replies = replies;
}

// The reply's cache: its text shaded by how widely each token is held, and a layers x positions strip.
async function showCache(token) {
  const info = document.getElementById("viewinfo");
  if (!token) { info.textContent = "off (the server shows it when started with --cache-view)"; return; }
  let v;
  try { v = await (await api("/v1/cache", {headers: {"X-Cache-Token": token}})).json(); } catch (e) { return; }
  if (!v.positions) return;
  const held = document.getElementById("held");
  held.textContent = "";
  let evicted = 0, merged = 0;
  for (const p of v.positions) {
    const span = document.createElement("span");
    const share = p.held / v.caches;
    span.textContent = p.text;
    span.style.background = "rgba(36, 113, 163, " + (0.08 + 0.6 * share).toFixed(3) + ")";
    if (p.held === 0) { span.className = "evicted"; span.style.background = "none"; evicted++; }
    if (p.merged > 0) { span.classList.add("merged"); merged++; }
    span.title = "position " + p.pos + ": held by " + p.held + " of " + v.caches + " caches" +
                 (p.merged ? ", " + p.merged + " of them with merged values" : "");
    held.appendChild(span);
  }
  const c = document.getElementById("strip"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const n = v.positions.length, w = c.width / Math.max(1, n), h = c.height / v.layers;
  // Sliding-window layers (Gemma 3) hold their last W positions whatever the policy: green rows.
  const windows = (v.layer_caches || []).map(layer => layer.window);
  v.positions.forEach((p, x) => p.layers.forEach((heads, l) => {
    if (!heads) return;
    g.fillStyle = (windows[l] ? "rgba(30, 132, 73, " : "rgba(36, 113, 163, ") + (heads / v.kv_heads).toFixed(3) + ")";
    g.fillRect(x * w, l * h, Math.max(w, 1), h);
  }));
  const windowed = windows.filter(W => W > 0).length;
  document.getElementById("viewinfo").innerHTML =
    "slot " + v.slot + ", <b>" + v.policy + "</b>: " + v.tokens + " tokens, " + (n - evicted) +
    " still held somewhere; " + v.evictions + " evictions, " + v.merges + " merged. Strip: layers (rows) x positions" +
    (windowed ? "; <span style=\"color: #1e8449\">green</span>: the " + windowed + " sliding-window layers (the last " +
                Math.max(...windows) + " positions), blue: the global layers, under " + v.policy : "") + ".";
  Object.assign(document.body.dataset, {viewTokens: n, viewEvicted: evicted, viewMerged: merged, windowLayers: windowed,
    heldFirst: (v.positions[0].held / v.caches).toFixed(3), heldLast: (v.positions[n - 1].held / v.caches).toFixed(3)});
}

function draw() {
  const c = document.getElementById("chart"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (points.length < 1) return;
  const max = Math.max(1, ...points.map(p => p.tokens));  // one scale for both
  g.fillStyle = "#888"; g.font = "12px sans-serif";
  g.fillText(max + " tokens", 4, 14);
  for (const [key, colour] of [["tokens", "#2471a3"], ["held", "#c0392b"]]) {
    g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    points.forEach((p, i) => {
      const x = points.length === 1 ? 0 : i * (c.width - 1) / (points.length - 1);
      const y = c.height - 4 - p[key] / max * (c.height - 8);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
  }
}

async function poll() {
  try {
    const s = await (await api("/stats")).json();
    const tokens = s.slots.reduce((n, slot) => n + slot.tokens, 0);
    const held = s.slots.reduce((n, slot) => n + slot.cache_entries, 0);
    points.push({tokens, held});
    if (points.length > 240) points.shift();
    document.body.dataset.points = points.length;
    document.body.dataset.kvBytes = s.kv_bytes_in_use;
    document.getElementById("numbers").innerHTML =
      "policy <b>" + s.policy + "</b>, budget " + s.budget + " entries<br>" +
      "tokens so far: <b>" + tokens + "</b>; the KV cache holds <b>" + held + "</b><br>" +
      "KV cache in use: <b>" + s.kv_bytes_in_use.toLocaleString() + "</b> bytes (allocated: " + s.kv_cache_bytes.toLocaleString() + ")<br>" +
      "decode: <b>" + s.tokens_per_second.toFixed(1) + "</b> tok/s";
    draw();
  } catch (e) { /* the server is gone; try again later */ }
}

document.getElementById("form").addEventListener("submit", e => {
  e.preventDefault();
  const text = input.value.trim();
  input.value = "";
  if (text) send(text);
});
setInterval(poll, 1000);
poll();
(async () => { for (const say of params.getAll("say")) await send(say); })();
</script>
</body>
</html>
)PAGE";

}  // namespace wkv
