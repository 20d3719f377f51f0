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

/** `sync|send <binding> <object name> <url>`, then the message: POSTs it to that object. */
function sendToObject(env, answer) {
  const newline = answer.indexOf("\n");
  const [, binding, name, url] = answer.slice(0, newline).split(" ");
  const namespace = env[binding];
  const stub = namespace.get(namespace.idFromName(name));
  return stub.fetch(url, { method: "POST", body: answer.slice(newline + 1) });
}

/** The revocation log's reply as text, or undefined when it could not answer. */
async function readLog(env, answer) {
  try {
    const reply = await sendToObject(env, answer);
    if (reply.ok) return await reply.text();
    await reply.body?.cancel();
    return undefined;
  } catch {
    return undefined;
  }
}

/** Activity records: a failure only loses them (they are reports, not decisions). */
async function sendActivity(env, answer) {
  try {
    const reply = await sendToObject(env, answer);
    await reply.body?.cancel();
    if (!reply.ok) console.error(`activity not recorded: the Registry answered ${reply.status}`);
  } catch (error) {
    console.error(`activity not recorded: ${error?.message ?? error}`);
  }
}

/**
 * Arms the isolate's activity flush when this request recorded something that no armed flush
 * covers yet: after the delay the wasm names, it sends everything waiting. No report waits
 * for a later request to come.
 */
function armFlush(env, { wasm, wait, waitUntil }) {
  const delay = wasm.edge_flush_after();
  if (delay === undefined) return;
  waitUntil(
    wait(delay).then(() => {
      const message = wasm.edge_flush(env);
      return message === undefined ? undefined : sendActivity(env, message);
    }),
  );
}

/**
 * Serves one request. `wasm` holds the exported `edge`, `edge_synced`, `edge_flush_after`,
 * `edge_flush`, `edge_relay` and `edge_origin_failed`; `full(request)` serves what only the
 * workers-rs path can (admin API, stateful sandbox, limited keys); `waitUntil` is the context's.
 */
export async function serve(request, env, { wasm, full, fetch, wait, waitUntil }) {
  const method = request.method;
  const url = request.url;
  const headers = headerBlock(request.headers);
  // Stages of `edge` (src/fast.rs): 0 new, 3 revocation log read, 1 KV answered, 2 KV failed.
  // The log is asked for at most once, before the KV read.
  let answer = wasm.edge(env, method, url, headers, 0, undefined);
  if (answer.startsWith("sync ")) {
    wasm.edge_synced(await readLog(env, answer));
    answer = wasm.edge(env, method, url, headers, 3, undefined);
  }
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
  armFlush(env, { wasm, wait, waitUntil });
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
