// keygate's module entry: the worker-build output, with one guarantee added. If the Rust code
// ever traps (a panic is an abort in wasm), the client still gets SPEC §4 JSON with a request
// id instead of the runtime's error page; worker-build's shim then re-initialises the module
// for the next request.
import Gateway from "../../../build/worker/shim.mjs";
export * from "../../../build/worker/shim.mjs";

function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  return "req_" + Array.from(bytes, (b) => alphabet[b % 62]).join("");
}

export default class Keygate extends Gateway {
  async fetch(request) {
    try {
      return await super.fetch(request);
    } catch (error) {
      const id = requestId();
      console.error(`${id} 500 unhandled: ${error && error.message}`);
      const body = JSON.stringify({
        status: 500,
        message: "Internal error. Retry later; if it persists, contact support with the X-Request-Id.",
      });
      return new Response(body, {
        status: 500,
        headers: { "Content-Type": "application/json", "X-Request-Id": id },
      });
    }
  }
}
