// Playing in this browser, two ways. The private player plays a list the user picked here and
// nobody else sees. The household player makes this browser an output of the household queue
// (the queue socket's player protocol, docs/api.md): the server orders it to play, pause or stop
// at a position, and it reports where it is and when a song ends. Both load the next song ahead
// on a second audio element and switch to it when the song ends, so the gap is as short as the
// browser allows. Only one of them sounds at a time.

import { useState, useEffect, useRef } from 'preact/hooks';
import { coverUrl, streamUrl, rest } from './api.js';
import { html, Icon, duration } from './ui.js';

/** Says "I play now": the other player pauses. */
function claimSpeaker(who) {
  window.dispatchEvent(new CustomEvent('houseband-playing', { detail: who }));
}

function onClaim(me, pause) {
  const listener = (e) => e.detail !== me && pause();
  window.addEventListener('houseband-playing', listener);
  return () => window.removeEventListener('houseband-playing', listener);
}

/**
 * Two audio elements: one sounds, the other holds the next song, loaded. `key`s name what each
 * holds (a song, a queue entry), so a switch to what is already loaded starts at once.
 */
class Deck {
  constructor(name) {
    this.elements = [0, 1].map(() => {
      const a = document.createElement('audio');
      a.preload = 'auto';
      a.className = `deck ${name}`;
      a.hidden = true;
      document.body.appendChild(a);
      return a;
    });
    this.keys = [null, null];
    this.active = 0;
    this.setActive(0);
  }

  get audio() {
    return this.elements[this.active];
  }

  get key() {
    return this.keys[this.active];
  }

  setActive(i) {
    this.active = i;
    this.elements.forEach((a, j) => a.classList.toggle('active', i === j));
  }

  /** Makes `key` the sounding song (from the spare element if it holds it), at `seconds`. */
  load(key, url, seconds = 0) {
    const spare = 1 - this.active;
    if (this.keys[spare] === key && this.key !== key) {
      this.audio.pause();
      this.setActive(spare);
    } else if (this.key !== key) {
      this.audio.src = url;
      this.keys[this.active] = key;
    }
    if (seconds > 0 && Math.abs(this.audio.currentTime - seconds) > 1.5) this.audio.currentTime = seconds;
    return this.audio;
  }

  /** Loads `key` on the spare element, ready for later. */
  preload(key, url) {
    const spare = 1 - this.active;
    if (!key || this.keys[spare] === key || this.key === key) return;
    this.elements[spare].src = url;
    this.keys[spare] = key;
  }

  stop() {
    for (const a of this.elements) {
      a.pause();
      a.removeAttribute('src');
      a.load();
    }
    this.keys = [null, null];
  }

  destroy() {
    this.stop();
    for (const a of this.elements) a.remove();
  }
}

function useDeck(name) {
  const deck = useRef(null);
  if (!deck.current) deck.current = new Deck(name);
  useEffect(() => () => deck.current.destroy(), []);
  return deck.current;
}

/** Re-renders while `audio` plays (for the time shown), and tells what happened. */
function useAudioState(deck, handlers) {
  const [, tick] = useState(0);
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const forward = (type) => (e) => {
      if (e.target !== deck.audio) return;
      tick((n) => n + 1);
      const handler = latest.current[type];
      if (handler) handler(e.target);
    };
    const events = ['timeupdate', 'play', 'pause', 'ended', 'loadedmetadata', 'error'];
    const listeners = events.map((type) => [type, forward(type)]);
    for (const a of deck.elements) for (const [type, l] of listeners) a.addEventListener(type, l);
    return () => {
      for (const a of deck.elements) for (const [type, l] of listeners) a.removeEventListener(type, l);
    };
  }, []);
}

function Seek({ audio, onSeek }) {
  const length = Number.isFinite(audio.duration) ? audio.duration : 0;
  return html`
    <span class="seek">
      <span class="time">${duration(audio.currentTime)}</span>
      <input type="range" min="0" max=${Math.max(1, Math.round(length))} value=${Math.round(audio.currentTime)} aria-label="Position"
        onChange=${(e) => onSeek(Number(e.target.value))} />
      <span class="time">${duration(length)}</span>
    </span>`;
}

function mediaSession(song, previous, next) {
  if (!song || !('mediaSession' in navigator)) return;
  navigator.mediaSession.metadata = new MediaMetadata({
    title: song.title,
    artist: song.artist || '',
    album: song.album || '',
    artwork: [{ src: coverUrl(song.coverArt || song.albumId, 512), sizes: '512x512' }],
  });
  navigator.mediaSession.setActionHandler('previoustrack', previous);
  navigator.mediaSession.setActionHandler('nexttrack', next);
}

/**
 * Scrobbling for the private player, as Subsonic apps do it: "now playing" when a song first
 * plays, and a play once half of it (or 4 minutes) was heard, with the time it started. Time
 * heard is counted from the position moving while playing, so a seek forward is not listening.
 */
function useScrobbler() {
  const heard = useRef({ key: null });
  return (key, id, audio) => {
    let h = heard.current;
    if (h.key !== key) {
      h = heard.current = { key, id, started: Date.now(), last: audio.currentTime, played: 0, submitted: false };
      rest('scrobble', { id, submission: false }).catch(() => {});
    }
    const step = audio.currentTime - h.last;
    h.last = audio.currentTime;
    if (step > 0 && step < 3) h.played += step;
    const length = audio.duration;
    if (!h.submitted && Number.isFinite(length) && length > 0 && h.played >= Math.min(length / 2, 240)) {
      h.submitted = true;
      rest('scrobble', { id, submission: true, time: h.started }).catch(() => {});
    }
  };
}

/** The private player: a list of songs, played here one after the other. */
export function Player({ list, index, setIndex, deckRef }) {
  const deck = useDeck('private');
  deckRef.current = deck;
  const song = list[index];
  const [blocked, setBlocked] = useState(false);
  const advance = () => index + 1 < list.length && setIndex(index + 1);
  const scrobble = useScrobbler();
  const heard = (audio) => song && !audio.paused && scrobble(deck.key, song.id, audio);
  useAudioState(deck, { ended: advance, timeupdate: heard, play: heard });
  function start() {
    claimSpeaker('private');
    deck.audio.play().then(() => setBlocked(false)).catch((e) => setBlocked(e.name === 'NotAllowedError'));
  }
  useEffect(() => onClaim('private', () => deck.audio.pause()), []);
  useEffect(() => {
    if (!song) return;
    deck.load(`${index}:${song.id}`, streamUrl(song.id));
    start();
    const after = list[index + 1];
    if (after) deck.preload(`${index + 1}:${after.id}`, streamUrl(after.id));
    mediaSession(song, index > 0 ? () => setIndex(index - 1) : null, index + 1 < list.length ? advance : null);
  }, [song && song.id, index, list]);
  if (!song) return null;
  const audio = deck.audio;
  return html`
    <footer class="player" aria-label="Player">
      <div class="now">
        <span class="title">${song.title}</span>
        <span class="subtitle">${song.artist} · playing here</span>
      </div>
      <div class="controls">
        <button class="icon" onClick=${() => setIndex(index - 1)} disabled=${index === 0} aria-label="Previous song"><${Icon} name="previous" /></button>
        ${audio.paused
          ? html`<button class="icon big" onClick=${start} aria-label="Play"><${Icon} name="play" /></button>`
          : html`<button class="icon big" onClick=${() => audio.pause()} aria-label="Pause"><${Icon} name="pause" /></button>`}
        <button class="icon" onClick=${advance} disabled=${index + 1 >= list.length} aria-label="Next song"><${Icon} name="next" /></button>
      </div>
      <${Seek} audio=${audio} onSeek=${(s) => { audio.currentTime = s; }} />
      ${blocked && html`<span class="error">The browser held the sound back: press play.</span>`}
    </footer>`;
}

/**
 * This browser as an output of the household queue: follows the server's orders on the queue
 * socket, reports the position every second and the end of each song.
 */
export function HouseholdPlayer({ queue }) {
  const deck = useDeck('household');
  const [blocked, setBlocked] = useState(false);
  const order = queue.order;
  const current = useRef(null);
  const playing = () => order && order.action === 'play';
  useAudioState(deck, {
    ended: () => {
      // Go on at once with what is loaded; the server's order for it then finds it playing.
      const next = order && order.next;
      queue.report({ type: 'ended' });
      if (next) {
        deck.load(next.entry, next.url);
        deck.audio.play().catch(() => {});
      }
    },
    error: () => queue.report({ type: 'ended' }),
  });
  useEffect(() => onClaim('household', () => {
    if (playing()) queue.send({ op: 'pause' });
  }), [order]);
  useEffect(() => {
    if (!order) return;
    if (order.action === 'stop') {
      deck.stop();
      current.current = null;
      return;
    }
    const audio = deck.load(order.entry, order.url, order.position_ms / 1000);
    current.current = order;
    if (order.action === 'play') {
      claimSpeaker('household');
      const entry = queue.state && (queue.state.entries || []).find((e) => e.id === order.entry);
      if (entry) {
        mediaSession({ ...entry.song, albumId: entry.song.coverArt }, () => queue.send({ op: 'previous' }),
          order.next ? () => queue.send({ op: 'next' }) : null);
      }
      audio.play().then(() => setBlocked(false)).catch((e) => setBlocked(e.name === 'NotAllowedError'));
    } else {
      audio.pause();
    }
    if (order.next) deck.preload(order.next.entry, order.next.url);
  }, [order]);
  // Where it is, once a second while it plays (the server hands off from here).
  useEffect(() => {
    const timer = setInterval(() => {
      const audio = deck.audio;
      if (current.current && !audio.paused && audio.readyState > 0) {
        queue.report({ type: 'position', position_ms: Math.round(audio.currentTime * 1000) });
      }
    }, 1000);
    return () => clearInterval(timer);
  }, []);
  if (!blocked) return null;
  return html`
    <p class="banner" role="alert">The household queue plays on this browser, but the browser held the sound back.
      <button onClick=${() => deck.audio.play().then(() => setBlocked(false)).catch(() => {})}>Play here</button></p>`;
}
