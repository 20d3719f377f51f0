// Browser tests of the console (public/console/), run with `npx playwright test`.
// Drives Debian's Chromium (no Playwright browser download) against a fresh `wrangler dev`
// (the prebuilt worker in build/, fresh local storage in a temp dir) on a fixed port.
import { defineConfig } from "@playwright/test";
import { ADMIN_TOKEN, PORT } from "./tests/console/helpers.mjs";

const wrangler = [
  "set -e",
  'dir="$(mktemp -d -t keygate-console-XXXXXX)"',
  ': > "$dir/empty.env"',
  "source scripts/lib.sh",
  "export KEYGATE_PREBUILT=1 NO_COLOR=1 CI=1",
  `exec node_modules/.bin/wrangler dev --ip 127.0.0.1 --port ${PORT} --inspector-port ${PORT + 1}` +
    ' --persist-to "$dir/state" --env-file "$dir/empty.env" --show-interactive-dev-session=false' +
    ` --var REQUIRE_HTTPS:false --var HIDE_FORBIDDEN:false --var ADMIN_TOKEN:${ADMIN_TOKEN}` +
    " --var ORIGIN_SIGNING_SECRET:console-test-origin-secret",
].join("\n");

export default defineConfig({
  testDir: "tests/console",
  testMatch: "*.spec.mjs",
  fullyParallel: false,
  workers: 1,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  outputDir: "target/playwright",
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: "chromium",
    viewport: { width: 1400, height: 900 },
    launchOptions: { executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium" },
    trace: "retain-on-failure",
  },
  webServer: {
    command: `bash -c '${wrangler.replace(/'/g, "'\\''")}'`,
    url: `http://127.0.0.1:${PORT}/console/`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});
