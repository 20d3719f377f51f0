// ESLint (flat config; version pinned in package.json), run by scripts/test with
// `--max-warnings 0`: every JavaScript file of the repository, eslint's recommended rules, with
// the globals of the runtime each file runs in.
import js from "@eslint/js";
import globals from "globals";

// Code that runs inside workerd (wrangler dev / Cloudflare): the web platform of a worker
// (fetch, Request, Response, caches, crypto, WebAssembly, …), no Node and no DOM.
const workerd = { ...globals.serviceworker };

export default [
  {
    // Build output, installed packages and local state: not ours to lint.
    ignores: ["node_modules/", "target/", "build/", "dist/", ".wrangler/", "fuzz/target/"],
  },
  js.configs.recommended,
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module" },
    linterOptions: { reportUnusedDisableDirectives: "error" },
  },
  {
    // The console: native ES modules in the browser, no build step.
    files: ["public/console/**/*.js"],
    languageOptions: { globals: globals.browser },
  },
  {
    // The worker's JS entry and the bench's workers and entries: workerd.
    files: ["crates/keygate-worker/js/*.mjs", "bench/*/index.mjs", "bench/calls/*.mjs", "bench/startup/*.mjs"],
    ignores: ["**/*.test.mjs"],
    languageOptions: { globals: workerd },
  },
  {
    // Node: the worker JS's unit tests (node --test), scripts, the bench's helpers, Playwright.
    files: [
      "crates/keygate-worker/js/*.test.mjs",
      "scripts/*.mjs",
      "bench/*.mjs",
      "playwright.config.mjs",
      "eslint.config.mjs",
    ],
    languageOptions: { globals: globals.node },
  },
  {
    // Playwright tests run in Node, and the callbacks they hand to page.evaluate() run in the page.
    files: ["tests/console/*.mjs"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
];
