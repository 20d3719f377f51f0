// node --test crates/keygate-worker/js/
import assert from "node:assert/strict";
import { test } from "node:test";
import { headerBlock, respond, serve } from "./fast-path.mjs";

const noWait = async () => {};

function fakeWasm(answers) {
  const calls = [];
  return {
    calls,
    edge: (env, method, url, headers, state, record) => {
      calls.push({ method, url, headers, state, record });
      return answers.shift();
    },
    synced: [],
    edge_synced(reply) {
      this.synced.push(reply);
    },
    flushes: [],
    edge_flush_after() {
      return this.flushes.length > 0 ? this.flushes[0].delay : undefined;
    },
    edge_flush() {
      return this.flushes.shift()?.message;
    },
    edge_relay: (headers, id) => headers.replace("connection: close\n", "") + `X-Request-Id: ${id}\n`,
    edge_origin_failed: (timedOut, id) =>
      `respond ${timedOut ? 504 : 502} 0\nContent-Type: application/json\nX-Request-Id: ${id}\n\n{"status":${timedOut ? 504 : 502}}`,
  };
}

const never = () => {
  throw new Error("not expected");
};

test("a respond answer becomes the response, headers and body as sent", async () => {
  const response = await respond(
    'respond 401 0\nContent-Type: application/json\nWWW-Authenticate: Basic realm="keygate"\nX-Request-Id: req_1\n\n{"status":401,"message":"a\\nb"}',
    noWait,
  );
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("www-authenticate"), 'Basic realm="keygate"');
  assert.equal(response.headers.get("x-request-id"), "req_1");
  assert.deepEqual(await response.json(), { status: 401, message: "a\nb" });
});

test("an answer without headers, a body with blank lines, and a null-body status", async () => {
  const plain = await respond("respond 200 0\n\nline one\n\nline two", noWait);
  assert.equal(await plain.text(), "line one\n\nline two");
  const empty = await respond("respond 204 0\nX-Request-Id: r\n\n", noWait);
  assert.equal(empty.status, 204);
  assert.equal(empty.body, null);
});

test("a delay is waited before answering", async () => {
  let waited = 0;
  await respond("respond 200 1500\n\n{}", async (ms) => {
    waited = ms;
  });
  assert.equal(waited, 1500);
});

test("the header block carries every header, one per line", () => {
  const block = headerBlock(new Headers([["X-API-Key", "k"], ["accept", "a"], ["accept", "b"]]));
  assert.equal(block, "accept: a, b\nx-api-key: k\n");
});

test("a KV miss is read once between two calls; a KV failure is reported as state 2", async () => {
  const wasm = fakeWasm(["lookup 30 sk:abc", "respond 200 0\n\nok"]);
  const reads = [];
  const env = { KEYS: { get: async (key, options) => (reads.push([key, options]), '{"r":1}') } };
  const request = new Request("https://gw.example/v1/x", { headers: { "x-api-key": "k" } });
  const response = await serve(request, env, { wasm, full: never, fetch: never, wait: noWait });
  assert.equal(await response.text(), "ok");
  assert.deepEqual(reads, [["sk:abc", { cacheTtl: 30 }]]);
  assert.deepEqual(
    wasm.calls.map((c) => [c.state, c.record]),
    [
      [0, undefined],
      [1, '{"r":1}'],
    ],
  );

  const missing = fakeWasm(["lookup 30 sk:abc", "respond 401 0\n\n{}"]);
  const unknown = { KEYS: { get: async () => null } };
  await serve(request, unknown, { wasm: missing, full: never, fetch: never, wait: noWait });
  assert.deepEqual(missing.calls[1].state, 1);
  assert.equal(missing.calls[1].record, undefined);

  const failing = fakeWasm(["lookup 30 sk:abc", "respond 503 0\n\n{}"]);
  const broken = { KEYS: { get: async () => { throw new Error("kv down"); } } };
  const r = await serve(request, broken, { wasm: failing, full: never, fetch: never, wait: noWait });
  assert.equal(r.status, 503);
  assert.equal(failing.calls[1].state, 2);
});

test("full hands the untouched request to the workers-rs entry", async () => {
  const wasm = fakeWasm(["full"]);
  const request = new Request("https://gw.example/admin/v1/accounts", { method: "POST", body: "{}" });
  let handed;
  const full = async (r) => ((handed = r), new Response("from rust"));
  const response = await serve(request, {}, { wasm, full, fetch: never, wait: noWait });
  assert.equal(handed, request);
  assert.equal(await response.text(), "from rust");
});

test("origin: exactly the planned URL and headers are sent, the answer relayed", async () => {
  const wasm = fakeWasm([
    "origin req_9 30000\nhttps://origin.example/v1/x?y=1\nx-custom: 1\nX-Keygate-Account: acct_1\n\n",
  ]);
  let sent;
  const fetch = async (url, init) => {
    sent = { url, init };
    return new Response("from origin", {
      status: 201,
      headers: { "x-origin": "yes", connection: "close" },
    });
  };
  const request = new Request("https://gw.example/v1/x?y=1", {
    method: "POST",
    body: "payload",
    headers: { authorization: "Bearer secret", "x-custom": "1" },
  });
  const response = await serve(request, {}, { wasm, full: never, fetch, wait: noWait });
  assert.equal(sent.url, "https://origin.example/v1/x?y=1");
  assert.equal(sent.init.method, "POST");
  assert.equal(sent.init.redirect, "manual");
  assert.deepEqual([...sent.init.headers], [
    ["x-custom", "1"],
    ["x-keygate-account", "acct_1"],
  ]);
  assert.equal(response.status, 201);
  assert.equal(response.headers.get("x-origin"), "yes");
  assert.equal(response.headers.get("x-request-id"), "req_9");
  assert.equal(response.headers.get("connection"), null);
  assert.equal(await response.text(), "from origin");
});

test("origin unreachable is 502, no answer in time is 504", async () => {
  const unreachable = fakeWasm(["origin req_1 30000\nhttps://o.example/\n\n"]);
  const down = async () => {
    throw new TypeError("connection refused");
  };
  const r = await serve(new Request("https://gw.example/"), {}, {
    wasm: unreachable, full: never, fetch: down, wait: noWait,
  });
  assert.equal(r.status, 502);

  const slow = fakeWasm(["origin req_2 20\nhttps://o.example/\n\n"]);
  const hangs = (url, init) =>
    new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new Error("aborted"))));
  const t = await serve(new Request("https://gw.example/"), {}, {
    wasm: slow, full: never, fetch: hangs, wait: noWait,
  });
  assert.equal(t.status, 504);
  assert.equal(t.headers.get("x-request-id"), "req_2");
});

/** A Durable Object namespace whose objects answer with `reply(name, body)`. */
function fakeNamespace(reply) {
  const posts = [];
  return {
    posts,
    idFromName: (name) => ({ name }),
    get: (id) => ({
      fetch: async (url, init) => {
        posts.push({ name: id.name, url, method: init.method, body: init.body });
        return reply(id.name, init.body);
      },
    }),
  };
}

test("sync: the revocation log's reply goes back to the wasm before it decides", async () => {
  const wasm = fakeWasm([
    'sync REVOCATIONS revocations https://object.internal/\n{"op":"since","generation":7}',
    "respond 200 0\n\nok",
  ]);
  const log = fakeNamespace(() => new Response('{"generation":9,"reset":false,"entries":[]}'));
  const request = new Request("https://gw.example/v1/x");
  const deps = { wasm, full: never, fetch: never, wait: noWait, waitUntil: never };
  const response = await serve(request, { REVOCATIONS: log }, deps);
  assert.equal(await response.text(), "ok");
  assert.deepEqual(log.posts, [{
    name: "revocations", url: "https://object.internal/", method: "POST",
    body: '{"op":"since","generation":7}',
  }]);
  assert.deepEqual(wasm.synced, ['{"generation":9,"reset":false,"entries":[]}']);
  assert.deepEqual(wasm.calls.map((c) => c.state), [0, 3], "decided by a second call, at stage 3");
});

test("sync: a log that fails or cannot be reached is reported as no reply", async () => {
  for (const reply of [() => new Response("down", { status: 500 }), () => { throw new Error("gone"); }]) {
    const wasm = fakeWasm(["sync REVOCATIONS revocations https://object.internal/\n{}", "respond 503 0\n\n{}"]);
    const deps = { wasm, full: never, fetch: never, wait: noWait, waitUntil: never };
    const response = await serve(new Request("https://gw.example/"), { REVOCATIONS: fakeNamespace(reply) }, deps);
    assert.equal(response.status, 503);
    assert.deepEqual(wasm.synced, [undefined]);
  }
});

test("a flush is armed in waitUntil after the delay the wasm names; a failed send is only logged", async () => {
  const wasm = fakeWasm(["respond 200 0\n\nok"]);
  wasm.flushes.push({ delay: 1000, message: 'send REGISTRY registry https://object.internal/\n{"caller":"edge"}' });
  const registry = fakeNamespace(() => new Response("no", { status: 503 }));
  const pending = [];
  const waited = [];
  const wait = async (ms) => waited.push(ms);
  const deps = { wasm, full: never, fetch: never, wait, waitUntil: (p) => pending.push(p) };
  const errors = [];
  const original = console.error;
  console.error = (line) => errors.push(line);
  try {
    const response = await serve(new Request("https://gw.example/"), { REGISTRY: registry }, deps);
    assert.equal(await response.text(), "ok", "the answer does not wait for the flush");
    assert.equal(pending.length, 1);
    await Promise.all(pending);
  } finally {
    console.error = original;
  }
  assert.deepEqual(waited, [1000]);
  assert.deepEqual(registry.posts.map((p) => [p.name, p.body]), [["registry", '{"caller":"edge"}']]);
  assert.deepEqual(errors, ["activity not recorded: the Registry answered 503"]);
});

test("no flush armed when the wasm names none, and none sent when nothing waits by then", async () => {
  const quiet = fakeWasm(["respond 200 0\n\nok"]);
  const none = [];
  await serve(new Request("https://gw.example/"), {}, {
    wasm: quiet, full: never, fetch: never, wait: noWait, waitUntil: (p) => none.push(p),
  });
  assert.equal(none.length, 0);
  const taken = fakeWasm(["respond 200 0\n\nok"]);
  taken.flushes.push({ delay: 5, message: undefined });
  const pending = [];
  await serve(new Request("https://gw.example/"), {}, {
    wasm: taken, full: never, fetch: never, wait: noWait, waitUntil: (p) => pending.push(p),
  });
  await Promise.all(pending); // reaches no namespace: nothing was sent
});

test("the flush is armed before a request goes to the full entry too", async () => {
  const wasm = fakeWasm(["full"]);
  wasm.flushes.push({ delay: 1000, message: undefined });
  const pending = [];
  const response = await serve(new Request("https://gw.example/"), {}, {
    wasm, full: () => new Response("full"), fetch: never, wait: noWait, waitUntil: (p) => pending.push(p),
  });
  assert.equal(await response.text(), "full");
  assert.equal(pending.length, 1);
});

test("a sync, then the decision: stages 0, 3, then 1 after the KV read", async () => {
  const objects = {
    REVOCATIONS: fakeNamespace(() => new Response("{}")),
    KEYS: { get: async () => null },
  };
  const wasm = fakeWasm([
    "sync REVOCATIONS revocations https://object.internal/\n{}",
    "lookup 30 sk:abc",
    "respond 204 0\n\n",
  ]);
  const deps = { wasm, full: never, fetch: never, wait: noWait, waitUntil: never };
  assert.equal((await serve(new Request("https://gw.example/"), objects, deps)).status, 204);
  assert.deepEqual(wasm.calls.map((c) => c.state), [0, 3, 1]);
  assert.equal(objects.REVOCATIONS.posts.length, 1);
});
