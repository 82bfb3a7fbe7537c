// Playlists: the user's own and the public ones of others; one playlist's page, where its owner
// renames it, reorders it (drag a song, or move it with the keyboard), removes songs and deletes
// it. Adding songs is done from any song or album (songs.js).

import { useState, useEffect } from 'preact/hooks';
import { rest } from './api.js';
import { html, Message, Icon, href, go, duration, dropTarget, focusOnce } from './ui.js';
import { SongList, useActions } from './songs.js';

export function Playlists({ me }) {
  const [lists, setLists] = useState(null);
  const [error, setError] = useState('');
  const load = () => rest('getPlaylists')
    .then((r) => setLists(r.playlists.playlist || []))
    .catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, []);
  async function create(event) {
    event.preventDefault();
    const form = event.target;
    const name = new FormData(form).get('name').trim();
    if (!name) return;
    try {
      const r = await rest('createPlaylist', { name });
      form.reset();
      go('playlist', r.playlist.id);
    } catch (e) {
      setError(e.message);
    }
  }
  return html`
    <section aria-labelledby="playlists">
      <h2 id="playlists">Playlists</h2>
      <form onSubmit=${create} class="inline">
        <label>New playlist <input name="name" required maxlength="200" /></label>
        <button type="submit">Create</button>
      </form>
      <${Message} error=${error} />
      ${!lists && !error && html`<p>Loading…</p>`}
      ${lists && lists.length === 0 && html`<p>No playlists yet. Make one here, or add songs to a new one from any song's menu.</p>`}
      ${lists && html`<ul class="names">
        ${lists.map((p) => html`<li key=${p.id}><a href=${href('playlist', p.id)}>${p.name}</a>
          <span class="subtitle">${p.songCount} ${p.songCount === 1 ? 'song' : 'songs'} · ${duration(p.duration)}${p.public ? ' · public' : ''}${p.owner !== me.user ? ` · by ${p.owner}` : ''}</span></li>`)}
      </ul>`}
    </section>`;
}

/** Moves the item at `from` to `to` (the index after the move). */
function moved(list, from, to) {
  const copy = list.slice();
  const [item] = copy.splice(from, 1);
  copy.splice(to, 0, item);
  return copy;
}

export function Playlist({ id }) {
  const actions = useActions();
  const [list, setList] = useState(null);
  const [error, setError] = useState('');
  const [renaming, setRenaming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [dragged, setDragged] = useState(null);
  // One edit at a time: removals name songs by index, which the edit before may have moved.
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setList(null);
    rest('getPlaylist', { id }).then((r) => setList(r.playlist)).catch((e) => setError(e.message));
  }, [id]);
  if (error && !list) return html`<${Message} error=${error} />`;
  if (!list) return html`<p>Loading…</p>`;
  const songs = list.entry || [];
  // `readonly`: the server says whether this user may change it (the owner, an admin).
  const mine = !list.readonly;

  // Every edit sends the whole new order (Subsonic's createPlaylist with the playlist's id
  // replaces its songs), then shows what the server kept.
  async function edit(change) {
    if (busy) return;
    setBusy(true);
    try {
      await change();
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  }
  const reorder = (order) => edit(async () => {
    const before = list;
    setList({ ...list, entry: order });
    try {
      await rest('createPlaylist', { playlistId: list.id, songId: order.map((s) => s.id) });
    } catch (e) {
      setList(before);
      throw e;
    }
  });
  const remove = (index) => edit(async () => {
    await rest('updatePlaylist', { playlistId: list.id, songIndexToRemove: index });
    setList((now) => ({ ...now, entry: (now.entry || []).filter((_, i) => i !== index), songCount: now.songCount - 1 }));
  });
  async function rename(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const name = form.get('name').trim();
    const isPublic = form.get('public') === 'on';
    try {
      await rest('updatePlaylist', { playlistId: list.id, name, public: isPublic });
      setList({ ...list, name, public: isPublic });
      setRenaming(false);
    } catch (e) {
      setError(e.message);
    }
  }
  async function destroy() {
    try {
      await rest('deletePlaylist', { id: list.id });
      go('playlists');
    } catch (e) {
      setError(e.message);
    }
  }
  const controls = mine ? (s, i) => html`
    <span class="edit"
      draggable="true"
      onDragStart=${(e) => {
        setDragged(i);
        e.dataTransfer.effectAllowed = 'move';
        e.dataTransfer.setData('text/plain', String(i));
      }}
      onDragEnd=${() => setDragged(null)}>
      <button class="icon grip" aria-label=${`Move ${s.title} (arrow keys)`} title="Drag, or use the arrow keys"
        onKeyDown=${(e) => {
          const to = e.key === 'ArrowUp' ? i - 1 : e.key === 'ArrowDown' ? i + 1 : -1;
          if (to < 0 || to >= songs.length) return;
          e.preventDefault();
          reorder(moved(songs, i, to));
          requestAnimationFrame(() => {
            const buttons = document.querySelectorAll('.playlist-page .grip');
            if (buttons[to]) buttons[to].focus();
          });
        }}><${Icon} name="grip" /></button>
      <button class="link remove" onClick=${() => remove(i)} aria-label=${`Remove ${s.title} from the playlist`}>✕</button>
    </span>` : undefined;
  return html`
    <section class="playlist-page" ...${dropTarget('.songs', dragged, (to) => {
      if (to !== dragged) reorder(moved(songs, dragged, to));
      setDragged(null);
    })}>
      <p><a href=${href('playlists')}>← Playlists</a></p>
      <header>
        ${renaming
          ? html`<form onSubmit=${rename} class="inline">
              <label>Name <input name="name" value=${list.name} required maxlength="200" /></label>
              <label class="switch"><input type="checkbox" name="public" checked=${list.public} /> Public (everyone here sees it)</label>
              <button type="submit">Save</button>
              <button type="button" class="link" onClick=${() => setRenaming(false)}>Cancel</button>
            </form>`
          : html`<h2>${list.name}</h2>`}
        <p class="subtitle">${list.owner} · ${songs.length} ${songs.length === 1 ? 'song' : 'songs'} · ${duration(list.duration)}${list.public ? ' · public' : ''}</p>
        <div class="actions">
          <button onClick=${() => actions.play(songs, 0)} disabled=${songs.length === 0}>Play</button>
          <button class="secondary" onClick=${() => actions.queue.send({ op: 'add', playlist: list.id })} disabled=${songs.length === 0}>Add to the queue</button>
          <button class="secondary" onClick=${() => actions.dialog('share', { id: list.id, what: list.name })}>Share</button>
          ${mine && !renaming && html`<button class="secondary" onClick=${() => setRenaming(true)}>Rename</button>`}
          ${mine && !deleting && html`<button class="secondary" onClick=${() => setDeleting(true)}>Delete</button>`}
          ${mine && deleting && html`<button class="danger" ref=${focusOnce} onClick=${destroy}>Delete “${list.name}” for good</button>
            <button class="link" onClick=${() => setDeleting(false)}>Keep it</button>`}
        </div>
      </header>
      <${Message} error=${error} />
      ${songs.length === 0 && html`<p>No songs yet: add some from any song's menu (⋯) or an album's page.</p>`}
      <${SongList} songs=${songs} extra=${controls} showAlbum=${true} />
    </section>`;
}
