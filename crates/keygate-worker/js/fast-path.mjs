// The JS side of the edge's fast path (src/fast.rs): one call into the wasm per request (two
// when KV must be read), the answer decoded into a Response here. Everything it decides comes
// from the wasm; this file only moves bytes. It takes its dependencies as arguments so that
// `node --test` can drive it without the Workers runtime.

/** The request's headers as one `name: value` block, names in lower case. */
export function headerBlock(headers) {
  let block = "";
  for (const [name, value] of headers) block += name + ": " + value + "\n";
  return block;
}

function parseHeaders(lines, from, headers) {
  let i = from;
  for (; i < lines.length && lines[i] !== ""; i++) {
    const line = lines[i];
    const colon = line.indexOf(": ");
    headers.append(line.slice(0, colon), line.slice(colon + 2));
  }
  return i;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/** `respond <status> <delay_ms>`, header lines, a blank line, the body. */
export async function respond(answer, wait) {
  const newline = answer.indexOf("\n");
  const [, status, delay] = answer.slice(0, newline).split(" ");
  const end = answer.indexOf("\n\n", newline);
  const headers = new Headers();
  parseHeaders(answer.slice(newline + 1, end).split("\n"), 0, headers);
  const code = Number(status);
  const body = NULL_BODY.has(code) ? null : answer.slice(end + 2);
  if (Number(delay) > 0) await wait(Number(delay));
  return new Response(body, { status: code, headers });
}

/**
 * Serves one request. `wasm` holds the exported `edge`, `edge_relay` and `edge_origin_failed`;
 * `full(request)` serves what only the workers-rs path can (admin API, stateful sandbox).
 */
export async function serve(request, env, { wasm, full, fetch, wait }) {
  const method = request.method;
  const url = request.url;
  const headers = headerBlock(request.headers);
  let answer = wasm.edge(env, method, url, headers, 0, undefined);
  if (answer.startsWith("lookup ")) {
    const [, ttl, key] = answer.split(" ");
    let record = null;
    let state = 1;
    try {
      record = await env.KEYS.get(key, { cacheTtl: Number(ttl) });
    } catch {
      state = 2; // fail closed: the wasm answers 503
    }
    answer = wasm.edge(env, method, url, headers, state, record ?? undefined);
  }
  if (answer === "full") return full(request);
  if (answer.startsWith("origin ")) return forward(request, answer, { wasm, fetch, wait });
  return respond(answer, wait);
}

/** `origin <request id> <timeout_ms>`, the URL, header lines: send it, relay the answer. */
async function forward(request, answer, { wasm, fetch, wait }) {
  const lines = answer.split("\n");
  const [, requestId, timeoutMs] = lines[0].split(" ");
  const headers = new Headers();
  parseHeaders(lines, 2, headers);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Number(timeoutMs));
  let response;
  try {
    response = await fetch(lines[1], {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      signal: controller.signal,
    });
  } catch {
    return respond(wasm.edge_origin_failed(controller.signal.aborted, requestId), wait);
  } finally {
    clearTimeout(timer);
  }
  const relayed = new Headers();
  parseHeaders(wasm.edge_relay(headerBlock(response.headers), requestId).split("\n"), 0, relayed);
  return new Response(response.body, { status: response.status, headers: relayed });
}
