// Houseband's web app: log in (or create the first admin), browse the newest albums, open an
// album, play its songs in this browser, and search as you type. Preact with htm templates:
// every value is put into the page as text, never as HTML, so tags from music files (titles like
// `<img onerror=...>`) show as the text they are.

import { h, render } from 'preact';
import { useState, useEffect, useRef } from 'preact/hooks';
import htm from 'htm';
import { api, rest, coverUrl, streamUrl } from './api.js';
import { useQueue, QueuePanel } from './queue.js';

const html = htm.bind(h);

function Message({ error }) {
  return error ? html`<p class="error" role="alert">${error}</p>` : null;
}

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

/** A cover, or a plain square where there is none. */
function Cover({ id, size }) {
  const [missing, setMissing] = useState(false);
  return html`
    <div class="cover">
      ${!missing && html`<img src=${coverUrl(id, size)} alt="" loading="lazy" onError=${() => setMissing(true)} />`}
    </div>`;
}

function AlbumCard({ album, open }) {
  return html`
    <li class="album">
      <button class="plain" onClick=${() => open(album.id)} aria-label=${`${album.name} by ${album.artist || 'unknown artist'}`}>
        <${Cover} id=${album.coverArt || album.id} size=${300} />
        <span class="title">${album.name}</span>
        <span class="subtitle">${album.artist}</span>
      </button>
    </li>`;
}

const LISTS = [
  ['newest', 'Newest albums'],
  ['random', 'Random albums'],
  ['frequent', 'Most played albums'],
  ['starred', 'Starred albums'],
];

function Albums({ open }) {
  const [type, setType] = useState('newest');
  const [albums, setAlbums] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    setAlbums(null);
    rest('getAlbumList2', { type, size: 60 })
      .then((r) => setAlbums(r.albumList2.album || []))
      .catch((e) => setError(e.message));
  }, [type]);
  const title = LISTS.find(([t]) => t === type)[1];
  return html`
    <section aria-labelledby="albums">
      <div class="tabs" role="tablist" aria-label="Album lists">
        ${LISTS.map(([t, label]) => html`
          <button role="tab" key=${t} class=${t === type ? 'tab active' : 'tab'} aria-selected=${t === type}
            onClick=${() => setType(t)}>${label.replace(' albums', '').replace('albums', '')}</button>`)}
      </div>
      <h2 id="albums">${title}</h2>
      ${error && html`<${Message} error=${error} />`}
      ${!error && !albums && html`<p>Loading…</p>`}
      ${albums && albums.length === 0 && html`<p>${type === 'newest' ? 'The library is empty: add music folders, then scan.' : 'None yet.'}</p>`}
      ${albums && html`<ul class="grid">${albums.map((a) => html`<${AlbumCard} key=${a.id} album=${a} open=${open} />`)}</ul>`}
    </section>`;
}

/** Today's mixes for the user (`/api/mixes`), each played through the household queue. */
function Mixes({ queue }) {
  const [mixes, setMixes] = useState([]);
  useEffect(() => {
    api('/api/mixes').then((r) => setMixes(r.mixes)).catch(() => setMixes([]));
  }, []);
  if (mixes.length === 0) return null;
  return html`
    <section aria-labelledby="mixes">
      <h2 id="mixes">Mixes for you</h2>
      <ul class="mixes">
        ${mixes.map((m) => html`
          <li key=${m.id} class="mix">
            <span class="title">${m.name}</span>
            <span class="subtitle">${m.about}</span>
            <button onClick=${() => queue.send({ op: 'add', songs: m.songs.map((s) => s.id), position: 'next' })}
              aria-label=${`Queue ${m.name}`}>Queue it</button>
          </li>`)}
      </ul>
    </section>`;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Radio from a song, album or artist: its first 20 songs go to the household queue. */
async function radio(queue, seed) {
  const found = await api(`/api/radio?${new URLSearchParams({ seed, count: 20 })}`);
  if (found.songs.length > 0) queue.send({ op: 'add', songs: found.songs.map((s) => s.id) });
}

function Album({ id, play, back, queue }) {
  const [album, setAlbum] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    rest('getAlbum', { id })
      .then((r) => setAlbum(r.album))
      .catch((e) => setError(e.message));
  }, [id]);
  if (error) return html`<${Message} error=${error} />`;
  if (!album) return html`<p>Loading…</p>`;
  const songs = album.song || [];
  return html`
    <section class="album-page">
      <button class="link" onClick=${back}>← All albums</button>
      <header class="album-head">
        <${Cover} id=${album.coverArt || album.id} size=${300} />
        <div>
          <h2>${album.name}</h2>
          <p>${album.artist}${album.year ? ` · ${album.year}` : ''}</p>
          <button onClick=${() => play(songs, 0)} disabled=${songs.length === 0}>Play</button>
          <button onClick=${() => queue.send({ op: 'add', album: album.id })} disabled=${songs.length === 0}>Add to the queue</button>
          <button onClick=${() => radio(queue, album.id)} disabled=${songs.length === 0}>Radio</button>
        </div>
      </header>
      <ol class="songs">
        ${songs.map((s, i) => html`
          <li key=${s.id}>
            <button class="plain row" onClick=${() => play(songs, i)}>
              <span class="title">${s.title}</span>
              <span class="subtitle">${s.artist}</span>
              <span class="time">${duration(s.duration)}</span>
            </button>
          </li>`)}
      </ol>
    </section>`;
}

function Search({ open, play }) {
  const [query, setQuery] = useState('');
  const [found, setFound] = useState(null);
  useEffect(() => {
    if (query.trim() === '') {
      setFound(null);
      return undefined;
    }
    // As you type, but not on every key: a quarter of a second after the last one.
    const timer = setTimeout(() => {
      rest('search3', { query, artistCount: 5, albumCount: 8, songCount: 10 })
        .then((r) => setFound(r.searchResult3))
        .catch(() => setFound({}));
    }, 250);
    return () => clearTimeout(timer);
  }, [query]);
  const albums = (found && found.album) || [];
  const songs = (found && found.song) || [];
  return html`
    <div class="search">
      <label class="visually-hidden" for="search">Search</label>
      <input id="search" type="search" placeholder="Search artists, albums, songs" value=${query}
        onInput=${(e) => setQuery(e.target.value)} />
      ${found && html`
        <div class="results" role="region" aria-label="Search results">
          ${albums.length + songs.length === 0 && html`<p>Nothing found.</p>`}
          ${albums.length > 0 && html`<h3>Albums</h3>
            <ul>${albums.map((a) => html`<li key=${a.id}><button class="plain" onClick=${() => { setQuery(''); open(a.id); }}>${a.name} — ${a.artist}</button></li>`)}</ul>`}
          ${songs.length > 0 && html`<h3>Songs</h3>
            <ul>${songs.map((s, i) => html`<li key=${s.id}><button class="plain" onClick=${() => play(songs, i)}>${s.title} — ${s.artist}</button></li>`)}</ul>`}
        </div>`}
    </div>`;
}

/** The player: an audio element playing a list of songs one after the other. */
function Player({ list, index, setIndex }) {
  const audio = useRef(null);
  const song = list[index];
  useEffect(() => {
    if (song && audio.current) {
      audio.current.src = streamUrl(song.id);
      audio.current.play().catch(() => {});
    }
    // The lock screen and headset keys (Media Session API, where the browser has it).
    if (song && 'mediaSession' in navigator) {
      navigator.mediaSession.metadata = new MediaMetadata({
        title: song.title,
        artist: song.artist || '',
        album: song.album || '',
        artwork: [{ src: coverUrl(song.coverArt || song.albumId, 512), sizes: '512x512' }],
      });
      navigator.mediaSession.setActionHandler('nexttrack', index + 1 < list.length ? () => setIndex(index + 1) : null);
      navigator.mediaSession.setActionHandler('previoustrack', index > 0 ? () => setIndex(index - 1) : null);
    }
  }, [song && song.id, index]);
  if (!song) return null;
  return html`
    <footer class="player" aria-label="Player">
      <div class="now">
        <span class="title">${song.title}</span>
        <span class="subtitle">${song.artist}</span>
      </div>
      <audio ref=${audio} controls onEnded=${() => index + 1 < list.length && setIndex(index + 1)}></audio>
    </footer>`;
}

/** Keys: "/" searches; space plays or pauses the household queue (outside text fields). */
function useShortcuts(queue) {
  useEffect(() => {
    function onKey(event) {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === '/') {
        event.preventDefault();
        document.getElementById('search').focus();
      } else if (event.key === ' ' && event.target.tagName !== 'BUTTON' && queue.state && queue.state.current) {
        event.preventDefault();
        queue.send({ op: queue.state.playing ? 'pause' : 'resume' });
      }
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [queue.state]);
}

function Home({ me, onLogout }) {
  const [album, setAlbum] = useState(null);
  const queue = useQueue();
  useShortcuts(queue);
  const [playing, setPlaying] = useState({ list: [], index: 0 });
  const play = (list, index) => setPlaying({ list, index });
  async function logout() {
    await api('/api/logout', { method: 'POST' }).catch(() => {});
    onLogout();
  }
  return html`
    <div class="shell">
      <header class="top">
        <h1 class="brand">Houseband</h1>
        <${Search} open=${setAlbum} play=${play} />
        <span class="who">${me.user}</span>
        <button class="link" onClick=${logout}>Log out</button>
      </header>
      <div class="body">
        <main>
          ${album
            ? html`<${Album} id=${album} play=${play} queue=${queue} back=${() => setAlbum(null)} />`
            : html`<${Mixes} queue=${queue} /><${Albums} open=${setAlbum} />`}
        </main>
        <${QueuePanel} queue=${queue} />
      </div>
      <${Player} list=${playing.list} index=${playing.index}
        setIndex=${(index) => setPlaying({ ...playing, index })} />
    </div>`;
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
