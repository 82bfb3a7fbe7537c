// The web app in a real browser: Debian's Chromium driven by playwright-core, against a real
// Houseband server on loopback that tests/web.rs started. Usage:
//   node ui.mjs <scenario> <base url> <screenshot folder>
// Prints what it checked; exits non-zero (with the reason) when a check fails.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';

const [scenario, base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // The flags that keep Chromium off the network (the machine allows loopback only).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
const errors = [];
function watch(page) {
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  // Statuses the app expects (a 401 before logging in) are logged by the browser as errors too.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`);
  });
  // A dialog would be an injected script running: fail.
  page.on('dialog', (d) => { errors.push(`a dialog opened: ${d.message()}`); d.dismiss(); });
}
const say = (what) => console.log(`ok: ${what}`);

async function logIn(page, user, password) {
  await page.goto(base);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

try {
  if (scenario === 'first-run') {
    const page = await browser.newPage();
    watch(page);
    await page.goto(base);
    await page.getByRole('heading', { name: 'Welcome to Houseband' }).waitFor();
    await page.screenshot({ path: `${shots}/first-run-desktop.png` });
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel(/^Password/).fill('short');
    await page.getByRole('button', { name: 'Create the admin' }).click();
    // The browser itself refuses a password under 8 characters (minlength): nothing is sent.
    assert.equal(await page.getByRole('heading', { name: 'Welcome to Houseband' }).count(), 1);
    await page.getByLabel(/^Password/).fill('a good long password');
    await page.getByRole('button', { name: 'Create the admin' }).click();
    await page.getByRole('heading', { name: 'Newest albums' }).waitFor();
    say('the first run creates the admin, who is then logged in');
    // Logged out and back in.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await logIn(page, 'admin', 'wrong password');
    await page.getByRole('alert').filter({ hasText: 'Wrong user name or password.' }).waitFor();
    await logIn(page, 'admin', 'a good long password');
    await page.getByRole('heading', { name: 'Newest albums' }).waitFor();
    say('log out, a wrong password said as such, log in again');
  } else if (scenario === 'browse') {
    for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      watch(page);
      await logIn(page, 'ann', 'pw-for-ann');
      await page.getByRole('heading', { name: 'Newest albums' }).waitFor();
      // Mixes: ann has no history yet, so mixes of the library's genres.
      await page.getByRole('heading', { name: 'Mixes for you' }).waitFor();
      const cards = page.locator('.grid .album');
      await cards.first().waitFor();
      assert.ok((await cards.count()) >= 4, 'the fixture albums are shown');
      await page.waitForLoadState('networkidle');
      await page.screenshot({ path: `${shots}/albums-${name}.png` });
      if (name === 'phone') {
        await context.close();
        continue;
      }
      say(`${await cards.count()} albums in a cover grid, and ${await page.locator('.mix').count()} mixes`);
      await page.getByRole('tab', { name: 'Random' }).click();
      await page.getByRole('heading', { name: 'Random albums' }).waitFor();
      await cards.first().waitFor();
      await page.getByRole('tab', { name: 'Newest' }).click();
      await page.getByRole('heading', { name: 'Newest albums' }).waitFor();

      // An album, then a song played in this browser: its time moves on.
      await page.getByRole('button', { name: /^Northern Lights by/ }).click();
      await page.getByRole('heading', { name: 'Northern Lights' }).waitFor();
      await page.getByRole('button', { name: 'Play', exact: true }).click();
      await page.waitForFunction(() => {
        const a = document.querySelector('audio');
        return a && a.currentTime > 0.3;
      }, null, { timeout: 10000 });
      say('an album opens and its first song plays: the audio element\'s time advances');
      await page.screenshot({ path: `${shots}/album-desktop.png` });

      // Search as you type, accents and case ignored.
      await page.getByRole('button', { name: '← All albums' }).click();
      await page.getByRole('searchbox', { name: 'Search' }).fill('AURORA');
      const results = page.getByRole('region', { name: 'Search results' });
      await results.getByRole('button', { name: /Northern Lights/ }).waitFor();
      say('search as you type finds the album');

      // A title that is HTML shows as text; nothing runs, no element is made from it.
      await page.getByRole('searchbox', { name: 'Search' }).fill('onerror');
      await results.getByText('<img src=x onerror=alert(1)>', { exact: false }).first().waitFor();
      assert.equal(await page.locator('img[src="x"]').count(), 0);
      say('a tag full of HTML renders as text');
      await page.screenshot({ path: `${shots}/search-desktop.png` });
      await context.close();
    }
  } else if (scenario === 'queue') {
    // Two people, two browsers, one household queue.
    const pages = [];
    for (const [user, password] of [['ann', 'pw-for-ann'], ['bob', 'pw-for-bob']]) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      watch(page);
      await logIn(page, user, password);
      await page.getByRole('heading', { name: 'Household queue' }).waitFor();
      pages.push(page);
    }
    const [ann, bob] = pages;
    const bobsQueue = bob.getByRole('complementary', { name: 'Household queue' });
    const annsQueue = ann.getByRole('complementary', { name: 'Household queue' });
    await ann.getByRole('button', { name: /^Northern Lights by/ }).click();
    await ann.getByRole('button', { name: 'Add to the queue' }).click();
    let t0 = Date.now();
    await bobsQueue.getByText('Polar Night').waitFor({ timeout: 1000 });
    console.log(`ok: ann adds an album; bob's queue shows it ${Date.now() - t0} ms after the click`);
    assert.equal(await bobsQueue.locator('.entries li').count(), 7);
    // The first song added became the current one.
    await bobsQueue.locator('li.current').getByText('Polar Night').waitFor();
    await bob.screenshot({ path: `${shots}/queue-desktop.png` });
    t0 = Date.now();
    await bob.getByRole('button', { name: 'Remove Ice Road' }).click();
    await annsQueue.getByText('Ice Road').waitFor({ state: 'detached', timeout: 1000 });
    console.log(`ok: bob removes a song; gone from ann's queue ${Date.now() - t0} ms later`);
    await ann.getByRole('button', { name: 'Clear' }).click();
    await bobsQueue.locator('.entries li').first().waitFor({ state: 'detached', timeout: 1000 });
    say('ann clears it; bob sees it empty');
    // Autoplay switched off in ann's app is off for the household.
    const annsSwitch = annsQueue.getByLabel(/Autoplay/);
    assert.equal(await annsSwitch.isChecked(), false, 'off in the test server, as started');
    await annsSwitch.check();
    await ann.waitForFunction(async () => (await (await fetch('/api/autoplay', { headers: { 'X-Requested-With': 'test' } })).json()).enabled === true);
    await annsSwitch.uncheck();
    await ann.waitForFunction(async () => (await (await fetch('/api/autoplay', { headers: { 'X-Requested-With': 'test' } })).json()).enabled === false);
    say('the autoplay switch switches the household\'s autoplay');
    // "/" goes to the search field.
    await bob.locator('body').click({ position: { x: 5, y: 400 } });
    await bob.keyboard.press('/');
    assert.equal(await bob.evaluate(() => document.activeElement.id), 'search');
    say('"/" goes to search');
    // Radio from the album fills the queue for both.
    await ann.getByRole('button', { name: 'Radio' }).click();
    await bobsQueue.locator('.entries li').nth(4).waitFor({ timeout: 2000 });
    say(`radio from the album: ${await bobsQueue.locator('.entries li').count()} songs in bob's queue`);
  } else {
    throw new Error(`no scenario ${scenario}`);
  }
  assert.deepEqual(errors, [], 'no script errors, no dialogs');
} catch (e) {
  console.error(`FAILED: ${e.message}`);
  for (const line of errors) console.error(line);
  await browser.close();
  process.exit(1);
}
await browser.close();
