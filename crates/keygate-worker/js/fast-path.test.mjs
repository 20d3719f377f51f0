// node --test crates/keygate-worker/js/
import assert from "node:assert/strict";
import { test } from "node:test";
import { readdirSync, readFileSync } from "node:fs";
import { decode, headerBlock, respond, serve } from "./fast-path.mjs";

const noWait = async () => {};
const fixtures = new URL("./fixtures/", import.meta.url);

function fakeWasm(answers) {
  const calls = [];
  return {
    calls,
    edge: (env, method, url, headers, colo, resume, ok, text) => {
      calls.push({ method, url, headers, colo, resume, ok, text });
      return answers.shift();
    },
    flushes: [],
    edge_flush() {
      return this.flushes.shift() ?? [];
    },
    copies: [],
    edge_location_writes(url) {
      const text = this.copies.shift();
      if (text !== undefined) this.copiesFor = url;
      return text;
    },
    edge_relay: (headers, id) => headers.replace("connection: close\n", "") + `X-Request-Id: ${id}\n`,
    edge_origin_failed: (timedOut, id) =>
      `respond ${timedOut ? 504 : 502} 0\nContent-Type: application/json\nX-Request-Id: ${id}\n\n{"status":${timedOut ? 504 : 502}}`,
  };
}

test("every fixture the Rust encoder wrote decodes to the step it meant", () => {
  const names = readdirSync(fixtures).filter((f) => f.endsWith(".txt"));
  assert.ok(names.length >= 6, "the fixtures are there (cargo test -p keygate-worker writes them)");
  const kinds = new Set();
  for (const name of names) {
    const text = readFileSync(new URL(name, fixtures), "utf8");
    const expected = JSON.parse(readFileSync(new URL(name.replace(/\.txt$/, ".json"), fixtures), "utf8"));
    assert.deepEqual(decode(text), expected, name);
    kinds.add(expected.kind);
  }
  assert.deepEqual([...kinds].sort(), ["full", "locate", "lookup", "origin", "respond", "send", "sync"]);
});

test("a step the JS does not know, or an option it does not, is refused", () => {
  for (const text of ["stop 1", "respond 200", "lookup 30 sk:a resume=after_lookup later=1", "", "full x"]) {
    assert.throws(() => decode(text), /fast path/, JSON.stringify(text));
  }
});

const never = () => {
  throw new Error("not expected");
};

test("a respond answer becomes the response, headers and body as sent", async () => {
  const response = await respond(
    decode('respond 401 0\nContent-Type: application/json\nWWW-Authenticate: Basic realm="keygate"\nX-Request-Id: req_1\n\n{"status":401,"message":"a\\nb"}'),
    noWait,
  );
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("www-authenticate"), 'Basic realm="keygate"');
  assert.equal(response.headers.get("x-request-id"), "req_1");
  assert.deepEqual(await response.json(), { status: 401, message: "a\nb" });
});

test("an answer without headers, a body with blank lines, and a null-body status", async () => {
  const plain = await respond(decode("respond 200 0\n\nline one\n\nline two"), noWait);
  assert.equal(await plain.text(), "line one\n\nline two");
  const empty = await respond(decode("respond 204 0\nX-Request-Id: r\n\n"), noWait);
  assert.equal(empty.status, 204);
  assert.equal(empty.body, null);
});

test("a delay is waited before answering", async () => {
  let waited = 0;
  await respond(decode("respond 200 1500\n\n{}"), async (ms) => {
    waited = ms;
  });
  assert.equal(waited, 1500);
});

test("the header block carries every header, one per line", () => {
  const block = headerBlock(new Headers([["X-API-Key", "k"], ["accept", "a"], ["accept", "b"]]));
  assert.equal(block, "accept: a, b\nx-api-key: k\n");
});

test("a KV miss is read once between two calls; a KV failure is reported as not ok", async () => {
  const wasm = fakeWasm(["lookup 30 sk:abc resume=after_lookup", "respond 200 0\n\nok"]);
  const reads = [];
  const env = { KEYS: { get: async (key, options) => (reads.push([key, options]), '{"r":1}') } };
  const request = new Request("https://gw.example/v1/x", { headers: { "x-api-key": "k" } });
  const response = await serve(request, env, { wasm, full: never, fetch: never, wait: noWait });
  assert.equal(await response.text(), "ok");
  assert.deepEqual(reads, [["sk:abc", { cacheTtl: 30 }]]);
  assert.deepEqual(
    wasm.calls.map((c) => [c.resume, c.ok, c.text]),
    [
      [undefined, true, undefined],
      ["after_lookup", true, '{"r":1}'],
    ],
  );

  const missing = fakeWasm(["lookup 30 sk:abc resume=after_lookup", "respond 401 0\n\n{}"]);
  const unknown = { KEYS: { get: async () => null } };
  await serve(request, unknown, { wasm: missing, full: never, fetch: never, wait: noWait });
  assert.deepEqual([missing.calls[1].resume, missing.calls[1].ok], ["after_lookup", true]);
  assert.equal(missing.calls[1].text, undefined);

  const failing = fakeWasm(["lookup 30 sk:abc resume=after_lookup", "respond 503 0\n\n{}"]);
  const broken = { KEYS: { get: async () => { throw new Error("kv down"); } } };
  const r = await serve(request, broken, { wasm: failing, full: never, fetch: never, wait: noWait });
  assert.equal(r.status, 503);
  assert.deepEqual([failing.calls[1].resume, failing.calls[1].ok], ["after_lookup", false]);
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
  assert.deepEqual([...new Headers(sent.init.headers)], [
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
    'sync REVOCATIONS revocations https://object.internal/ resume=after_sync\n{"op":"since","generation":7}',
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
  assert.deepEqual(
    wasm.calls.map((c) => [c.resume, c.ok, c.text]),
    [
      [undefined, true, undefined],
      ["after_sync", true, '{"generation":9,"reset":false,"entries":[]}'],
    ],
    "decided by a second call, with the reply and the token",
  );
});

test("sync: a log that fails or cannot be reached is reported as no reply", async () => {
  for (const reply of [() => new Response("down", { status: 500 }), () => { throw new Error("gone"); }]) {
    const wasm = fakeWasm([
      "sync REVOCATIONS revocations https://object.internal/ resume=after_sync\n{}",
      "respond 503 0\n\n{}",
    ]);
    const deps = { wasm, full: never, fetch: never, wait: noWait, waitUntil: never };
    const response = await serve(new Request("https://gw.example/"), { REVOCATIONS: fakeNamespace(reply) }, deps);
    assert.equal(response.status, 503);
    assert.deepEqual([wasm.calls[1].resume, wasm.calls[1].ok, wasm.calls[1].text], ["after_sync", false, undefined]);
  }
});

test("a flush is armed in waitUntil after the delay the step names; each account's send goes, a failed one is only logged", async () => {
  const wasm = fakeWasm(["respond 200 0 flush=1000\n\nok"]);
  wasm.flushes.push([
    'send REGISTRY account:acct_a https://object.internal/\n{"caller":"edge"}',
    'send REGISTRY account:acct_b https://object.internal/\n{"caller":"edge"}',
  ]);
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
  assert.deepEqual(registry.posts.map((p) => [p.name, p.body]), [
    ["account:acct_a", '{"caller":"edge"}'],
    ["account:acct_b", '{"caller":"edge"}'],
  ]);
  assert.deepEqual(errors, [
    "activity not recorded: account:acct_a answered 503",
    "activity not recorded: account:acct_b answered 503",
  ]);
});

test("no flush armed when the wasm names none, and none sent when nothing waits by then", async () => {
  const quiet = fakeWasm(["respond 200 0\n\nok"]);
  const none = [];
  await serve(new Request("https://gw.example/"), {}, {
    wasm: quiet, full: never, fetch: never, wait: noWait, waitUntil: (p) => none.push(p),
  });
  assert.equal(none.length, 0);
  const taken = fakeWasm(["respond 200 0 flush=5\n\nok"]);
  taken.flushes.push([]);
  const pending = [];
  await serve(new Request("https://gw.example/"), {}, {
    wasm: taken, full: never, fetch: never, wait: noWait, waitUntil: (p) => pending.push(p),
  });
  await Promise.all(pending); // reaches no namespace: nothing was sent
});

test("the flush is armed before a request goes to the full entry too", async () => {
  const wasm = fakeWasm(["full flush=1000"]);
  wasm.flushes.push([]);
  const pending = [];
  const response = await serve(new Request("https://gw.example/"), {}, {
    wasm, full: () => new Response("full"), fetch: never, wait: noWait, waitUntil: (p) => pending.push(p),
  });
  assert.equal(await response.text(), "full");
  assert.equal(pending.length, 1);
});

test("a sync, then the KV read, then the decision: each call hands back the step's token", async () => {
  const objects = {
    REVOCATIONS: fakeNamespace(() => new Response("{}")),
    KEYS: { get: async () => null },
  };
  const wasm = fakeWasm([
    "sync REVOCATIONS revocations https://object.internal/ resume=after_sync\n{}",
    "lookup 30 sk:abc resume=after_lookup",
    "respond 204 0\n\n",
  ]);
  const deps = { wasm, full: never, fetch: never, wait: noWait, waitUntil: never };
  assert.equal((await serve(new Request("https://gw.example/"), objects, deps)).status, 204);
  assert.deepEqual(wasm.calls.map((c) => c.resume), [undefined, "after_sync", "after_lookup"]);
  assert.equal(objects.REVOCATIONS.posts.length, 1);
});

test("a flush named by a step before the last is armed too, once", async () => {
  const wasm = fakeWasm(["lookup 30 sk:abc resume=after_lookup flush=700", "respond 200 0\n\nok"]);
  wasm.flushes.push([]);
  const pending = [];
  const env = { KEYS: { get: async () => null } };
  const deps = { wasm, full: never, fetch: never, wait: noWait, waitUntil: (p) => pending.push(p) };
  assert.equal((await serve(new Request("https://gw.example/"), env, deps)).status, 200);
  assert.equal(pending.length, 1);
});

test("the JS decides no order: a send, a step without a token, or endless steps fail the request", async () => {
  const env = { KEYS: { get: async () => null }, REGISTRY: fakeNamespace(() => new Response("{}")) };
  const cases = [
    ["send REGISTRY registry https://object.internal/\n{}"],
    ["lookup 30 sk:abc"],
    Array(9).fill("lookup 30 sk:abc resume=after_lookup"),
  ];
  for (const answers of cases) {
    const wasm = fakeWasm(answers);
    const deps = { wasm, full: never, fetch: never, wait: noWait, waitUntil: never };
    await assert.rejects(serve(new Request("https://gw.example/"), env, deps), /fast path/);
    assert.equal(env.REGISTRY.posts.length, 0);
  }
});

test("every call names the request's location, as the platform gives it", async () => {
  const wasm = fakeWasm(["respond 200 0\n\nok", "respond 200 0\n\nok"]);
  const request = new Request("https://gw.example/v1/x");
  Object.defineProperty(request, "cf", { value: { colo: "LHR" } });
  await serve(request, {}, { wasm, full: never, fetch: never, wait: noWait });
  await serve(new Request("https://gw.example/v1/x"), {}, { wasm, full: never, fetch: never, wait: noWait });
  assert.deepEqual(wasm.calls.map((c) => c.colo), ["LHR", undefined]);
});

test("a mirror that cannot answer is followed by the primary log, as the wasm asks", async () => {
  const mirror = 'sync REVOCATIONS revocations@lhr https://object.internal/ resume=after_mirror_sync\n{"op":"mirror_since","generation":3}';
  const primary = 'sync REVOCATIONS revocations https://object.internal/ resume=after_sync\n{"op":"since","generation":3}';
  const wasm = fakeWasm([mirror, primary, "respond 200 0\n\nok"]);
  const asked = [];
  const stub = (name) => ({
    fetch: async (_url, init) => {
      asked.push([name, init.body]);
      return name === "revocations@lhr"
        ? new Response("the mirror cannot answer; ask the primary", { status: 503 })
        : new Response('{"generation":4,"reset":false,"entries":[]}');
    },
  });
  const env = { REVOCATIONS: { idFromName: (name) => name, get: (id) => stub(id) } };
  const response = await serve(new Request("https://gw.example/v1/x"), env, { wasm, full: never, fetch: never, wait: noWait });
  assert.equal(await response.text(), "ok");
  assert.deepEqual(asked.map(([name]) => name), ["revocations@lhr", "revocations"]);
  assert.deepEqual(
    wasm.calls.map((c) => [c.resume, c.ok, c.text]),
    [
      [undefined, true, undefined],
      ["after_mirror_sync", false, undefined],
      ["after_sync", true, '{"generation":4,"reset":false,"entries":[]}'],
    ],
  );
});

test("locate: the location's copy goes back to the wasm; a miss is no text; a failed read is not ok", async () => {
  const url = "https://gw.example/.keygate/location/v1/sk/ab?location=lhr";
  const step = `locate ${url} resume=after_locate`;
  const stored = new Map([[url, '{"generation":3}']]);
  const caches = {
    default: {
      match: async (u) => (stored.has(u) ? new Response(stored.get(u)) : undefined),
    },
  };
  const hit = fakeWasm([step, "respond 200 0\n\nok"]);
  await serve(new Request("https://gw.example/v1/x"), {}, { wasm: hit, full: never, fetch: never, wait: noWait, caches });
  assert.deepEqual([hit.calls[1].resume, hit.calls[1].ok, hit.calls[1].text], ["after_locate", true, '{"generation":3}']);

  stored.clear();
  const miss = fakeWasm([step, "respond 200 0\n\nok"]);
  await serve(new Request("https://gw.example/v1/x"), {}, { wasm: miss, full: never, fetch: never, wait: noWait, caches });
  assert.deepEqual([miss.calls[1].ok, miss.calls[1].text], [true, undefined]);

  const broken = { default: { match: async () => { throw new Error("no cache"); } } };
  const failed = fakeWasm([step, "respond 200 0\n\nok"]);
  await serve(new Request("https://gw.example/v1/x"), {}, { wasm: failed, full: never, fetch: never, wait: noWait, caches: broken });
  assert.deepEqual([failed.calls[1].ok, failed.calls[1].text], [false, undefined]);
});

test("the flush puts the location copies the wasm queued, as it says; a failed put is only logged", async () => {
  const wasm = fakeWasm(["respond 200 0 flush=5\n\nok"]);
  wasm.flushes.push([]);
  wasm.copies.push(JSON.stringify([
    { url: "https://gw.example/.keygate/location/v1/sk/ab?location=lhr", body: '{"g":1}', max_age_s: 299 },
    { url: "https://gw.example/.keygate/location/v1/sk/cd?location=lhr", body: '{"g":2}', max_age_s: 12 },
  ]));
  const puts = [];
  const caches = {
    default: {
      put: async (url, response) => {
        if (url.includes("/cd")) throw new Error("full");
        puts.push([url, await response.text(), response.headers.get("cache-control")]);
      },
    },
  };
  const pending = [];
  const deps = { wasm, full: never, fetch: never, wait: noWait, waitUntil: (p) => pending.push(p), caches };
  const logged = [];
  const error = console.error;
  console.error = (line) => logged.push(line);
  try {
    await serve(new Request("https://gw.example/v1/x"), {}, deps);
    await Promise.all(pending);
  } finally {
    console.error = error;
  }
  assert.equal(wasm.copiesFor, "https://gw.example/v1/x");
  assert.deepEqual(puts, [["https://gw.example/.keygate/location/v1/sk/ab?location=lhr", '{"g":1}', "max-age=299"]]);
  assert.equal(logged.length, 1);
});
