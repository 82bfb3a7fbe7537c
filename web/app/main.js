// Houseband's web app: the first run (make the admin), logging in, and the home screen: the
// library, podcasts, the household queue, the players, and the settings, one address per screen
// (`#/album/al-4`). Preact with htm templates: every value is put into the page as text, never as
// HTML, so tags from music files (titles like `<img onerror=...>`) show as the text they are.

import { render } from 'preact';
import { useState, useEffect, useRef } from 'preact/hooks';
import { api } from './api.js';
import { html, Message, useRoute, href } from './ui.js';
import { useQueue, QueuePanel } from './queue.js';
import { Actions, AddToPlaylist, Share } from './songs.js';
import { Albums, Album, Artists, Artist, Genres, Genre, Years, Year, Mixes, Search } from './library.js';
import { Playlists, Playlist } from './playlists.js';
import { Podcasts, Podcast } from './podcasts.js';
import { Player, HouseholdPlayer } from './player.js';
import { Settings } from './admin.js';

/** A form's submit handler that sends its user name and password to `path`. */
function credentialsTo(path, onDone, setError, explain = (e) => e.message) {
  return async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      await api(path, { method: 'POST', body: { username: form.get('username'), password: form.get('password') } });
      onDone();
    } catch (e) {
      setError(explain(e));
    }
  };
}

/** The first run: no user yet, so the first one is the admin. */
function Setup({ onDone }) {
  const [error, setError] = useState('');
  const submit = credentialsTo('/api/setup', onDone, setError);
  return html`
    <main class="card narrow">
      <h1>Welcome to Houseband</h1>
      <p>There is no user yet. The first one you make is the admin.</p>
      <form onSubmit=${submit}>
        <label>User name <input name="username" autocomplete="username" required /></label>
        <label>Password (8 characters or more) <input name="password" type="password" minlength="8" autocomplete="new-password" required /></label>
        <button type="submit">Create the admin</button>
      </form>
      <${Message} error=${error} />
    </main>`;
}

function Login({ onDone }) {
  const [error, setError] = useState('');
  const submit = credentialsTo('/api/login', onDone, setError, (e) =>
    e.status === 401 ? 'Wrong user name or password.' : e.message);
  return html`
    <main class="card narrow">
      <h1>Houseband</h1>
      <form onSubmit=${submit}>
        <label>User name <input name="username" autocomplete="username" required /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        <button type="submit">Log in</button>
      </form>
      <${Message} error=${error} />
    </main>`;
}

const SECTIONS = [
  ['', 'Home'],
  ['albums', 'Albums'],
  ['artists', 'Artists'],
  ['genres', 'Genres'],
  ['years', 'Years'],
  ['playlists', 'Playlists'],
  ['podcasts', 'Podcasts'],
  ['settings', 'Settings'],
];

/** The screen for the address. */
function Screen({ route, me }) {
  const [what, id] = route;
  switch (what) {
    case undefined:
      return html`<${Mixes} /><${Albums} type="newest" />`;
    case 'albums':
      return html`<${Albums} type=${id} />`;
    case 'album':
      return html`<${Album} id=${id} />`;
    case 'artists':
      return html`<${Artists} />`;
    case 'artist':
      return html`<${Artist} id=${id} />`;
    case 'genres':
      return html`<${Genres} />`;
    case 'genre':
      return html`<${Genre} name=${id} />`;
    case 'years':
      return html`<${Years} />`;
    case 'year':
      return html`<${Year} value=${id} />`;
    case 'playlists':
      return html`<${Playlists} me=${me} />`;
    case 'playlist':
      return html`<${Playlist} id=${id} />`;
    case 'podcasts':
      return html`<${Podcasts} />`;
    case 'podcast':
      return html`<${Podcast} id=${id} />`;
    case 'settings':
      return html`<${Settings} tab=${id} me=${me} />`;
    default:
      return html`<p>No such page. <a href="#/">Home</a></p>`;
  }
}

/** Light, dark, or as the device prefers; kept on this device (it is no secret). */
function useTheme() {
  const [theme, setTheme] = useState(() => localStorage.getItem('houseband-theme') || 'auto');
  useEffect(() => {
    if (theme === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    localStorage.setItem('houseband-theme', theme);
  }, [theme]);
  return [theme, () => setTheme({ auto: 'dark', dark: 'light', light: 'auto' }[theme])];
}

/**
 * Keys, outside text fields: "/" searches; space plays or pauses; left and right arrows go back
 * and forward 10 seconds, with Shift the previous and next song; up and down set the volume.
 * They act on what plays here if it plays (or nothing else does), else on the household queue.
 */
function useShortcuts(queue, privateDeck, privateSkip) {
  useEffect(() => {
    function onKey(event) {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === '/') {
        event.preventDefault();
        document.getElementById('search').focus();
        return;
      }
      const keys = [' ', 'ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'];
      if (!keys.includes(event.key) || event.defaultPrevented) return;
      // A control keeps its own keys (a button's space, a menu's or a playlist grip's arrows).
      if (event.target.closest && event.target.closest('button, a, input, select, textarea, [role=menu], [tabindex]')) return;
      const audio = privateDeck.current && privateDeck.current.key ? privateDeck.current.audio : null;
      const state = queue.state;
      const household = state && state.current && (!audio || audio.paused);
      if (!audio && !household) return;
      event.preventDefault();
      const shift = event.shiftKey;
      if (household) {
        const ops = {
          ' ': { op: state.playing ? 'pause' : 'resume' },
          ArrowLeft: shift ? { op: 'previous' } : { op: 'seek', position_ms: Math.max(0, state.position_ms - 10000) },
          ArrowRight: shift ? { op: 'next' } : { op: 'seek', position_ms: state.position_ms + 10000 },
          ArrowUp: { op: 'set_volume', volume: Math.min(100, state.volume + 5) },
          ArrowDown: { op: 'set_volume', volume: Math.max(0, state.volume - 5) },
        };
        queue.send(ops[event.key]);
      } else if (event.key === ' ') {
        if (audio.paused) audio.play().catch(() => {});
        else audio.pause();
      } else if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
        const forward = event.key === 'ArrowRight';
        if (shift) privateSkip(forward ? 1 : -1);
        else audio.currentTime = Math.max(0, audio.currentTime + (forward ? 10 : -10));
      } else {
        audio.volume = Math.min(1, Math.max(0, audio.volume + (event.key === 'ArrowUp' ? 0.05 : -0.05)));
      }
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [queue.state]);
}

function Home({ me, onLogout }) {
  const route = useRoute();
  const queue = useQueue(me.user);
  const [playing, setPlaying] = useState({ list: [], index: 0 });
  const [dialog, setDialog] = useState(null);
  const [notice, setNotice] = useState('');
  const [theme, nextTheme] = useTheme();
  const privateDeck = useRef(null);
  const skip = (by) => setPlaying((p) => ({ ...p, index: Math.min(p.list.length - 1, Math.max(0, p.index + by)) }));
  useShortcuts(queue, privateDeck, skip);
  useEffect(() => {
    if (!notice) return undefined;
    const timer = setTimeout(() => setNotice(''), 4000);
    return () => clearTimeout(timer);
  }, [notice]);
  const actions = {
    play: (list, index) => setPlaying({ list, index }),
    queue,
    dialog: (name, props) => setDialog({ name, props }),
    notify: setNotice,
  };
  async function logout() {
    await api('/api/logout', { method: 'POST' }).catch(() => {});
    onLogout();
  }
  const section = { album: 'albums', artist: 'artists', genre: 'genres', year: 'years', playlist: 'playlists', podcast: 'podcasts' }[route[0]] || route[0] || '';
  const close = () => setDialog(null);
  return html`
    <${Actions.Provider} value=${actions}>
      <div class="shell">
        ${!queue.connected && queue.problem && html`<p class="banner" role="alert">The server cannot be reached right now: trying again by itself…</p>`}
        <header class="top">
          <h1 class="brand"><a href="#/">Houseband</a></h1>
          <${Search} />
          <span class="who">${me.user}</span>
          <button class="link" onClick=${nextTheme} title="Device, dark or light">${{ auto: 'Theme: device', dark: 'Theme: dark', light: 'Theme: light' }[theme]}</button>
          <button class="link" onClick=${logout}>Log out</button>
          <nav class="sections" aria-label="Library">
            ${SECTIONS.map(([s, label]) => html`<a key=${s} href=${s ? href(s) : '#/'} aria-current=${section === s ? 'page' : undefined}>${label}</a>`)}
          </nav>
        </header>
        <div class="body">
          <main>
            <${Screen} route=${route} me=${me} />
          </main>
          <${QueuePanel} queue=${queue} />
        </div>
        <${HouseholdPlayer} queue=${queue} />
        <${Player} list=${playing.list} index=${playing.index} deckRef=${privateDeck}
          setIndex=${(index) => setPlaying({ ...playing, index })} />
        ${notice && html`<p class="toast" role="status">${notice}</p>`}
        ${dialog && dialog.name === 'playlist' && html`<${AddToPlaylist} ...${dialog.props} close=${close} />`}
        ${dialog && dialog.name === 'share' && html`<${Share} ...${dialog.props} close=${close} />`}
      </div>
    </${Actions.Provider}>`;
}

function App() {
  const [state, setState] = useState({ screen: 'loading' });
  async function start() {
    try {
      const me = await api('/api/me');
      setState({ screen: 'home', me });
    } catch (e) {
      if (e.status !== 401) {
        setState({ screen: 'error', error: e.message });
        return;
      }
      try {
        const setup = await api('/api/setup');
        setState({ screen: setup.needed ? 'setup' : 'login' });
      } catch (e2) {
        setState({ screen: 'error', error: e2.message });
      }
    }
  }
  useEffect(() => {
    start();
  }, []);
  switch (state.screen) {
    case 'setup':
      return html`<${Setup} onDone=${start} />`;
    case 'login':
      return html`<${Login} onDone=${start} />`;
    case 'home':
      return html`<${Home} me=${state.me} onLogout=${start} />`;
    case 'error':
      return html`<main class="card narrow"><${Message} error=${state.error} /><button onClick=${start}>Try again</button></main>`;
    default:
      return html`<p class="loading">Loading…</p>`;
  }
}

render(html`<${App} />`, document.getElementById('root'));
