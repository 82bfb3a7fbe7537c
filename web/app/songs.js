// Songs in lists, and what can be done with them from anywhere: play here, play next or later in
// the household queue, radio, add to a playlist, share, star and rate. Screens reach these
// through the Actions context that the home screen provides.

import { createContext } from 'preact';
import { useState, useContext, useEffect, useRef } from 'preact/hooks';
import { api, rest } from './api.js';
import { html, Icon, duration, Message, href } from './ui.js';

/** `{ play(list, index), queue, dialog(name, props), notify(text) }`, from the home screen. */
export const Actions = createContext(null);

export function useActions() {
  return useContext(Actions);
}

/** Radio from a song, album or artist: its first 20 songs go to the household queue. */
export async function radio(actions, seed) {
  const found = await api(`/api/radio?${new URLSearchParams({ seed, count: 20 })}`);
  if (found.songs.length > 0) {
    actions.queue.send({ op: 'add', songs: found.songs.map((s) => s.id) });
    actions.notify(`Radio: ${found.songs.length} songs added to the household queue.`);
  } else {
    actions.notify('Nothing to play on that radio yet.');
  }
}

/** A star that stars or unstars a song, album or artist (Subsonic `star`/`unstar`). */
export function StarButton({ item, label }) {
  const [starred, setStarred] = useState(Boolean(item.starred));
  useEffect(() => setStarred(Boolean(item.starred)), [item.id, item.starred]);
  async function flip() {
    const wanted = !starred;
    setStarred(wanted);
    try {
      await rest(wanted ? 'star' : 'unstar', { id: item.id });
      item.starred = wanted ? new Date().toISOString() : undefined;
    } catch {
      setStarred(!wanted);
    }
  }
  return html`
    <button class=${starred ? 'icon starred' : 'icon'} onClick=${flip} aria-pressed=${starred}
      aria-label=${`${starred ? 'Unstar' : 'Star'} ${label}`} title=${starred ? 'Starred' : 'Star'}><${Icon} name="star" /></button>`;
}

/** One to five stars (Subsonic `setRating`; the same number again clears it). */
export function Rating({ item, label }) {
  const [rating, setRating] = useState(item.userRating || 0);
  async function rate(n) {
    const wanted = n === rating ? 0 : n;
    const before = rating;
    setRating(wanted);
    try {
      await rest('setRating', { id: item.id, rating: wanted });
      item.userRating = wanted;
    } catch {
      setRating(before);
    }
  }
  return html`
    <span class="rating" role="group" aria-label=${`Rating of ${label}`}>
      ${[1, 2, 3, 4, 5].map((n) => html`
        <button key=${n} class=${n <= rating ? 'icon on' : 'icon'} onClick=${() => rate(n)} aria-pressed=${n <= rating}
          aria-label=${`${n} ${n === 1 ? 'star' : 'stars'}`}><${Icon} name="star" size=${14} /></button>`)}
    </span>`;
}

/** The "more" menu of a song: everything but playing it here. */
function SongMenu({ song, close }) {
  const actions = useActions();
  const menu = useRef(null);
  useEffect(() => {
    const first = menu.current && menu.current.querySelector('button');
    if (first) first.focus();
    const away = (e) => {
      if (menu.current && !menu.current.contains(e.target)) close();
    };
    const escape = (e) => e.key === 'Escape' && close();
    document.addEventListener('pointerdown', away);
    document.addEventListener('keydown', escape);
    return () => {
      document.removeEventListener('pointerdown', away);
      document.removeEventListener('keydown', escape);
    };
  }, []);
  const then = (f) => () => {
    close();
    f();
  };
  return html`
    <div class="menu" role="menu" ref=${menu} aria-label=${`Actions for ${song.title}`}>
      <button role="menuitem" onClick=${then(() => actions.queue.send({ op: 'add', songs: [song.id], position: 'next' }))}>Play next</button>
      <button role="menuitem" onClick=${then(() => actions.queue.send({ op: 'add', songs: [song.id] }))}>Add to the queue</button>
      <button role="menuitem" onClick=${then(() => radio(actions, song.id))}>Start radio</button>
      <button role="menuitem" onClick=${then(() => actions.dialog('playlist', { songs: [song.id], what: song.title }))}>Add to a playlist…</button>
      <button role="menuitem" onClick=${then(() => actions.dialog('share', { id: song.id, what: song.title }))}>Share…</button>
      ${song.albumId && html`<a role="menuitem" href=${href('album', song.albumId)} onClick=${close}>Go to the album</a>`}
      ${song.artistId && html`<a role="menuitem" href=${href('artist', song.artistId)} onClick=${close}>Go to the artist</a>`}
      <${Rating} item=${song} label=${song.title} />
    </div>`;
}

/**
 * Songs as rows: a click plays the list from there in this browser; each row has its star and
 * its menu. `extra(song, index)` adds controls of the caller's (a playlist's remove button).
 */
export function SongList({ songs, numbered = true, showAlbum = false, extra }) {
  const actions = useActions();
  const [open, setOpen] = useState(null);
  // The ⋯ button that opened the menu gets the focus back when it closes.
  const opener = useRef(null);
  const close = () => {
    setOpen(null);
    if (opener.current) opener.current.focus();
  };
  const Tag = numbered ? 'ol' : 'ul';
  return html`
    <${Tag} class="songs">
      ${songs.map((s, i) => html`
        <li key=${`${s.id}-${i}`}>
          <button class="plain row" onClick=${() => actions.play(songs, i)} aria-label=${`Play ${s.title}`}>
            <span class="title">${s.title}</span>
            <span class="subtitle">${s.artist}${showAlbum && s.album ? ` · ${s.album}` : ''}</span>
            <span class="time">${duration(s.duration)}</span>
          </button>
          <${StarButton} item=${s} label=${s.title} />
          <span class="menu-anchor">
            <button class="icon" aria-haspopup="menu" aria-expanded=${open === i} aria-label=${`More for ${s.title}`}
              onClick=${(e) => {
                opener.current = e.currentTarget;
                setOpen(open === i ? null : i);
              }}><${Icon} name="more" /></button>
            ${open === i && html`<${SongMenu} song=${s} close=${close} />`}
          </span>
          ${extra && extra(s, i)}
        </li>`)}
    </${Tag}>`;
}

/** A modal dialog (the native `<dialog>`: focus kept inside, Escape closes). */
export function Dialog({ title, close, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d && d.open && d.close();
  }, []);
  return html`
    <dialog ref=${ref} aria-label=${title} onClose=${close} onCancel=${close}>
      <h2>${title}</h2>
      ${children}
      <div class="dialog-buttons"><button class="link" onClick=${close}>Close</button></div>
    </dialog>`;
}

/** Adds songs to one of the user's playlists, or to a new one. */
export function AddToPlaylist({ songs, what, close }) {
  const actions = useActions();
  const [lists, setLists] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    rest('getPlaylists')
      .then((r) => setLists((r.playlists.playlist || []).filter((p) => !p.readonly)))
      .catch((e) => setError(e.message));
  }, []);
  async function addTo(list) {
    try {
      await rest('updatePlaylist', { playlistId: list.id, songIdToAdd: songs });
      actions.notify(`Added to “${list.name}”.`);
      close();
    } catch (e) {
      setError(e.message);
    }
  }
  async function create(event) {
    event.preventDefault();
    const name = new FormData(event.target).get('name').trim();
    if (!name) return;
    try {
      await rest('createPlaylist', { name, songId: songs });
      actions.notify(`Made the playlist “${name}”.`);
      close();
    } catch (e) {
      setError(e.message);
    }
  }
  return html`
    <${Dialog} title=${`Add “${what}” to a playlist`} close=${close}>
      ${!lists && !error && html`<p>Loading…</p>`}
      ${lists && html`<ul class="choices">${lists.map((p) => html`
        <li key=${p.id}><button class="plain" onClick=${() => addTo(p)}>${p.name} <span class="subtitle">${p.songCount} songs</span></button></li>`)}</ul>`}
      <form onSubmit=${create} class="inline">
        <label>New playlist <input name="name" required maxlength="200" /></label>
        <button type="submit">Create</button>
      </form>
      <${Message} error=${error} />
    </${Dialog}>`;
}

/** Makes a share link for a song, album or playlist, and shows it to copy. */
export function Share({ id, what, close }) {
  const [share, setShare] = useState(null);
  const [error, setError] = useState('');
  async function create(event) {
    event.preventDefault();
    const days = Number(new FormData(event.target).get('days'));
    const expires = Date.now() + days * 24 * 3600 * 1000;
    try {
      const r = await rest('createShare', { id, expires, description: what });
      setShare(r.shares.share[0]);
    } catch (e) {
      setError(e.message);
    }
  }
  return html`
    <${Dialog} title=${`Share “${what}”`} close=${close}>
      ${!share && html`
        <p>Anyone with the link can listen, without an account, until it expires.</p>
        <form onSubmit=${create} class="inline">
          <label>Expires after
            <select name="days"><option value="1">1 day</option><option value="7" selected>1 week</option><option value="30">30 days</option></select>
          </label>
          <button type="submit">Make the link</button>
        </form>`}
      ${share && html`
        <label>Link <input readonly value=${share.url} onFocus=${(e) => e.target.select()} /></label>
        <button onClick=${() => navigator.clipboard && navigator.clipboard.writeText(share.url)}>Copy</button>`}
      <${Message} error=${error} />
    </${Dialog}>`;
}
