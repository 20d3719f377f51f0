// Static assets (wrangler.toml `[assets]`, directory public/): the console under /console/ and
// the OpenAPI document at /openapi.json. Every other path belongs to the gateway: the worker
// runs first for all requests (`run_worker_first = true`) and hands only these to the ASSETS
// binding, so an asset can never shadow an API route.
import { requestId } from "./json-errors.mjs";

/** The path of an absolute URL string, without parsing the whole URL (hot path). */
function pathOf(url) {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.slice(start).search(/[?#]/);
  return end < 0 ? url.slice(start) : url.slice(start, start + end);
}

/** Whether `request` is for a static asset: GET or HEAD of /openapi.json or /console[/…]. */
export function isAssetRequest(request) {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  const path = pathOf(request.url);
  return path === "/openapi.json" || path === "/console" || path.startsWith("/console/");
}

// The console loads only its own files and talks only to this origin; it is never framed.
const SECURITY_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cache-Control": "no-cache",
};

/** The asset, with the console's security headers and a request id on every answer. */
export async function serveAsset(request, env) {
  const id = requestId();
  if (pathOf(request.url) === "/console") {
    return new Response(null, {
      status: 308,
      headers: { Location: "/console/", "X-Request-Id": id, ...SECURITY_HEADERS },
    });
  }
  const answer = await env.ASSETS.fetch(request);
  const response = new Response(answer.body, answer);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.headers.set(name, value);
  response.headers.set("X-Request-Id", id);
  if (pathOf(request.url) === "/openapi.json") {
    // Schema-driven tools and API explorers on other origins may read the public description.
    response.headers.set("Access-Control-Allow-Origin", "*");
  }
  return response;
}

export const forTests = { pathOf, SECURITY_HEADERS };
