import assert from "node:assert/strict";
import { test } from "node:test";
import { forTests, isAssetRequest, serveAsset } from "./assets.mjs";

const req = (method, url) => new Request(url, { method });

test("only GET/HEAD of /openapi.json and /console[/…] are assets", () => {
  for (const url of [
    "https://gw.example/openapi.json",
    "https://gw.example/console",
    "https://gw.example/console/",
    "https://gw.example/console/app.js?v=1",
  ]) {
    assert.equal(isAssetRequest(req("GET", url)), true, url);
    assert.equal(isAssetRequest(req("HEAD", url)), true, url);
    assert.equal(isAssetRequest(req("POST", url)), false, url);
  }
  for (const url of [
    "https://gw.example/",
    "https://gw.example/consoles",
    "https://gw.example/console.json",
    "https://gw.example/openapi.json/x",
    "https://gw.example/v1/accounts?next=/console/",
    "https://gw.example/admin/v1/accounts#/console/",
    "https://gw.example/admin/v1/console/",
  ]) {
    assert.equal(isAssetRequest(req("GET", url)), false, url);
  }
});

test("pathOf ignores the query and fragment", () => {
  assert.equal(forTests.pathOf("http://h:8787/a/b?c=/d"), "/a/b");
  assert.equal(forTests.pathOf("http://h/a#x"), "/a");
  assert.equal(forTests.pathOf("http://h"), "/");
});

test("answers carry the security headers; /console redirects to /console/", async () => {
  const env = { ASSETS: { fetch: async () => new Response("<html>", { headers: { "Content-Type": "text/html" } }) } };
  const page = await serveAsset(req("GET", "https://gw.example/console/"), env);
  assert.equal(await page.text(), "<html>");
  assert.equal(page.headers.get("content-type"), "text/html");
  for (const [name, value] of Object.entries(forTests.SECURITY_HEADERS)) {
    assert.equal(page.headers.get(name), value, name);
  }
  assert.match(page.headers.get("content-security-policy"), /frame-ancestors 'none'/);
  assert.equal(page.headers.get("access-control-allow-origin"), null);
  assert.match(page.headers.get("x-request-id"), /^req_[0-9A-Za-z]+$/);
  const doc = await serveAsset(req("GET", "https://gw.example/openapi.json"), env);
  assert.equal(doc.headers.get("access-control-allow-origin"), "*");
  const bare = await serveAsset(req("GET", "https://gw.example/console"), env);
  assert.equal(bare.status, 308);
  assert.equal(bare.headers.get("location"), "/console/");
  assert.ok(bare.headers.get("x-request-id"));
});
