// What the headless-Chromium tests share: Debian's Chromium through playwright-core (no browser download), and
// a tiny TAP-like runner whose `check`s report one line each and whose `finish` sets the exit code.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

/** The browser (CHROMIUM_PATH, else /usr/bin/chromium). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
}

let passed = 0, failed = 0;

/** Runs one named check; a thrown error fails it without stopping the others. */
export async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e.message}`);
  }
}

/** Prints the counts and exits, non-zero when a check failed. */
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

/** The same named checks as an object, for scripts that prefer `const { check, finish } = checks()`. */
export function checks() {
  return { check, finish };
}
