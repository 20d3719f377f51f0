// The last line of defence of the uniform JSON errors (README "How a request is checked"): whatever
// the wasm does (a panic is an abort, which surfaces here as a thrown WebAssembly.RuntimeError),
// the client gets JSON with a request id, never the runtime's error page.

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function requestId() {
  // 24 base62 characters like the Rust ids; rejection sampling keeps them uniform.
  let id = "req_";
  while (id.length < 28) {
    for (const byte of crypto.getRandomValues(new Uint8Array(32))) {
      if (byte < 248 && id.length < 28) id += ALPHABET[byte % 62];
    }
  }
  return id;
}

export function internalErrorResponse(id) {
  const body = JSON.stringify({
    status: 500,
    message: "Internal error. Retry later; if it persists, contact support with the X-Request-Id.",
  });
  return new Response(body, {
    status: 500,
    headers: { "Content-Type": "application/json", "X-Request-Id": id },
  });
}

/** Subclasses a worker entrypoint so that a throwing `fetch` answers JSON 500. */
export function withJsonErrors(Base) {
  return class extends Base {
    async fetch(request) {
      try {
        return await super.fetch(request);
      } catch (error) {
        const id = requestId();
        // The message of a trap or JS error; never request data, which may hold credentials.
        console.error(`${id} 500 unhandled: ${error?.name ?? "Error"}: ${error?.message ?? ""}`);
        return internalErrorResponse(id);
      }
    }
  };
}
