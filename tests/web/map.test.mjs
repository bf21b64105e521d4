// Drives the page `arxiv-atlas map` writes in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): points are drawn, hovering a point shows its title and category, a click opens arXiv, the
// archive filter changes what is drawn; no request leaves the page (it must work offline).
//   node tests/web/map.test.mjs /path/to/map.html [screenshot.png]
// Run by crates/atlas-map/tests/page.rs; install with scripts/setup-web-test.sh.
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { launch, checks } from "./harness.mjs";

const [htmlPath, screenshot] = process.argv.slice(2);
const browser = await launch();
const { check, finish } = checks();

try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  const requests = [];
  page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
  const started = Date.now();
  await page.goto(pathToFileURL(htmlPath).href);
  await page.waitForFunction(() => window.atlasMap && window.atlasMap.drawn() > 0, null, { timeout: 60000 });
  console.log(`# page ready in ${Date.now() - started} ms`);
  const n = await page.evaluate(() => window.atlasMap.n);

  await check("every paper is drawn at first", async () => {
    const drawn = await page.evaluate(() => window.atlasMap.drawn());
    assert.equal(drawn, n);
    const count = await page.textContent("#count");
    assert.match(count, /papers shown/);
    // The canvas really has coloured pixels, not only a white background.
    const coloured = await page.evaluate(() => {
      const c = document.getElementById("map");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let k = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) k++;
      return k;
    });
    assert.ok(coloured > Math.min(n, 1000), `${coloured} coloured pixels`);
  });

  await check("hovering a point shows its title and category", async () => {
    const i = await page.evaluate(() => window.atlasMap.firstShown());
    const [x, y] = await page.evaluate((i) => window.atlasMap.screenOf(i), i);
    await page.mouse.move(x, y);
    await page.waitForSelector("#tooltip:not([hidden])", { timeout: 5000 });
    const text = await page.textContent("#tooltip");
    // Another paper may lie on the same pixel: the tooltip shows a paper within reach, with a title and code.
    assert.ok(text.length > 10, text);
    assert.match(text, /arXiv:/);
    const title = await page.evaluate((i) => window.atlasMap.title(i), i);
    const shownTitle = await page.textContent("#tooltip .t");
    const near = await page.evaluate(([x, y, t]) => {
      for (let j = 0; j < window.atlasMap.n; j++) {
        if (window.atlasMap.title(j) !== t) continue;
        const [sx, sy] = window.atlasMap.screenOf(j);
        if (Math.hypot(sx - x, sy - y) <= 8.5) return true;
      }
      return false;
    }, [x, y, shownTitle]);
    assert.ok(shownTitle === title || near, `tooltip "${shownTitle}" is not a paper under the mouse`);
  });

  await check("a click opens the paper on arxiv.org in a new tab", async () => {
    await page.evaluate(() => { window.__opened = []; window.open = (u, t) => { window.__opened.push([u, t]); }; });
    const i = await page.evaluate(() => window.atlasMap.firstShown());
    const [x, y] = await page.evaluate((i) => window.atlasMap.screenOf(i), i);
    await page.mouse.click(x, y);
    const opened = await page.evaluate(() => window.__opened);
    assert.equal(opened.length, 1);
    assert.match(opened[0][0], /^https:\/\/arxiv\.org\/abs\/\S+$/);
    assert.equal(opened[0][1], "_blank");
  });

  if (screenshot) {
    await page.mouse.move(5, 5);
    const i = await page.evaluate(() => window.atlasMap.firstShown());
    const [x, y] = await page.evaluate((i) => window.atlasMap.screenOf(i), i);
    await page.mouse.move(x, y);
    await page.screenshot({ path: screenshot });
    console.log(`# screenshot: ${screenshot}`);
  }

  await check("the archive filter changes what is drawn", async () => {
    const first = await page.evaluate(() => window.atlasMap.archiveOfPaper(window.atlasMap.firstShown()));
    await page.uncheck(`#filters input[data-archive="${first}"]`);
    await page.waitForFunction((n) => window.atlasMap.drawn() < n, n, { timeout: 5000 });
    const after = await page.evaluate(() => window.atlasMap.drawn());
    assert.ok(after > 0 || (await page.$$("#filters input")).length === 1, "other archives stay drawn");
    const hiddenFirst = await page.evaluate((a) => window.atlasMap.archiveOfPaper(window.atlasMap.firstShown()) !== a, first);
    assert.ok(hiddenFirst, "the first shown paper is now of another archive");
    await page.click("#none");
    await page.waitForFunction(() => window.atlasMap.drawn() === 0, null, { timeout: 5000 });
    await page.click("#all");
    await page.waitForFunction((n) => window.atlasMap.drawn() === n, n, { timeout: 5000 });
  });

  await check("zooming in redraws fewer points, quickly", async () => {
    const box = await page.$eval("#map", (c) => { const r = c.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; });
    await page.mouse.move(box[0], box[1]);
    const t = await page.evaluate(() => new Promise((resolve) => {
      const t0 = performance.now();
      document.getElementById("map").dispatchEvent(new WheelEvent("wheel", { deltaY: -1500, clientX: innerWidth / 2, clientY: innerHeight / 2, bubbles: true, cancelable: true }));
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    }));
    const drawn = await page.evaluate(() => window.atlasMap.drawn());
    console.log(`# zoom redraw: ${t.toFixed(0)} ms for ${n} papers`);
    assert.ok(drawn < n, `${drawn} of ${n} drawn after zooming in`);
  });

  await check("the page made no network request and logged no error", async () => {
    assert.deepEqual(requests, []);
    assert.deepEqual(problems, []);
  });
} finally {
  await browser.close();
}
finish();
