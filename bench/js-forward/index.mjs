// Optional case h_js_forward of scripts/bench: a JavaScript worker that forwards like a minimal
// gateway, without any checks: the client's headers minus its credentials, plus seven headers
// shaped like keygate's identity and signature headers (fixed values: no HMAC), to the origin,
// and the answer back. Under `wrangler dev` a subrequest's cost grows with its headers
// (wrangler traces each of them), so d − h is keygate's own share of the live path more
// fairly than d − f, whose fetch sends no header at all.
const SIGNED = {
  "x-keygate-account": "acct_0123456789abcdefghij",
  "x-keygate-key": "key_0123456789abcdefghij",
  "x-keygate-environment": "live",
  "x-keygate-product": "bank_data",
  "x-request-id": "req_0123456789abcdefghijklmn",
  "x-keygate-timestamp": "1795435200",
  "x-keygate-signature": "v1=" + "0123456789abcdef".repeat(4),
};

export default {
  async fetch(request, env) {
    const headers = new Headers(request.headers);
    headers.delete("authorization");
    headers.delete("x-product-key");
    for (const [name, value] of Object.entries(SIGNED)) headers.set(name, value);
    const answer = await fetch(`${env.ORIGIN_URL}/v1/accounts`, {
      method: request.method,
      headers,
      redirect: "manual",
    });
    return new Response(answer.body, answer);
  },
};
