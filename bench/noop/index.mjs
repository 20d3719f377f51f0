// The "no-op" of scripts/bench: the cheapest possible answer, a fixed 44-byte JSON body.
// Its CPU per request under `wrangler dev` is the floor subtracted from keygate's figures.
const BODY = '{"ok":true,"bench":"noop","padding":"xxxxx"}'; // 44 bytes

export default {
  fetch() {
    return new Response(BODY, { headers: { "content-type": "application/json" } });
  },
};
