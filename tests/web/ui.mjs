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
      await page.getByRole('link', { name: /^Northern Lights by/ }).click();
      await page.getByRole('heading', { name: 'Northern Lights' }).waitFor();
      await page.getByRole('button', { name: 'Play', exact: true }).click();
      await page.waitForFunction(() => {
        const a = document.querySelector('audio.private.active');
        return a && a.currentTime > 0.3;
      }, null, { timeout: 10000 });
      // The player's own keys: space pauses what plays here.
      await page.locator('body').click({ position: { x: 5, y: 300 } });
      await page.keyboard.press(' ');
      await page.waitForFunction(() => document.querySelector('audio.private.active').paused);
      await page.keyboard.press(' ');
      await page.waitForFunction(() => !document.querySelector('audio.private.active').paused);
      say('space pauses and plays again');
      say('an album opens and its first song plays: the audio element\'s time advances');
      await page.screenshot({ path: `${shots}/album-desktop.png` });

      // Search as you type, accents and case ignored.
      await page.goBack();
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
    await ann.getByRole('link', { name: /^Northern Lights by/ }).click();
    await ann.getByRole('button', { name: 'Add to the queue' }).click();
    let t0 = Date.now();
    await bobsQueue.getByText('Polar Night').waitFor({ timeout: 1000 });
    console.log(`ok: ann adds an album; bob's queue shows it ${Date.now() - t0} ms after the click`);
    assert.equal(await bobsQueue.locator('.entries li').count(), 7);
    // The first song added became the current one.
    await bobsQueue.locator('li.current').getByText('Polar Night').waitFor();
    await bob.screenshot({ path: `${shots}/queue-desktop.png` });
    // Dragged to the top in bob's browser: first in ann's.
    const titles = (page) => page.locator('.entries li .title').allTextContents();
    const before = await titles(ann);
    const last = before[before.length - 1];
    await bobsQueue.locator('.entries li').last().dragTo(bobsQueue.locator('.entries li').first());
    await ann.waitForFunction((t) => document.querySelector('.entries li .title').textContent === t, last, { timeout: 1000 });
    say(`bob drags “${last}” to the top; ann's queue has it first`);
    // A song's menu: play next puts it right after the current one.
    await ann.getByRole('button', { name: 'More for Ice Road' }).click();
    await ann.getByRole('menuitem', { name: 'Play next' }).click();
    await bob.waitForFunction(() => {
      const rows = [...document.querySelectorAll('.entries li')];
      const i = rows.findIndex((r) => r.classList.contains('current'));
      return rows[i + 1] && rows[i + 1].querySelector('.title').textContent === 'Ice Road';
    }, null, { timeout: 1000 });
    say('"Play next" from a song\'s menu queues it after the current song');
    await ann.getByRole('button', { name: 'Remove Ice Road' }).first().click();
    await bob.waitForFunction(() => [...document.querySelectorAll('.entries .title')].filter((t) => t.textContent === 'Ice Road').length === 1);

    // Speakers: each browser is an output. The queue plays on ann's, then hands off to bob's
    // at the same place.
    const household = (page) => page.evaluate(() => {
      const a = document.querySelector('audio.household.active');
      return { time: a.currentTime, paused: a.paused, src: a.src };
    });
    const picker = (queue) => queue.getByRole('group', { name: 'Play on' });
    const mine = async (queue) => picker(queue).getByRole('button', { name: /^This browser/ }).getAttribute('data-output');
    await picker(annsQueue).getByRole('button', { name: /^This browser/ }).click();
    // A 20-second song (the fixtures' songs last a second), found by search and queued.
    await ann.getByRole('searchbox', { name: 'Search' }).fill('long tone');
    await ann.getByRole('button', { name: 'Add Long Tone to the queue' }).click();
    await annsQueue.getByRole('button', { name: /^Long Tone by/ }).click();
    await ann.waitForFunction(() => {
      const a = document.querySelector('audio.household.active');
      return a && !a.paused && a.currentTime > 2.5;
    }, null, { timeout: 15000 });
    const onAnn = await household(ann);
    say(`the queue plays in ann's browser (${onAnn.time.toFixed(1)} s in)`);
    const annsId = await picker(annsQueue).locator('button[aria-pressed=true]').getAttribute('data-output');
    const bobsId = await mine(bobsQueue);
    assert.notEqual(annsId, bobsId);
    await picker(bobsQueue).getByRole('button', { name: /^This browser/ }).click();
    await bob.waitForFunction(() => {
      const a = document.querySelector('audio.household.active');
      return a && !a.paused && a.currentTime > 0;
    }, null, { timeout: 10000 });
    const onBob = await household(bob);
    const leftAnn = await household(ann);
    assert.equal(onBob.src.split('/api/stream/')[1], onAnn.src.split('/api/stream/')[1], 'the same song');
    assert.ok(onBob.time >= onAnn.time - 0.5, `bob's browser goes on from where ann's was (${onBob.time} s, ann's was at ${onAnn.time} s)`);
    assert.ok(leftAnn.paused, 'ann\'s browser stopped');
    await bob.screenshot({ path: `${shots}/speaker-picker-desktop.png` });
    say(`switched to bob's browser: it goes on at ${onBob.time.toFixed(1)} s; ann's stopped`);
    await bob.getByRole('button', { name: 'Pause', exact: true }).click();

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
  } else if (scenario === 'library') {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    watch(page);
    await logIn(page, 'ann', 'pw-for-ann');
    const nav = page.getByRole('navigation', { name: 'Library' });
    // Artists, by letter, to an artist's page and on to an album.
    await nav.getByRole('link', { name: 'Artists' }).click();
    await page.getByRole('heading', { name: 'Artists', exact: true }).waitFor();
    await page.getByRole('navigation', { name: 'Artists by letter' }).getByRole('link', { name: 'O' }).click();
    await page.getByRole('link', { name: 'Orchestra Nova' }).click();
    await page.getByRole('heading', { name: 'Orchestra Nova' }).waitFor();
    await page.getByRole('link', { name: /^Symphony No. 1 by/ }).click();
    await page.getByRole('heading', { name: 'Symphony No. 1' }).waitFor();
    say('artists A to Z, an artist\'s page, its album');
    await page.screenshot({ path: `${shots}/artist-album-desktop.png` });
    // Genres and years lead to albums.
    await nav.getByRole('link', { name: 'Genres' }).click();
    await page.getByRole('link', { name: /^Ambient/ }).click();
    await page.getByRole('heading', { name: 'Ambient' }).waitFor();
    await page.getByRole('link', { name: /^Northern Lights by/ }).waitFor();
    await nav.getByRole('link', { name: 'Years' }).click();
    await page.getByRole('link', { name: '2010s' }).click();
    await page.getByRole('heading', { name: 'The 2010s' }).waitFor();
    await page.getByRole('link', { name: /^Northern Lights by/ }).waitFor();
    say('a genre and a decade list their albums');
    // Stars: an album starred shows in the starred list; a song starred stays starred.
    await page.getByRole('link', { name: /^Northern Lights by/ }).click();
    await page.getByRole('button', { name: 'Star Northern Lights' }).click();
    await page.getByRole('button', { name: 'Star Polar Night' }).click();
    await page.getByRole('button', { name: 'Unstar Polar Night' }).waitFor();
    await nav.getByRole('link', { name: 'Albums' }).click();
    await page.getByRole('tab', { name: 'Starred' }).click();
    await page.getByRole('heading', { name: 'Starred albums' }).waitFor();
    await page.getByRole('link', { name: /^Northern Lights by/ }).waitFor();
    assert.equal(await page.locator('.grid .album').count(), 1);
    say('a starred album is in the starred list');
    // A playlist: made from an album, reordered, renamed, a song removed, deleted.
    await page.getByRole('link', { name: /^Northern Lights by/ }).click();
    await page.getByRole('button', { name: 'Add to a playlist' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('New playlist').fill('Evening <b>walk</b>');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('status').filter({ hasText: 'Made the playlist' }).waitFor();
    await nav.getByRole('link', { name: 'Playlists' }).click();
    await page.getByRole('link', { name: 'Evening <b>walk</b>' }).click();
    await page.getByRole('heading', { name: 'Evening <b>walk</b>' }).waitFor();
    const order = () => page.locator('.playlist-page .songs .title').allTextContents();
    const first = await order();
    assert.equal(first.length, 7);
    await page.getByRole('button', { name: `Move ${first[0]} (arrow keys)` }).press('ArrowDown');
    await page.waitForFunction((t) => document.querySelectorAll('.playlist-page .songs .title')[1].textContent === t, first[0]);
    await page.getByRole('button', { name: `Remove ${first[6]} from the playlist` }).click();
    await page.locator('.playlist-page .songs li').nth(6).waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('Name').fill('Evening walk');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Evening walk' }).waitFor();
    // What the server kept, seen afresh.
    await page.reload();
    await page.getByRole('heading', { name: 'Evening walk' }).waitFor();
    assert.deepEqual(await order(), [first[1], first[0], ...first.slice(2, 6)]);
    say('a playlist made from an album, a song moved down and one removed, renamed: all kept');
    await page.screenshot({ path: `${shots}/playlist-desktop.png` });
    // A share link: works with no login at all.
    await page.getByRole('button', { name: 'Share' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Make the link' }).click();
    const link = await page.getByRole('dialog').getByLabel('Link').inputValue();
    const anonymous = await browser.newContext();
    const shared = await anonymous.newPage();
    const answer = await shared.goto(link);
    assert.equal(answer.status(), 200);
    await shared.getByText('Evening walk').first().waitFor();
    await anonymous.close();
    say('a share link opens without logging in');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Delete “Evening walk” for good' }).click();
    await page.getByRole('heading', { name: 'Playlists' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Evening walk' }).count(), 0);
    say('the playlist is deleted');
    // The theme switches and stays switched.
    await page.getByRole('button', { name: /^Theme/ }).click();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await page.reload();
    await page.getByRole('heading', { name: 'Playlists' }).waitFor();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await page.screenshot({ path: `${shots}/playlists-dark-desktop.png` });
    say('the dark theme, kept on reload');
    await context.close();
  } else if (scenario === 'admin') {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    watch(page);
    await logIn(page, 'admin', 'pw-for-admin');
    await page.getByRole('navigation', { name: 'Library' }).getByRole('link', { name: 'Settings' }).click();
    const tabs = page.getByRole('navigation', { name: 'Settings' });
    // The library: a second music folder added here (a wrong path first), a scan that runs
    // with its progress, the broken files.
    await tabs.getByRole('link', { name: 'Library and scans' }).click();
    const folderPath = page.getByLabel(/^Add a music folder/);
    await folderPath.fill('classical');
    await page.getByRole('button', { name: 'Add and scan it' }).click();
    await page.getByRole('alert').filter({ hasText: 'full path' }).waitFor();
    await folderPath.fill(process.env.CLASSICAL);
    await page.getByRole('button', { name: 'Add and scan it' }).click();
    await page.getByRole('cell', { name: 'classical', exact: true }).waitFor();
    await page.getByRole('row', { name: /classical .* 2 /}).waitFor({ timeout: 30000 });
    say('a music folder added from the app: a relative path refused with the reason, the full one scanned');
    await page.getByRole('button', { name: 'Full scan (read every file again)' }).click();
    // The server scanned once at its start, and once for the folder: this is the third scan.
    await page.getByRole('status').filter({ hasText: /^Not scanning\. 3 scans/ }).waitFor({ timeout: 30000 });
    await page.getByRole('heading', { name: /^Files the scan could not read \([1-9]/ }).waitFor();
    await page.getByRole('cell', { name: /truncated\.flac/ }).waitFor();
    say('the library screen: folders, a full scan run to its end, the files it could not read');
    await page.screenshot({ path: `${shots}/admin-library-desktop.png` });
    await tabs.getByRole('link', { name: 'Server' }).click();
    await page.getByRole('row', { name: /^Version/ }).waitFor();
    // A user who may see one folder only.
    await tabs.getByRole('link', { name: 'Users' }).click();
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('User name').fill('cy');
    await form.getByLabel(/^Password/).fill('pw-for-cy-1');
    await form.getByLabel('classical').uncheck();
    await form.getByRole('button', { name: 'Add the user' }).click();
    await page.getByRole('status').filter({ hasText: 'Made the user cy.' }).waitFor();
    await page.getByRole('cell', { name: 'cy', exact: true }).waitFor();
    say('the admin adds cy, who may see the music folder only');
    // cy's players, as the admin sees them (none yet: cy has streamed nothing).
    await tabs.getByRole('link', { name: 'Players and transcoding' }).click();
    await page.getByLabel('Players of').selectOption('cy');
    await page.getByText('No players yet').waitFor();
    await page.screenshot({ path: `${shots}/admin-users-desktop.png` });
    // An API key, shown once.
    await tabs.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('What it is for').fill('kitchen tablet');
    await page.getByRole('button', { name: 'Make a key' }).click();
    const key = await page.locator('.notice code').textContent();
    assert.ok(key.length >= 20, key);
    const pinged = await page.evaluate(async (k) => (await (await fetch(`/rest/ping?f=json&apiKey=${k}&v=1.16.1&c=t`, { credentials: 'omit' })).json())['subsonic-response'].status, key);
    assert.equal(pinged, 'ok');
    await page.getByRole('button', { name: 'Revoke kitchen tablet' }).click();
    await page.getByText('No keys yet.').waitFor();
    say('an API key is made, logs a client in, and is revoked');
    // cy logs in and sees only that folder's albums.
    const theirs = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const cy = await theirs.newPage();
    watch(cy);
    await logIn(cy, 'cy', 'pw-for-cy-1');
    await cy.getByRole('heading', { name: 'Newest albums' }).waitFor();
    await cy.locator('.grid .album').first().waitFor();
    const names = await cy.locator('.grid .album .title').allTextContents();
    assert.ok(names.includes('Northern Lights'), names.join(', '));
    assert.ok(!names.includes('Symphony No. 1'), `cy must not see the classical folder: ${names.join(', ')}`);
    await cy.getByRole('searchbox', { name: 'Search' }).fill('symphony');
    await cy.getByRole('region', { name: 'Search results' }).getByText('Nothing found.').waitFor();
    // Nor the admin's settings.
    await cy.goto(`${base}#/settings/users`);
    await cy.getByRole('link', { name: 'API keys' }).waitFor();
    assert.equal(await cy.getByRole('link', { name: 'Users' }).count(), 0);
    await cy.screenshot({ path: `${shots}/settings-phone.png` });
    say(`cy logs in and sees ${names.length} albums, none of the classical folder, and no admin screens`);
    await theirs.close();
    await context.close();
  } else if (scenario === 'podcasts') {
    // FEED and HOSTILE: feeds on the podcast host on loopback that tests/web.rs started.
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    watch(page);
    await logIn(page, 'ann', 'pw-for-ann');
    await page.getByRole('heading', { name: 'Newest albums' }).waitFor();
    await page.getByRole('link', { name: 'Podcasts' }).click();
    await page.getByRole('heading', { name: 'Podcasts' }).waitFor();
    await page.getByText('No podcasts yet.').waitFor();
    await page.getByLabel('Feed address').fill(process.env.FEED);
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.getByRole('link', { name: 'Kitchen Table Talk' }).waitFor();
    // A feed whose title is markup shows it as text (a script would open a dialog: watched).
    await page.getByLabel('Feed address').fill(process.env.HOSTILE);
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.getByRole('link', { name: '../../etc/passwd <script>alert(1)</script>' }).waitFor();
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: `${shots}/podcasts-desktop.png` });
    say('subscribed by address; channels with their pictures, a hostile title shown as text');
    await page.getByRole('link', { name: 'Kitchen Table Talk' }).click();
    await page.getByRole('heading', { name: 'Kitchen Table Talk' }).waitFor();
    await page.getByRole('button', { name: 'Download Episode 2: Three' }).click();
    await page.getByRole('button', { name: 'Play Episode 2: Three' }).waitFor();
    await page.getByRole('button', { name: 'Play Episode 2: Three' }).click();
    await page.locator('.player').getByText('Episode 2: Three').waitFor();
    const src = await page.locator('audio.deck.private.active').evaluate((a) => a.currentSrc);
    assert.match(src, /\/api\/stream\/pe-\d+$/);
    say('an episode downloads, then plays here from its stream id');
    await page.getByRole('button', { name: 'Add Episode 2: Three to the queue' }).click();
    await page.getByRole('complementary', { name: 'Household queue' }).getByText('Episode 2: Three').waitFor();
    say('and goes into the household queue');
    await page.screenshot({ path: `${shots}/podcast-desktop.png` });
    await page.getByRole('button', { name: 'Delete the download of Episode 2: Three' }).click();
    await page.getByRole('button', { name: 'Download Episode 2: Three' }).waitFor();
    await page.getByRole('button', { name: 'Unsubscribe' }).click();
    await page.getByRole('button', { name: 'Unsubscribe and delete its downloads' }).click();
    await page.getByRole('heading', { name: 'Podcasts' }).waitFor();
    await page.getByRole('link', { name: '../../etc/passwd <script>alert(1)</script>' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Kitchen Table Talk' }).count(), 0);
    say('a download deleted, a channel unsubscribed');
  } else if (scenario === 'scrobbling') {
    // The server's ListenBrainz and Last.fm are the stand-ins tests/web.rs started.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    watch(page);
    await logIn(page, 'ann', 'pw-for-ann');
    await page.getByRole('heading', { name: 'Newest albums' }).waitFor();
    await page.getByRole('navigation', { name: 'Library' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Scrobbling' }).click();
    await page.getByRole('heading', { name: 'ListenBrainz' }).waitFor();
    assert.equal(await page.getByText('Not linked.').count(), 2);
    await page.getByRole('button', { name: 'Link Last.fm' }).waitFor();
    const token = page.getByLabel('User token');
    await token.fill('not-a-known-token');
    await page.getByRole('button', { name: 'Link', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'does not know this token' }).waitFor();
    say('a wrong ListenBrainz token is refused with what to do');
    await token.fill('ann-token');
    await page.getByRole('button', { name: 'Link', exact: true }).click();
    await page.getByText('Linked to ann-lb').waitFor();
    assert.equal(await page.getByRole('alert').count(), 0);
    await page.screenshot({ path: `${shots}/scrobbling-desktop.png` });
    say('ListenBrainz linked with the right token: the account is shown');
    // Last.fm: its page (the stand-in's: the user allows at once) sends the browser back, and
    // the app finishes the link as ann.
    await page.getByRole('button', { name: 'Link Last.fm' }).click();
    await page.getByText('Linked to ann-fm').waitFor();
    assert.ok(!page.url().includes('lastfm_token'), page.url());
    say('Last.fm linked through its page and back');
    // Songs played in this browser are scrobbled (the fixture songs last a second each).
    await page.goto(`${base}#/`);
    await page.getByRole('link', { name: /^Northern Lights by/ }).click();
    await page.getByRole('heading', { name: 'Northern Lights' }).waitFor();
    await page.getByRole('button', { name: 'Play', exact: true }).click();
    await page.waitForFunction(() => {
      const a = document.querySelector('audio.private.active');
      return a && a.currentTime > 0.8;
    }, null, { timeout: 10000 });
    await page.goto(`${base}#/settings/scrobbling`);
    await page.getByText(/^Linked to ann-lb/).waitFor();
    const lb = page.getByRole('region', { name: 'ListenBrainz' });
    await lb.getByText(/listens? waits? to go out; last sent (?!never)/).waitFor({ timeout: 15000 });
    say('a song played here reached ListenBrainz');
    // The switch, kept; unlinking.
    await page.getByLabel('Scrobble my plays').uncheck();
    await page.reload();
    await page.getByText(/^Linked to ann-lb/).waitFor();
    assert.equal(await page.getByLabel('Scrobble my plays').isChecked(), false);
    await page.getByLabel('Scrobble my plays').check();
    for (const name of ['ListenBrainz', 'Last.fm']) {
      await page.getByRole('region', { name }).getByRole('button', { name: 'Unlink' }).click();
      await page.getByRole('region', { name }).getByText('Not linked.').waitFor();
    }
    say('scrobbling switched off and on, both unlinked');
    await context.close();
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
