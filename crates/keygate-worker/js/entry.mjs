// keygate's module entry (wrangler.toml `main`): the worker-build output, with JSON errors
// guaranteed even if the wasm traps. worker-build's shim re-initialises the module afterwards.
import Gateway from "../../../build/worker/shim.mjs";
import { withJsonErrors } from "./json-errors.mjs";

export * from "../../../build/worker/shim.mjs";
export default withJsonErrors(Gateway);
