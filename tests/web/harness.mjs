// What every page test shares: Debian's Chromium through playwright-core (never a downloaded browser) and
// named checks that print `ok - NAME` / `not ok - NAME: why`, then one `N passed, N failed` line.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

/// Headless Chromium (`CHROMIUM_PATH`, default /usr/bin/chromium).
export function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", args: ["--no-sandbox"] });
}

/// `check(name, fn)` runs one named check; `finish()` prints the counts and exits non-zero on a failure.
export function checks() {
  let passed = 0, failed = 0;
  return {
    async check(name, fn) {
      try {
        await fn();
        passed++;
        console.log(`ok - ${name}`);
      } catch (e) {
        failed++;
        console.log(`not ok - ${name}: ${e.message}`);
      }
    },
    finish() {
      console.log(`${passed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
  };
}
