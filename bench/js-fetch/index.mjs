// Optional case f_js_fetch of scripts/bench: a JavaScript worker that does what keygate's
// live path does at the least cost, one fetch to the origin, and returns the origin's answer.
// Minus the no-op, it is the price of one subrequest under `wrangler dev`, which there includes
// the devtools instrumentation wrangler enables (Network.* events for every subrequest,
// forwarded to wrangler's node process): the share of case d that is not keygate's own work.
export default {
  async fetch(request, env) {
    const answer = await fetch(`${env.ORIGIN_URL}/v1/accounts`);
    return new Response(answer.body, answer);
  },
};
