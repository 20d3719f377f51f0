// Optional case g_js_kv of scripts/bench: a JavaScript worker that does what keygate's
// unknown-key path must do at the least cost, one KV read that misses, and answers a 401 JSON.
// Case c minus this case is keygate's own work around its KV read (the target of issue 10:
// "no worse than one KV read plus 20 µs").
export default {
  async fetch(request, env) {
    const record = await env.KEYS.get("sk:0000000000000000000000000000000000000000000000000000000000000000", {
      cacheTtl: 30,
    });
    return new Response(JSON.stringify({ status: 401, message: record ? "found" : "Unknown API key." }), {
      status: 401,
      headers: { "Content-Type": "application/json" },
    });
  },
};
