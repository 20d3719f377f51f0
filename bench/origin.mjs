#!/usr/bin/env node
// The origin of scripts/bench's live-key case: as fast as Node allows, so the benchmark
// measures the gateway, not the origin. Every request gets 200 with a small JSON that names
// the account keygate forwarded (X-Keygate-Account), so the bench can check that the answer
// really came through keygate from this origin. No signature check (see
// scripts/demo-origin.mjs for that).
//
//   PORT=9191 node bench/origin.mjs

import { createServer } from "node:http";

const port = Number(process.env.PORT ?? 9191);
let served = 0;

const server = createServer((req, res) => {
  served += 1;
  const body = JSON.stringify({
    object: "bench_origin",
    account: req.headers["x-keygate-account"] ?? null,
    environment: req.headers["x-keygate-environment"] ?? null,
    signed: typeof req.headers["x-keygate-signature"] === "string",
  });
  req.resume(); // drain any request body
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  console.log(`bench origin listening on http://127.0.0.1:${port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    console.log(`bench origin: served ${served} requests`);
    process.exit(0);
  });
}
