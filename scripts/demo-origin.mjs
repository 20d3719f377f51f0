#!/usr/bin/env node
// A demo origin for local development, and the reference for verifying keygate's signature.
//
//   node scripts/demo-origin.mjs            # listens on 127.0.0.1:9090
//   PORT=9191 ORIGIN_SIGNING_SECRET=… node scripts/demo-origin.mjs
//
// It answers every request with what it received and whether the signature verified
// (401 if not), and logs one line per request. `verifyKeygateRequest` below is the snippet an
// origin copies: it is exercised by the end-to-end suite against the real gateway.
//
// It is also a webhook receiver: point keygate's WEBHOOK_URL at http://127.0.0.1:9090/webhooks
// (with the same WEBHOOK_SIGNING_SECRET) and it logs each event whose signature verifies,
// answering 400 to any other. `verifyKeygateWebhook` is that snippet.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

/**
 * Proves that a request came through keygate. `headers` are the request's headers with
 * lower-case names (as Node gives them), `method` and `pathAndQuery` as the origin received
 * them (e.g. "GET", "/v1/accounts?limit=5"). Returns the verified identity, or null.
 */
export function verifyKeygateRequest({ secret, headers, method, pathAndQuery, maxAgeSeconds = 300, now = Date.now() }) {
  const h = (name) => headers[name] ?? "";
  const timestamp = h("x-keygate-timestamp");
  const signature = h("x-keygate-signature");
  if (!/^[0-9]+$/.test(timestamp) || !/^[0-9a-f]{64}$/.test(signature)) return null;
  // Refuse stale or future-dated requests: a captured request cannot be replayed later.
  if (Math.abs(now / 1000 - Number(timestamp)) > maxAgeSeconds) return null;
  const canonical = [
    "v1",
    timestamp,
    h("x-request-id"),
    h("x-keygate-account"),
    h("x-keygate-key"),
    h("x-keygate-environment"),
    h("x-keygate-product"),
    method.toUpperCase(),
    pathAndQuery,
  ].join("\n");
  const expected = createHmac("sha256", secret).update(canonical).digest();
  const given = Buffer.from(signature, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return {
    account: h("x-keygate-account"),
    key: h("x-keygate-key"),
    environment: h("x-keygate-environment"),
    product: h("x-keygate-product") || null,
    requestId: h("x-request-id"),
  };
}

/**
 * Proves that a webhook came from keygate: `header` is its `Keygate-Signature`
 * (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`), `body` the raw request body as a
 * string, exactly as received (parse it only after this returns true).
 */
export function verifyKeygateWebhook({ secret, header, body, maxAgeSeconds = 300, now = Date.now() }) {
  const parts = Object.fromEntries(String(header ?? "").split(",").map((p) => p.trim().split("=", 2)));
  if (!/^[0-9]+$/.test(parts.t ?? "") || !/^[0-9a-f]{64}$/.test(parts.v1 ?? "")) return false;
  // A captured delivery cannot be replayed later; a retry is signed afresh.
  if (Math.abs(now / 1000 - Number(parts.t)) > maxAgeSeconds) return false;
  const expected = createHmac("sha256", secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function receiveWebhook(req, raw, res) {
  const secret = process.env.WEBHOOK_SIGNING_SECRET ?? "dev-webhook-secret";
  const verified = verifyKeygateWebhook({ secret, header: req.headers["keygate-signature"], body: raw });
  if (verified) {
    // Deliveries are at least once: a receiver keys its work on the event id.
    const event = JSON.parse(raw);
    console.log(`${new Date().toISOString()} webhook ${event.id} ${event.type} account=${event.account_id}` +
      (event.key_id ? ` key=${event.key_id}` : ""));
  } else {
    console.log(`${new Date().toISOString()} webhook refused: bad Keygate-Signature`);
  }
  res.writeHead(verified ? 200 : 400, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ received: verified }));
}

function main() {
  const port = Number(process.env.PORT ?? 9090);
  const secret = process.env.ORIGIN_SIGNING_SECRET ?? "dev-signing-secret";
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/webhooks") {
        return receiveWebhook(req, Buffer.concat(chunks).toString("utf8"), res);
      }
      const identity = verifyKeygateRequest({
        secret,
        headers: req.headers,
        method: req.method,
        pathAndQuery: req.url,
      });
      const body = {
        origin: "keygate demo origin",
        verified: identity !== null,
        identity,
        method: req.method,
        path: req.url,
        received_credentials: ["authorization", "x-api-key", "x-product-key"].filter((n) => n in req.headers),
        body_bytes: Buffer.concat(chunks).length,
      };
      console.log(`${new Date().toISOString()} ${req.method} ${req.url} verified=${body.verified}` +
        (identity ? ` account=${identity.account} key=${identity.key} request=${identity.requestId}` : ""));
      res.writeHead(identity ? 200 : 401, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    });
  });
  server.listen(port, "127.0.0.1", () => {
    console.log(`demo origin listening on http://127.0.0.1:${port} (verifying X-Keygate-Signature)`);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) main();
