// Podcasts: the channels the household subscribes to (subscribe by the feed's address, refresh,
// unsubscribe), and one channel's episodes (download, delete the file, play here, add to the
// household queue). Through the Subsonic podcast methods; changes need the podcast role, and the
// server's refusal is shown as it comes. Everything from a feed is shown as text.

import { useState, useEffect } from 'preact/hooks';
import { rest } from './api.js';
import { html, Message, Cover, href, go, duration, focusOnce } from './ui.js';
import { useActions } from './songs.js';

const STATUS = {
  new: 'not downloaded',
  downloading: 'downloading…',
  completed: 'downloaded',
  error: 'failed',
  deleted: 'deleted',
  skipped: 'skipped',
};

/** A channel's line under its title: its state, and why it failed. */
function channelState(c) {
  if (c.status === 'error') return `Cannot be read: ${c.errorMessage || 'no reason given'}`;
  if (c.status === 'downloading') return 'Refreshing…';
  if (c.status === 'new') return 'Not read yet';
  return c.description || '';
}

/** Every channel, with the form to subscribe and a button to refresh them all. */
export function Podcasts() {
  const [channels, setChannels] = useState(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  const load = () => rest('getPodcasts', { includeEpisodes: false })
    .then((r) => setChannels(r.podcasts.channel || []))
    .catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, []);
  async function run(what, call) {
    setBusy(what);
    setError('');
    try {
      await call();
    } catch (e) {
      setError(e.message);
    }
    setBusy('');
    load();
  }
  function subscribe(event) {
    event.preventDefault();
    const form = event.target;
    const url = new FormData(form).get('url').trim();
    if (!url) return;
    run('subscribe', async () => {
      await rest('createPodcastChannel', { url });
      form.reset();
    });
  }
  return html`
    <section aria-labelledby="podcasts">
      <h2 id="podcasts">Podcasts</h2>
      <form onSubmit=${subscribe} class="inline">
        <label>Feed address <input name="url" type="url" required placeholder="https://…/feed.xml" /></label>
        <button type="submit" disabled=${busy !== ''}>${busy === 'subscribe' ? 'Subscribing…' : 'Subscribe'}</button>
        <button type="button" class="secondary" disabled=${busy !== ''} onClick=${() => run('refresh', () => rest('refreshPodcasts'))}>
          ${busy === 'refresh' ? 'Refreshing…' : 'Refresh all'}</button>
      </form>
      <${Message} error=${error} />
      ${!channels && !error && html`<p>Loading…</p>`}
      ${channels && channels.length === 0 && html`<p>No podcasts yet. Paste a podcast's feed address above to subscribe.</p>`}
      ${channels && html`<ul class="grid podcasts">
        ${channels.map((c) => html`
          <li key=${c.id} class="album">
            <a class="plain" href=${href('podcast', c.id)} aria-label=${c.title || c.url}>
              <${Cover} id=${c.coverArt} size=${300} />
              <span class="title">${c.title || c.url}</span>
              <span class=${c.status === 'error' ? 'subtitle error' : 'subtitle'}>${channelState(c)}</span>
            </a>
          </li>`)}
      </ul>`}
    </section>`;
}

/** One channel: its episodes, newest first, and what can be done with each. */
export function Podcast({ id }) {
  const actions = useActions();
  const [channel, setChannel] = useState(null);
  const [error, setError] = useState('');
  const [confirming, setConfirming] = useState(false);
  const load = () => rest('getPodcasts', { id })
    .then((r) => setChannel((r.podcasts.channel || [])[0] || null))
    .catch((e) => setError(e.message));
  useEffect(() => {
    setChannel(null);
    load();
  }, [id]);
  const episodes = channel ? channel.episode || [] : [];
  // While something downloads, look again every two seconds.
  const downloading = episodes.some((e) => e.status === 'downloading') || (channel && channel.status === 'downloading');
  useEffect(() => {
    if (!downloading) return undefined;
    const timer = setInterval(load, 2000);
    return () => clearInterval(timer);
  }, [downloading, id]);
  async function act(call) {
    setError('');
    try {
      await call();
    } catch (e) {
      setError(e.message);
    }
    load();
  }
  async function unsubscribe() {
    try {
      await rest('deletePodcastChannel', { id });
      go('podcasts');
    } catch (e) {
      setError(e.message);
    }
  }
  if (!channel) return error ? html`<${Message} error=${error} />` : html`<p>Loading…</p>`;
  // What plays: the downloaded episodes, as songs (their streamId is what streams).
  const playable = episodes.filter((e) => e.streamId).map((e) => ({
    ...e,
    id: e.streamId,
    artist: channel.title || '',
    album: channel.title || '',
  }));
  const play = (e) => actions.play(playable, playable.findIndex((p) => p.id === e.streamId));
  return html`
    <section class="album-page">
      <header class="album-head">
        <${Cover} id=${channel.coverArt} size=${300} />
        <div>
          <h2>${channel.title || channel.url}</h2>
          <p class="bio">${channel.description || ''}</p>
          ${channel.status === 'error' && html`<p class="error">This feed cannot be read right now: ${channel.errorMessage}</p>`}
          <p class="subtitle">${channel.url}</p>
          <div class="actions">
            <button onClick=${() => act(() => rest('refreshPodcasts'))}>Refresh</button>
            ${confirming
              ? html`<button class="danger" ref=${focusOnce} onClick=${unsubscribe}>Unsubscribe and delete its downloads</button>
                  <button class="link" onClick=${() => setConfirming(false)}>Keep it</button>`
              : html`<button class="secondary" onClick=${() => setConfirming(true)}>Unsubscribe</button>`}
          </div>
        </div>
      </header>
      <${Message} error=${error} />
      ${episodes.length === 0 && html`<p>No episodes in this feed.</p>`}
      <ol class="songs episodes">
        ${episodes.map((e) => html`
          <li key=${e.id}>
            <div class="episode">
              <span class="title">${e.title}</span>
              <span class="subtitle">${e.publishDate ? new Date(e.publishDate).toLocaleDateString() : ''}${e.duration ? ` · ${duration(e.duration)}` : ''} · ${STATUS[e.status] || e.status}</span>
              ${e.status === 'error' && e.errorMessage && html`<span class="error">${e.errorMessage}</span>`}
              ${e.description && html`<details><summary>Notes</summary><p class="bio">${e.description}</p></details>`}
            </div>
            <div class="actions">
              ${e.streamId
                ? html`
                  <button onClick=${() => play(e)} aria-label=${`Play ${e.title}`}>Play</button>
                  <button class="secondary" onClick=${() => actions.queue.send({ op: 'add', songs: [e.streamId] })} aria-label=${`Add ${e.title} to the queue`}>Add to the queue</button>
                  <button class="link" onClick=${() => act(() => rest('deletePodcastEpisode', { id: e.id }))} aria-label=${`Delete the download of ${e.title}`}>Delete download</button>`
                : html`<button class="secondary" disabled=${e.status === 'downloading'} onClick=${() => act(() => rest('downloadPodcastEpisode', { id: e.id }))}
                    aria-label=${`Download ${e.title}`}>${e.status === 'downloading' ? 'Downloading…' : 'Download'}</button>`}
            </div>
          </li>`)}
      </ol>
    </section>`;
}
