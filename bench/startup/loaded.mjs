// A start-up variant of scripts/bench (never deployed): keygate's bundle, bindings and Durable
// Object classes, its wasm instantiated by the bundle's glue, but the first request answered by
// JavaScript as the no-op (bench/noop) answers it, without a call into the wasm. Copied next to
// entry.mjs in the bench's copy of the worker. keygate's start minus this one is what its first
// request costs (V8 compiles each wasm function lazily, at its first call).
import Gateway from "../../../build/index.js";

export { Directory, RateLimiter, Registry, Revocations, SandboxStore } from "../../../build/index.js";

const BODY = '{"ok":true,"bench":"noop","padding":"xxxxx"}'; // 44 bytes, as bench/noop

export default {
  fetch() {
    if (typeof Gateway !== "function") throw new Error("keygate's bundle did not load");
    return new Response(BODY, { headers: { "content-type": "application/json" } });
  },
};
