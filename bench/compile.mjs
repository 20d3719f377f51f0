// Helper of scripts/bench: how long V8 takes to compile the worker's wasm, apart from workerd.
//
//   CHROMIUM_PATH=/usr/bin/chromium node bench/compile.mjs build/index_bg.wasm
//
// Times `new WebAssembly.Module(bytes)` (what an isolate does with the bundle's wasm module
// before the first request) in headless Chromium, whose V8 is of workerd's generation (node
// 20's V8 cannot read this module: it lacks the exception-handling opcodes wasm-bindgen emits).
// 10 timed runs after 2 untimed ones, median. V8 compiles wasm lazily by default (a function is
// compiled on its first call), so that figure is mostly decoding and validating the module;
// `--no-wasm-lazy-compilation` shows the eager compile of every function, the work that lazy
// compilation spreads over the first calls.
import { readFileSync } from "node:fs";
import { chromium } from "@playwright/test";

const path = process.argv[2];
const bytes = readFileSync(path);
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

async function medianCompileMs(jsFlags) {
  const browser = await chromium.launch({
    executablePath,
    args: jsFlags ? [`--js-flags=${jsFlags}`] : [],
  });
  try {
    const page = await browser.newPage();
    return await page.evaluate((b64) => {
      const raw = atob(b64);
      const module = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) module[i] = raw.charCodeAt(i);
      // V8 keeps compiled modules by their bytes: each run appends a different custom section
      // (ignored by the module's code) so that every run compiles from scratch.
      const variant = (i) => {
        const copy = new Uint8Array(module.length + 7);
        copy.set(module);
        copy.set([0, 5, 1, 0x6e, i & 0xff, (i >> 8) & 0xff, 0], module.length);
        return copy;
      };
      for (let i = 0; i < 2; i++) new WebAssembly.Module(variant(1000 + i));
      const runs = [];
      for (let i = 0; i < 10; i++) {
        const fresh = variant(i);
        const start = performance.now();
        new WebAssembly.Module(fresh);
        runs.push(performance.now() - start);
      }
      runs.sort((a, b) => a - b);
      return runs[5];
    }, bytes.toString("base64"));
  } finally {
    await browser.close();
  }
}

const lazy = await medianCompileMs("");
const eager = await medianCompileMs("--no-wasm-lazy-compilation");
const version = (await import("node:child_process"))
  .execFileSync(executablePath, ["--version"], { encoding: "utf8" })
  .trim();
console.log(
  `V8 compile of index_bg.wasm (${bytes.length} B) in ${version}, headless: ` +
    `${lazy.toFixed(1)} ms lazily (V8's default), ${eager.toFixed(1)} ms eagerly ` +
    `(--no-wasm-lazy-compilation); median of 10`,
);
