// For `cargo bench --bench web`: loads the web app `rounds` times in Debian's Chromium (a fresh
// browser context each time: nothing cached) and prints, per load, the milliseconds from the
// start of navigation to the login form being usable, and, logged in, to the albums grid shown.
//   node tti.mjs <base url> <rounds>
import { chromium } from 'playwright-core';

const [base, rounds] = [process.argv[2], Number(process.argv[3] || 10)];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
for (let i = 0; i < rounds; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(base, { waitUntil: 'commit' });
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  const login = Date.now() - t0;
  await page.getByLabel('User name').fill('bench');
  await page.getByLabel('Password').fill('bench-pw');
  const t1 = Date.now();
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.grid .album').first().waitFor();
  const albums = Date.now() - t1;
  console.log(JSON.stringify({ login, albums }));
  await context.close();
}
await browser.close();
