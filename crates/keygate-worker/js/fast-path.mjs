// The JS side of the edge's fast path (src/fast.rs): a loop that calls the wasm, decodes the
// step it answers (the protocol of src/protocol.rs, where its grammar is stated), does that
// one thing, and hands the result back with the step's resume token, until a step that ends
// the request. The wasm decides what comes next and in what order; this file only moves
// bytes. `fixtures/` holds the wasm's own encoding of every kind of step (written by a cargo
// test), and fast-path.test.mjs checks that `decode` reads each as the Rust side means it.
// It takes its dependencies as arguments so that `node --test` can drive it without the
// Workers runtime.

/** The request's headers as one `name: value` block, names in lower case. */
export function headerBlock(headers) {
  let block = "";
  for (const [name, value] of headers) block += name + ": " + value + "\n";
  return block;
}

/** `Name: value` lines from `from` up to a blank line (or the end): [pairs, after the blank]. */
function headerLines(text, from) {
  const pairs = [];
  let i = from;
  while (i < text.length && text.charCodeAt(i) !== 10) {
    let end = text.indexOf("\n", i);
    if (end < 0) end = text.length;
    const colon = text.indexOf(": ", i);
    if (colon < 0 || colon > end) throw new Error("fast path: a header line without ': '");
    pairs.push([text.slice(i, colon), text.slice(colon + 2, end)]);
    i = end + 1;
  }
  return [pairs, i + 1];
}

/** The number of head fields of each kind, after the kind itself; options follow them. */
const ARITY = { respond: 2, locate: 1, lookup: 2, origin: 2, sync: 3, send: 3, full: 0 };

/**
 * One step of the protocol, as the text the wasm answered: `{ kind, …its fields, resume,
 * flushMs }` (`resume`, `flushMs`: null when absent). An unknown kind or option throws: the
 * two sides disagree, and the request fails rather than guessing.
 */
export function decode(text) {
  let newline = text.indexOf("\n");
  if (newline < 0) newline = text.length;
  const head = text.slice(0, newline).split(" ");
  const kind = head[0];
  const arity = ARITY[kind];
  if (arity === undefined || head.length <= arity) throw new Error(`fast path: bad step ${kind}`);
  let resume = null;
  let flushMs = null;
  for (let i = arity + 1; i < head.length; i++) {
    const option = head[i];
    if (option.startsWith("resume=")) resume = option.slice(7);
    else if (option.startsWith("flush=")) flushMs = Number(option.slice(6));
    else throw new Error(`fast path: bad option ${option}`);
  }
  const rest = newline + 1;
  switch (kind) {
    case "respond": {
      const [headers, body] = headerLines(text, rest);
      return {
        kind, status: Number(head[1]), delayMs: Number(head[2]), headers,
        body: text.slice(body), resume, flushMs,
      };
    }
    case "locate":
      return { kind, url: head[1], resume, flushMs };
    case "lookup":
      return { kind, cacheTtl: Number(head[1]), key: head[2], resume, flushMs };
    case "origin": {
      let urlEnd = text.indexOf("\n", rest);
      if (urlEnd < 0) urlEnd = text.length;
      const [headers] = headerLines(text, urlEnd + 1);
      return {
        kind, requestId: head[1], timeoutMs: Number(head[2]), url: text.slice(rest, urlEnd),
        headers, resume, flushMs,
      };
    }
    case "sync":
    case "send":
      return {
        kind, binding: head[1], object: head[2], url: head[3], message: text.slice(rest),
        resume, flushMs,
      };
    default:
      return { kind, resume, flushMs };
  }
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * Decoded header pairs as a `Headers`. Handing the pairs themselves to `Response` or `fetch`
 * costs more in workerd (each pair read through the iterator protocol): ~3 µs per answer in
 * `scripts/bench-calls` (serve).
 */
function headersOf(pairs) {
  const headers = new Headers();
  for (let i = 0; i < pairs.length; i++) headers.append(pairs[i][0], pairs[i][1]);
  return headers;
}

/** A decoded `respond` step as the Response, after its delay. */
export async function respond(step, wait) {
  const body = NULL_BODY.has(step.status) ? null : step.body;
  if (step.delayMs > 0) await wait(step.delayMs);
  return new Response(body, { status: step.status, headers: headersOf(step.headers) });
}

/** A decoded `sync` or `send` step: POSTs its message to its object. */
function postToObject(env, step) {
  const namespace = env[step.binding];
  const stub = namespace.get(namespace.idFromName(step.object));
  return stub.fetch(step.url, { method: "POST", body: step.message });
}

/** `sync`: the object's reply as text, not ok when it could not answer. */
async function sync(env, step) {
  try {
    const reply = await postToObject(env, step);
    if (reply.ok) return { ok: true, text: await reply.text() };
    await reply.body?.cancel();
  } catch {
    // reported as not ok: the wasm decides what that means
  }
  return { ok: false, text: undefined };
}

/** `locate`: the location's cached copy (undefined on a miss), not ok when the read failed. */
async function locate(env, step, { caches }) {
  try {
    const copy = await caches.default.match(step.url);
    return { ok: true, text: copy ? await copy.text() : undefined };
  } catch {
    return { ok: false, text: undefined };
  }
}

/** `lookup`: KV's record (undefined for no such key), not ok when the read failed. */
async function lookup(env, step) {
  try {
    const record = await env.KEYS.get(step.key, { cacheTtl: step.cacheTtl });
    return { ok: true, text: record ?? undefined };
  } catch {
    return { ok: false, text: undefined };
  }
}

/** `send` (activity records): a failure only loses them (they are reports, not decisions). */
async function send(env, step) {
  try {
    const reply = await postToObject(env, step);
    await reply.body?.cancel();
    if (!reply.ok) console.error(`activity not recorded: ${step.object} answered ${reply.status}`);
  } catch (error) {
    console.error(`activity not recorded: ${error?.message ?? error}`);
  }
}

/**
 * The location's cache writes the wasm queued (`edge_location_writes`, for the host of `url`):
 * each put as it says. A put that fails is dropped: nothing depends on a copy arriving.
 */
async function putCopies(url, { wasm, caches }) {
  const text = wasm.edge_location_writes(url);
  if (text === undefined) return;
  for (const put of JSON.parse(text)) {
    try {
      const headers = { "Cache-Control": `max-age=${put.max_age_s}` };
      await caches.default.put(put.url, new Response(put.body, { headers }));
    } catch (error) {
      console.error(`location copy not written: ${error?.message ?? error}`);
    }
  }
}

/**
 * Arms the isolate's flush a step asked for: after its delay, the wasm gives the `send` steps
 * with the activity waiting (one per object, or none), and the location's cache writes. No report waits
 * for a later request.
 */
function armFlush(env, delay, url, deps) {
  const { wasm, wait, waitUntil } = deps;
  waitUntil(
    wait(delay).then(async () => {
      const steps = wasm.edge_flush(env).map((text) => {
        const step = decode(text);
        if (step.kind !== "send") throw new Error(`fast path: bad flush step ${step.kind}`);
        return step;
      });
      await Promise.all(steps.map((step) => send(env, step)));
      await putCopies(url, deps);
    }),
  );
}

/** The steps that are done and resumed, by kind. */
const RESUMED = { locate, lookup, sync };

/** A bound on the calls per request, should the two sides ever disagree (1 to 5 today). */
const MAX_STEPS = 8;

/**
 * Serves one request. `wasm` holds the exported `edge`, `edge_flush`, `edge_relay` and
 * `edge_origin_failed`; `full(request)` serves what only the workers-rs path can (admin API,
 * stateful sandbox, limited keys); `waitUntil` is the context's.
 */
export async function serve(request, env, deps) {
  const { wasm, full } = deps;
  const method = request.method;
  const url = request.url;
  const headers = headerBlock(request.headers);
  // The deployment location: its own isolate caches, log mirror and rate limiters.
  const colo = request.cf?.colo;
  let resume;
  let done = { ok: true, text: undefined };
  for (let n = 0; n < MAX_STEPS; n++) {
    const step = decode(wasm.edge(env, method, url, headers, colo, resume, done.ok, done.text));
    if (step.flushMs !== null) armFlush(env, step.flushMs, url, deps);
    switch (step.kind) {
      case "respond":
        return respond(step, deps.wait);
      case "full":
        return full(request);
      case "origin":
        return forward(request, step, deps);
    }
    const act = RESUMED[step.kind];
    if (act === undefined || step.resume === null) {
      throw new Error(`fast path: ${step.kind} is not a step of a request`);
    }
    done = await act(env, step, deps);
    resume = step.resume;
  }
  throw new Error("fast path: too many steps");
}

/** A decoded `origin` step: send exactly the planned request, relay the answer. */
async function forward(request, step, { wasm, fetch, wait }) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), step.timeoutMs);
  let response;
  try {
    response = await fetch(step.url, {
      method: request.method,
      headers: headersOf(step.headers),
      body: request.body,
      redirect: "manual",
      signal: controller.signal,
    });
  } catch {
    return respond(decode(wasm.edge_origin_failed(controller.signal.aborted, step.requestId)), wait);
  } finally {
    clearTimeout(timer);
  }
  const [relayed] = headerLines(wasm.edge_relay(headerBlock(response.headers), step.requestId), 0);
  return new Response(response.body, { status: response.status, headers: headersOf(relayed) });
}
