// A start-up baseline of scripts/bench: the no-op (bench/noop) with keygate's wasm in its
// bundle (scripts/bench copies build/index_bg.wasm next to this file as keygate.wasm). Never
// deployed. What it costs over the no-op at an isolate's start is what workerd does with the
// module itself, which tells how much of keygate's start-up the wasm's size decides:
// - INSTANTIATE unset: the module is only part of the bundle (workerd compiles it, eagerly or
//   lazily: that is the question);
// - INSTANTIATE=1: the first request also instantiates it (memory, data segments copied) with
//   imports that are never called, and calls nothing.
// Run with keygate's configuration (its KV and Durable Object bindings), it exports an empty
// class for each of keygate's Durable Object classes: what workerd sets up for them is then
// measured without any of keygate's code.
import keygate from "./keygate.wasm";

const BODY = '{"ok":true,"bench":"noop","padding":"xxxxx"}'; // 44 bytes, as bench/noop
let instance;

function instantiate() {
  const imports = {};
  for (const { module, name } of WebAssembly.Module.imports(keygate)) {
    imports[module] ??= {};
    imports[module][name] = () => {
      throw new Error(`bench/noop-wasm: ${module}.${name} must not be called`);
    };
  }
  return new WebAssembly.Instance(keygate, imports);
}

export class Registry {}
export class SandboxStore {}
export class RateLimiter {}
export class Revocations {}
export class Directory {}

export default {
  fetch(_request, env) {
    if (env.INSTANTIATE === "1") instance ??= instantiate();
    return new Response(BODY, { headers: { "content-type": "application/json" } });
  },
};
