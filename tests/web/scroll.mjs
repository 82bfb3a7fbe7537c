// For `cargo bench --bench web`: scrolls the A-to-Z album grid of a big library in Debian's
// Chromium at a steady speed, from the top to the bottom (or for `seconds`), and prints (as
// JSON) how the frames went: every frame's interval is taken from requestAnimationFrame, and a
// frame over 1.5 times the display's usual interval counts as dropped.
// Long tasks (main-thread work over 50 ms) are counted too: frames dropped with none of them were
// held up outside the page's scripts (rasterising, the server busy resizing covers on the same
// cores). With `covers` off, cover requests are refused, to see the grid's own share.
//   node scroll.mjs <base url> <user> <password> <pixels per second> <covers: on|off> [seconds]
import { chromium } from 'playwright-core';

const [base, user, password, speed, covers, seconds] = [process.argv[2], process.argv[3], process.argv[4],
  Number(process.argv[5] || 4000), process.argv[6] || 'on', Number(process.argv[7] || 120)];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
if (covers === 'off') await page.route(/getCoverArt/, (route) => route.fulfill({ status: 404, body: '' }));
await page.goto(base);
await page.getByLabel('User name').fill(user);
await page.getByLabel('Password').fill(password);
await page.getByRole('button', { name: 'Log in' }).click();
await page.getByRole('heading', { name: 'Newest albums' }).waitFor();
await page.goto(`${base}#/albums/alphabeticalByName`);
await page.locator('.grid .album').first().waitFor();
await page.waitForLoadState('networkidle');
const result = await page.evaluate(([pxPerSecond, limit]) => new Promise((done) => {
  const frames = [];
  const nodes = [];
  const long = [];
  new PerformanceObserver((list) => long.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
  let last = performance.now();
  const started = last;
  function frame(now) {
    frames.push(now - last);
    last = now;
    window.scrollTo(0, ((now - started) / 1000) * pxPerSecond);
    nodes.push(document.querySelectorAll('.grid .album').length);
    const grid = document.querySelector('.grid.virtual');
    const bottom = window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2;
    const all = grid && Number(grid.dataset.count);
    // At the bottom with every album loaded (the grid stops growing), or after `seconds`.
    if ((bottom && all > 0 && frames.length > 60 && document.querySelectorAll('.grid + p').length === 0 && window.__lastCount === all)
      || now - started > limit * 1000) {
      done({ frames: frames.slice(1), albums: all, scrolled: window.scrollY, nodes: Math.max(...nodes), seconds: (now - started) / 1000, long });
      return;
    }
    window.__lastCount = all;
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
}), [speed, seconds]);
const sorted = result.frames.slice().sort((a, b) => a - b);
const typical = sorted[Math.floor(sorted.length / 2)];
const dropped = result.frames.filter((f) => f > typical * 1.5).length;
console.log(JSON.stringify({
  albums: result.albums,
  scrolled_px: Math.round(result.scrolled),
  seconds: Number(result.seconds.toFixed(1)),
  frames: result.frames.length,
  median_frame_ms: Number(typical.toFixed(2)),
  p99_frame_ms: Number(sorted[Math.floor(sorted.length * 0.99)].toFixed(2)),
  worst_frame_ms: Number(sorted[sorted.length - 1].toFixed(2)),
  dropped,
  most_cards_in_page: result.nodes,
  long_tasks: result.long.length,
  longest_task_ms: Math.round(Math.max(0, ...result.long)),
}));
await browser.close();
