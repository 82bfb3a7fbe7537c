// The library screens: album grids by list (newest, random, most played, starred, A to Z, by
// genre, by year), artists with an A-Z index, album and artist pages, genres, decades, today's
// mixes, and search as you type. Album grids are virtualised: only the rows in view are in the
// page, so 10,000 albums scroll as smoothly as 10.

import { useState, useEffect, useRef, useLayoutEffect, useMemo } from 'preact/hooks';
import { api, rest } from './api.js';
import { html, Message, Cover, href, go } from './ui.js';
import { SongList, StarButton, useActions, radio } from './songs.js';

/** The cover size to ask for: the card's width in device pixels, in steps of 100. */
function coverSize(cardWidth) {
  const pixels = cardWidth * (window.devicePixelRatio || 1);
  return Math.min(600, Math.max(100, Math.ceil(pixels / 100) * 100));
}

function AlbumCard({ album, pictures = true, size = 300 }) {
  return html`
    <li class="album">
      <a class="plain" href=${href('album', album.id)} aria-label=${`${album.name} by ${album.artist || 'unknown artist'}`}>
        <${Cover} id=${pictures ? album.coverArt || album.id : null} size=${size} />
        <span class="title">${album.name}</span>
        <span class="subtitle">${album.artist}${album.year ? ` · ${album.year}` : ''}</span>
      </a>
    </li>`;
}

const CARD_MIN = 150; // px, the narrowest card
const GAP = 16; // px, as .grid's gap
const TEXT = 44; // px, the two lines under a cover
const OVERSCAN = 3; // rows drawn beyond the screen's edges, at least
// The rows drawn move in steps of this many: fewer, slightly bigger updates while scrolling.
const STEP = 2;
// Faster than this (px/s), covers wait: a fling shows plain squares, and the pictures come
// when the grid slows down or stops (decoding and drawing them is what drops frames).
const FLING = 2500;
const CALM = 1200; // and slower than this, they come back (between the two, no change)
const SETTLED_MS = 150;

/**
 * Albums as a cover grid that draws only the rows in view. `load(offset, size)` gives a page of
 * albums; pages are asked for as the view nears the end of what has come. `pageSize` 0 means
 * one page only (random lists: another page would be another draw).
 */
export function AlbumGrid({ load, pageSize = 300, empty = 'None yet.' }) {
  const [albums, setAlbums] = useState([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState('');
  const [view, setView] = useState({ columns: 1, rowHeight: CARD_MIN + TEXT + GAP, first: 0, last: 20, cover: 300 });
  const grid = useRef(null);
  const loading = useRef(false);
  const generation = useRef(0);
  const [flinging, setFlinging] = useState(false);

  function more(have) {
    if (loading.current) return;
    loading.current = true;
    const mine = generation.current;
    const size = pageSize || 60;
    load(have.length, size)
      .then((page) => {
        if (mine !== generation.current) return;
        loading.current = false;
        setAlbums(have.concat(page));
        if (page.length < size || pageSize === 0) setDone(true);
      })
      .catch((e) => {
        loading.current = false;
        setError(e.message);
        setDone(true);
      });
  }

  useEffect(() => {
    generation.current += 1;
    loading.current = false;
    setAlbums([]);
    setDone(false);
    setError('');
    more([]);
  }, [load]);

  // Which rows are in view, from the grid's place on the screen (the page itself scrolls).
  useLayoutEffect(() => {
    let frame = 0;
    let settle = 0;
    let before = { y: window.scrollY, at: performance.now(), speed: 0 };
    function measure() {
      frame = 0;
      const el = grid.current;
      if (!el) return;
      // The speed, smoothed over the last few frames: one odd frame does not flip the covers.
      const now = performance.now();
      const instant = (Math.abs(window.scrollY - before.y) * 1000) / Math.max(1, now - before.at);
      const speed = before.speed * 0.7 + instant * 0.3;
      before = { y: window.scrollY, at: now, speed };
      if (speed > FLING) setFlinging(true);
      else if (speed < CALM) setFlinging(false);
      clearTimeout(settle);
      settle = setTimeout(() => setFlinging(false), SETTLED_MS);
      const width = el.clientWidth;
      const columns = Math.max(1, Math.floor((width + GAP) / (CARD_MIN + GAP)));
      const card = (width - GAP * (columns - 1)) / columns;
      const rowHeight = card + TEXT + GAP;
      const top = el.getBoundingClientRect().top;
      const above = Math.max(0, Math.floor(-top / rowHeight) - OVERSCAN);
      const first = above - (above % STEP);
      const last = first + STEP * Math.ceil((Math.ceil((window.innerHeight - top) / rowHeight) + OVERSCAN - first) / STEP);
      setView((v) => (v.columns === columns && v.first === first && v.last === last && Math.abs(v.rowHeight - rowHeight) < 0.5
        ? v : { columns, rowHeight, first, last, cover: coverSize(card) }));
    }
    const later = () => {
      if (!frame) frame = requestAnimationFrame(measure);
    };
    measure();
    window.addEventListener('scroll', later, { passive: true });
    window.addEventListener('resize', later);
    return () => {
      window.removeEventListener('scroll', later);
      window.removeEventListener('resize', later);
      if (frame) cancelAnimationFrame(frame);
      clearTimeout(settle);
    };
  }, []);

  const rows = Math.ceil(albums.length / view.columns);
  const lastRow = Math.min(rows, view.last);
  // The next page is asked for half a page ahead, so a fast scroll seldom reaches the end of
  // what has come.
  useEffect(() => {
    const ahead = Math.max(view.columns * OVERSCAN, (pageSize || 60) / 2);
    if (!done && !error && lastRow * view.columns + ahead >= albums.length) more(albums);
  }, [lastRow, albums, done]);

  const shown = albums.slice(view.first * view.columns, lastRow * view.columns);
  return html`
    <div>
      <${Message} error=${error} />
      ${done && albums.length === 0 && !error && html`<p>${empty}</p>`}
      <ul class="grid virtual" ref=${grid} aria-label="Albums" data-count=${albums.length}
        style=${{
          height: `${rows * view.rowHeight}px`,
          paddingTop: `${view.first * view.rowHeight}px`,
          gridTemplateColumns: `repeat(${view.columns}, 1fr)`,
          gridAutoRows: `${view.rowHeight - GAP}px`,
        }}>
        ${shown.map((a) => html`<${AlbumCard} key=${a.id} album=${a} pictures=${!flinging} size=${view.cover} />`)}
      </ul>
      ${!done && !error && albums.length === 0 && html`<p>Loading…</p>`}
    </div>`;
}

/** A page of `getAlbumList2` with these parameters. */
function albumList(params) {
  return (offset, size) => rest('getAlbumList2', { ...params, offset, size })
    .then((r) => r.albumList2.album || []);
}

const LISTS = [
  ['newest', 'Newest albums', 'Newest'],
  ['random', 'Random albums', 'Random'],
  ['frequent', 'Most played albums', 'Most played'],
  ['recent', 'Recently played albums', 'Recently played'],
  ['starred', 'Starred albums', 'Starred'],
  ['alphabeticalByName', 'All albums, A to Z', 'A to Z'],
];

/** Album lists by tab; the tab is part of the address (`#/albums/random`). */
export function Albums({ type = 'newest' }) {
  const known = LISTS.find(([t]) => t === type) || LISTS[0];
  const [list, title] = known;
  // One loader per list, so the grid starts again only when the list changes.
  const load = useMemo(() => albumList({ type: list }), [list]);
  return html`
    <section aria-labelledby="albums">
      <div class="tabs" role="tablist" aria-label="Album lists">
        ${LISTS.map(([t, , label]) => html`
          <a role="tab" key=${t} class=${t === list ? 'tab active' : 'tab'} aria-selected=${t === list}
            href=${href('albums', t)}>${label}</a>`)}
      </div>
      <h2 id="albums">${title}</h2>
      <${AlbumGrid} load=${load} pageSize=${list === 'random' ? 0 : 300}
        empty=${list === 'newest' ? 'The library is empty: add music folders, then scan.' : 'None yet.'} />
    </section>`;
}

/** Today's mixes for the user (`/api/mixes`), each played through the household queue. */
export function Mixes() {
  const actions = useActions();
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
            <span class="buttons">
              <button onClick=${() => actions.play(m.songs, 0)} aria-label=${`Play ${m.name} here`}>Play</button>
              <button class="secondary" onClick=${() => actions.queue.send({ op: 'add', songs: m.songs.map((s) => s.id), position: 'next' })}
                aria-label=${`Queue ${m.name}`}>Queue it</button>
            </span>
          </li>`)}
      </ul>
    </section>`;
}

/** Loads `fetcher()` when `key` changes; `[value, error]`. */
function useLoad(fetcher, key) {
  const [state, setState] = useState([null, '']);
  useEffect(() => {
    setState([null, '']);
    let live = true;
    fetcher().then((v) => live && setState([v, ''])).catch((e) => live && setState([null, e.message]));
    return () => {
      live = false;
    };
  }, [key]);
  return state;
}

export function Album({ id }) {
  const actions = useActions();
  const [album, error] = useLoad(() => rest('getAlbum', { id }).then((r) => r.album), id);
  const [similar] = useLoad(() => api(`/api/similar/albums?${new URLSearchParams({ id, count: 6 })}`).then((r) => r.albums).catch(() => []), id);
  if (error) return html`<${Message} error=${error} />`;
  if (!album) return html`<p>Loading…</p>`;
  const songs = album.song || [];
  const none = songs.length === 0;
  return html`
    <section class="album-page">
      <header class="album-head">
        <${Cover} id=${album.coverArt || album.id} size=${300} />
        <div>
          <h2>${album.name}</h2>
          <p>${album.artistId ? html`<a href=${href('artist', album.artistId)}>${album.artist}</a>` : album.artist}${album.year ? html` · <a href=${href('year', String(album.year))}>${album.year}</a>` : ''}${album.genre ? html` · <a href=${href('genre', album.genre)}>${album.genre}</a>` : ''}</p>
          <div class="actions">
            <button onClick=${() => actions.play(songs, 0)} disabled=${none}>Play</button>
            <button class="secondary" onClick=${() => actions.queue.send({ op: 'add', album: album.id, position: 'next' })} disabled=${none}>Play next</button>
            <button class="secondary" onClick=${() => actions.queue.send({ op: 'add', album: album.id })} disabled=${none}>Add to the queue</button>
            <button class="secondary" onClick=${() => radio(actions, album.id)} disabled=${none}>Radio</button>
            <button class="secondary" onClick=${() => actions.dialog('playlist', { songs: songs.map((s) => s.id), what: album.name })} disabled=${none}>Add to a playlist</button>
            <button class="secondary" onClick=${() => actions.dialog('share', { id: album.id, what: album.name })}>Share</button>
            <${StarButton} item=${album} label=${album.name} />
          </div>
        </div>
      </header>
      <${SongList} songs=${songs} />
      ${similar && similar.length > 0 && html`
        <h3>More like this</h3>
        <ul class="grid">${similar.map((a) => html`<${AlbumCard} key=${a.id} album=${a} />`)}</ul>`}
    </section>`;
}

/** Artists by letter, with the letters as an index to jump to. */
export function Artists() {
  const [index, error] = useLoad(() => rest('getArtists').then((r) => r.artists.index || []), 'all');
  if (error) return html`<${Message} error=${error} />`;
  if (!index) return html`<p>Loading…</p>`;
  return html`
    <section aria-labelledby="artists">
      <h2 id="artists">Artists</h2>
      <nav class="letters" aria-label="Artists by letter">
        ${index.map((i) => html`<a key=${i.name} href=${`#letter-${i.name}`} onClick=${(e) => {
          e.preventDefault();
          document.getElementById(`letter-${i.name}`).scrollIntoView();
        }}>${i.name}</a>`)}
      </nav>
      ${index.length === 0 && html`<p>No artists yet.</p>`}
      ${index.map((i) => html`
        <section key=${i.name} class="letter" aria-labelledby=${`letter-${i.name}`}>
          <h3 id=${`letter-${i.name}`}>${i.name}</h3>
          <ul class="names">
            ${i.artist.map((a) => html`<li key=${a.id}><a href=${href('artist', a.id)}>${a.name}</a> <span class="subtitle">${a.albumCount} ${a.albumCount === 1 ? 'album' : 'albums'}</span></li>`)}
          </ul>
        </section>`)}
    </section>`;
}

export function Artist({ id }) {
  const actions = useActions();
  const [artist, error] = useLoad(() => rest('getArtist', { id }).then((r) => r.artist), id);
  const [info] = useLoad(() => rest('getArtistInfo2', { id, count: 8 }).then((r) => r.artistInfo2).catch(() => ({})), id);
  // Top songs are asked for by name, once the artist has come.
  const name = artist && artist.name;
  const [top] = useLoad(
    () => (name
      ? rest('getTopSongs', { artist: name, count: 10 }).then((r) => r.topSongs.song || []).catch(() => [])
      : Promise.resolve(null)),
    name,
  );
  if (error) return html`<${Message} error=${error} />`;
  if (!artist) return html`<p>Loading…</p>`;
  const albums = artist.album || [];
  return html`
    <section class="artist-page">
      <header class="album-head">
        <${Cover} id=${artist.coverArt || artist.id} size=${300} />
        <div>
          <h2>${artist.name}</h2>
          <p>${albums.length} ${albums.length === 1 ? 'album' : 'albums'}</p>
          <div class="actions">
            <button onClick=${() => top && top.length > 0 && actions.play(top, 0)} disabled=${!top || top.length === 0}>Play top songs</button>
            <button class="secondary" onClick=${() => actions.queue.send({ op: 'add', artist: artist.id })}>Add all to the queue</button>
            <button class="secondary" onClick=${() => radio(actions, artist.id)}>Radio</button>
            <${StarButton} item=${artist} label=${artist.name} />
          </div>
        </div>
      </header>
      ${info && info.biography && html`<p class="bio">${info.biography}</p>`}
      ${top && top.length > 0 && html`<h3>Top songs</h3><${SongList} songs=${top} showAlbum=${true} />`}
      <h3>Albums</h3>
      <ul class="grid">${albums.map((a) => html`<${AlbumCard} key=${a.id} album=${a} />`)}</ul>
      ${info && info.similarArtist && info.similarArtist.length > 0 && html`
        <h3>Similar artists</h3>
        <ul class="names inline">${info.similarArtist.map((a) => html`<li key=${a.id}><a href=${href('artist', a.id)}>${a.name}</a></li>`)}</ul>`}
    </section>`;
}

export function Genres() {
  const [genres, error] = useLoad(() => rest('getGenres').then((r) => (r.genres.genre || [])
    .filter((g) => g.albumCount > 0)
    .sort((a, b) => b.songCount - a.songCount)), 'all');
  if (error) return html`<${Message} error=${error} />`;
  if (!genres) return html`<p>Loading…</p>`;
  return html`
    <section aria-labelledby="genres">
      <h2 id="genres">Genres</h2>
      ${genres.length === 0 && html`<p>No genres in the tags yet.</p>`}
      <ul class="chips">
        ${genres.map((g) => html`<li key=${g.value}><a href=${href('genre', g.value)}>${g.value} <span class="subtitle">${g.albumCount} ${g.albumCount === 1 ? 'album' : 'albums'}</span></a></li>`)}
      </ul>
    </section>`;
}

export function Genre({ name }) {
  const load = useMemo(() => albumList({ type: 'byGenre', genre: name }), [name]);
  return html`
    <section aria-labelledby="genre">
      <p><a href=${href('genres')}>← Genres</a></p>
      <h2 id="genre">${name}</h2>
      <${AlbumGrid} load=${load} />
    </section>`;
}

/** Decades, newest first, each a link to its albums; a year is a decade of one year. */
export function Years() {
  const now = new Date().getFullYear();
  const decades = [];
  for (let d = Math.floor(now / 10) * 10; d >= 1900; d -= 10) decades.push(d);
  return html`
    <section aria-labelledby="years">
      <h2 id="years">Years</h2>
      <ul class="chips">${decades.map((d) => html`<li key=${d}><a href=${href('year', `${d}s`)}>${d}s</a></li>`)}</ul>
    </section>`;
}

export function Year({ value }) {
  const decade = /^(\d{4})s$/.exec(value);
  const from = decade ? Number(decade[1]) : Number(value);
  const to = decade ? from + 9 : from;
  const load = useMemo(() => albumList({ type: 'byYear', fromYear: from, toYear: to }), [value]);
  if (!Number.isFinite(from)) return html`<${Message} error="That is not a year." />`;
  return html`
    <section aria-labelledby="year">
      <p><a href=${href('years')}>← Years</a></p>
      <h2 id="year">${decade ? `The ${value}` : value}</h2>
      <${AlbumGrid} load=${load} />
    </section>`;
}

export function Search() {
  const actions = useActions();
  const [query, setQuery] = useState('');
  const [found, setFound] = useState(null);
  // Going anywhere closes the results.
  useEffect(() => {
    const away = () => setQuery('');
    window.addEventListener('hashchange', away);
    return () => window.removeEventListener('hashchange', away);
  }, []);
  useEffect(() => {
    if (query.trim() === '') {
      setFound(null);
      return undefined;
    }
    // As you type, but not on every key: a quarter of a second after the last one. An answer
    // to an older query (or one that comes after the field was cleared) is dropped.
    let live = true;
    const timer = setTimeout(() => {
      rest('search3', { query, artistCount: 5, albumCount: 8, songCount: 10 })
        .then((r) => live && setFound(r.searchResult3))
        .catch(() => live && setFound({}));
    }, 250);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [query]);
  const artists = (found && found.artist) || [];
  const albums = (found && found.album) || [];
  const songs = (found && found.song) || [];
  const away = (where) => () => {
    setQuery('');
    go(...where);
  };
  return html`
    <div class="search" onKeyDown=${(e) => e.key === 'Escape' && setQuery('')}>
      <label class="visually-hidden" for="search">Search</label>
      <input id="search" type="search" placeholder="Search artists, albums, songs" value=${query} autocomplete="off"
        onInput=${(e) => setQuery(e.target.value)} />
      ${found && html`
        <div class="results" role="region" aria-label="Search results">
          ${artists.length + albums.length + songs.length === 0 && html`<p>Nothing found.</p>`}
          ${artists.length > 0 && html`<h3>Artists</h3>
            <ul>${artists.map((a) => html`<li key=${a.id}><button class="plain" onClick=${away(['artist', a.id])}>${a.name}</button></li>`)}</ul>`}
          ${albums.length > 0 && html`<h3>Albums</h3>
            <ul>${albums.map((a) => html`<li key=${a.id}><button class="plain" onClick=${away(['album', a.id])}>${a.name} — ${a.artist}</button></li>`)}</ul>`}
          ${songs.length > 0 && html`<h3>Songs</h3>
            <ul>${songs.map((s, i) => html`<li key=${s.id} class="found-song"><button class="plain" onClick=${() => actions.play(songs, i)}>${s.title} — ${s.artist}</button>
              <button class="link" onClick=${() => {
                actions.queue.send({ op: 'add', songs: [s.id] });
                actions.notify(`“${s.title}” added to the household queue.`);
              }} aria-label=${`Add ${s.title} to the queue`} title="Add to the household queue">+ queue</button></li>`)}</ul>`}
        </div>`}
    </div>`;
}
