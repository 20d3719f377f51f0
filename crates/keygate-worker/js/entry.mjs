// keygate's module entry (wrangler.toml `main`). Edge requests take the fast path
// (fast-path.mjs → src/fast.rs: one call into the wasm per request, the steps of
// src/protocol.rs); the admin API and the sandbox requests that need an account's state go to
// the workers-rs entrypoint. JSON errors are guaranteed even if the wasm traps.
import Gateway from "../../../build/index.js";
import { internalErrorResponse, requestId, withJsonErrors } from "./json-errors.mjs";
import { serve } from "./fast-path.mjs";
import { isAssetRequest, serveAsset } from "./assets.mjs";

export { Directory, RateLimiter, Registry, Revocations, SandboxStore } from "../../../build/index.js";

const Full = withJsonErrors(Gateway);
// worker-build hangs every exported wasm function on the entrypoint's prototype (which would
// also make them RPC methods of a service binding; they take and return plain text).
const { edge, edge_flush, edge_location_writes, edge_origin_failed, edge_relay } =
  Gateway.prototype;
const wasm = { edge, edge_flush, edge_location_writes, edge_origin_failed, edge_relay };
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export default {
  async fetch(request, env, ctx) {
    // After a trap, constructing the workers-rs entrypoint re-initialises the module first.
    const full = (r) => new Full(ctx, env).fetch(r);
    if (globalThis.__worker_init_state?.criticalError) return full(request);
    try {
      if (isAssetRequest(request)) return await serveAsset(request, env);
      const waitUntil = (promise) => ctx.waitUntil(promise);
      return await serve(request, env, { wasm, full, fetch, wait, waitUntil, caches });
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError && globalThis.__worker_init_state) {
        globalThis.__worker_init_state.criticalError = true;
      }
      const id = requestId();
      // The message of a trap or JS error; never request data, which may hold credentials.
      console.error(`${id} 500 unhandled: ${error?.name ?? "Error"}: ${error?.message ?? ""}`);
      return internalErrorResponse(id);
    }
  },
};
