// Optional case g_js_kv of scripts/bench: a JavaScript worker that does what keygate's
// unknown-key path must do at the least cost, one KV read that misses, and answers a 401 JSON.
// It reads under the request's own credential (the KV key is the header's text: no hashing,
// which keygate does and a JS gateway would have to do too), so that with the same wrk script
// as case c every request reads a different KV key, as c's do. Case c minus this case is
// keygate's own work around its KV read (the target of issue 10: "no worse than one KV read
// plus 20 µs").
export default {
  async fetch(request, env) {
    const credential = request.headers.get("authorization") ?? "";
    const record = await env.KEYS.get(`sk:${credential.slice(7)}`, { cacheTtl: 30 });
    return new Response(JSON.stringify({ status: 401, message: record ? "found" : "Unknown API key." }), {
      status: 401,
      headers: { "Content-Type": "application/json" },
    });
  },
};
