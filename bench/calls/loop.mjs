// The entry of scripts/bench-calls: keygate's own entry (entry.mjs), plus one path that calls
// the fast path many times inside a single request, so that the workerd process's CPU per call
// measures the call alone, without HTTP, wrangler's proxy or the load generator. Copied next
// to entry.mjs in the bench's private copy of the worker (never deployed).
//
// GET /__calls?calls=N&mode=edge|serve&target=URL[&fresh=1], with the credentials of the case:
//   edge   N calls of the exported wasm function `edge` (what fast-path.mjs calls first; its
//          step also says whether to arm the activity flush; for
//          an unknown key the isolate does not yet know missing, both calls around the KV
//          read, with KV answering "no such key";
//          for a live key, `edge` and `edge_relay`, the two calls around the origin's fetch);
//   serve  N calls of fast-path.mjs `serve` (the wasm call, the answer decoded, a Response).
// The answer is the last call's answer text (edge) or status (serve), checked by the script.
import entry from "./entry.mjs";
import Gateway from "../../../build/index.js";
import { headerBlock, serve } from "./fast-path.mjs";

export { Directory, RateLimiter, Registry, Revocations, SandboxStore } from "../../../build/index.js";

const { edge, edge_flush, edge_origin_failed, edge_relay } = Gateway.prototype;
const wasm = { edge, edge_flush, edge_origin_failed, edge_relay };
const ORIGIN_ANSWER =
  "content-type: application/json\ncontent-length: 77\ndate: Sun, 29 Nov 2026 17:00:00 GMT\n" +
  "connection: keep-alive\nkeep-alive: timeout=5\n";

// The isolate's housekeeping (the revocation log's read twice a second) fell due during the
// loop, or the request left the fast path: not the path measured. (An activity flush is armed
// by a request's own waitUntil and runs on a timer: it is part of what a request costs.)
const HOUSEKEEPING = /^sync /;
const LEFT = new Response(null, { status: 599 });
const leftFastPath = () => LEFT;
const refuse = () => {
  throw new Error("the call left the fast path");
};

/** The KV text of the secret key in `Authorization` (KV key `sk:` + hex SHA-256 of the key). */
async function kvRecord(env, headers) {
  const secret = headers.get("authorization").replace(/^Bearer /, "");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const record = await env.KEYS.get(`sk:${hex}`);
  if (record === null) throw new Error("the key has no KV record");
  return record;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname !== "/__calls") return entry.fetch(request, env, ctx);
    const calls = Number(url.searchParams.get("calls"));
    const target = url.searchParams.get("target");
    const headers = new Headers(request.headers);
    if (url.searchParams.get("mode") === "serve") {
      // The same location as the ordinary request before the loop (`cf` carries it).
      const inner = new Request(target, { headers, cf: request.cf });
      let status = 0;
      let housekeeping = false;
      const watched = {
        ...wasm,
        edge: (...args) => {
          const answer = edge(...args);
          housekeeping ||= HOUSEKEEPING.test(answer);
          return answer;
        },
      };
      const waitUntil = (promise) => ctx.waitUntil(promise);
      const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const deps = { wasm: watched, full: leftFastPath, fetch: refuse, wait, waitUntil };
      for (let i = 0; i < calls; i++) {
        const response = await serve(inner, env, deps);
        status = response.status;
        if (response === LEFT || housekeeping) {
          return new Response(`call ${i} left the fast path`, { status: 409 });
        }
      }
      return new Response(String(status));
    }
    const block = headerBlock(headers);
    // The location of this request, as the ordinary request before the loop had it, so the
    // calls find the isolate cache (and the log's read) that request left.
    const COLO = request.cf?.colo;
    // fresh=1: every call hands over the key's KV record, as after a cache miss, so that each
    // one decodes it (the first request of a key in an isolate, less the KV read).
    const record = url.searchParams.get("fresh") === "1" ? await kvRecord(env, headers) : null;
    const started = Date.now();
    let answer = "";
    for (let i = 0; i < calls; i++) {
      answer = record
        ? edge(env, "GET", target, block, COLO, "after_lookup", true, record)
        : edge(env, "GET", target, block, COLO, undefined, true, undefined);
      // An unknown key: the second call with KV's answer, a miss (the read itself is not
      // measured here; scripts/bench's case g is a JS worker's KV read).
      if (answer.startsWith("lookup ")) {
        answer = edge(env, "GET", target, block, COLO, "after_lookup", true, undefined);
      }
      // A live key: the planned origin request, then the relay of a typical origin answer's
      // headers (the two calls of fast-path.mjs `forward`; the fetch itself is not measured).
      if (answer.startsWith("origin ")) edge_relay(ORIGIN_ANSWER, answer.split(" ", 2)[1]);
      // Housekeeping due: not the path measured.
      else if (!answer.startsWith("respond ")) {
        const clock = Date.now() - started;
        return new Response(`call ${i} answered ${answer.split("\n")[0]} after ${clock} ms`, {
          status: 409,
        });
      }
    }
    return new Response(answer);
  },
};
