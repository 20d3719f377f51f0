// node --test crates/keygate-worker/js/
import assert from "node:assert/strict";
import { test } from "node:test";
import { requestId, withJsonErrors } from "./json-errors.mjs";

class Throws {
  async fetch() {
    throw new WebAssembly.RuntimeError("unreachable");
  }
}

class Answers {
  async fetch() {
    return new Response("ok", { headers: { "X-Request-Id": "req_from_rust" } });
  }
}

test("a trap in the wasm answers JSON 500 with a request id", async () => {
  const Wrapped = withJsonErrors(Throws);
  const response = await new Wrapped().fetch(new Request("https://gw.example/v1/x"));
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("Content-Type"), "application/json");
  assert.match(response.headers.get("X-Request-Id"), /^req_[0-9A-Za-z]{24}$/);
  const body = await response.json();
  assert.equal(body.status, 500);
  assert.match(body.message, /X-Request-Id/);
});

test("a normal answer passes through untouched", async () => {
  const Wrapped = withJsonErrors(Answers);
  const response = await new Wrapped().fetch(new Request("https://gw.example/"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("X-Request-Id"), "req_from_rust");
  assert.equal(await response.text(), "ok");
});

test("request ids are fresh", () => {
  const ids = new Set(Array.from({ length: 1000 }, requestId));
  assert.equal(ids.size, 1000);
});
