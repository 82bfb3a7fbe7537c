// The household queue, live: one WebSocket (`/api/queue/ws`) brings the whole state on connect and
// after every change, whoever made it; ops go back on the same socket. It reconnects by itself.
// The same socket registers this browser as one of the queue's outputs (player.js plays it).

import { useState, useEffect, useRef } from 'preact/hooks';
import { api } from './api.js';
import { html, Icon, duration, dropTarget } from './ui.js';

/** This browser's name in everyone's speaker list. */
function deviceName(user) {
  const ua = navigator.userAgent;
  const device = /iPhone|iPad/.test(ua) ? 'iPhone or iPad' : /Android/.test(ua) ? 'Android'
    : /Mac OS X/.test(ua) ? 'Mac' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : 'browser';
  return `${user}'s browser (${device})`;
}

/**
 * The queue's state, a way to send ops, and this browser's part as an output: its id once
 * registered, the last order the server gave it, and a way to report.
 */
export function useQueue(user) {
  const [state, setState] = useState(null);
  const [problem, setProblem] = useState('');
  const [connected, setConnected] = useState(false);
  const [output, setOutput] = useState(null);
  const [order, setOrder] = useState(null);
  const socket = useRef(null);
  useEffect(() => {
    let closed = false;
    let retry = 500;
    function connect() {
      const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/queue/ws`;
      const ws = new WebSocket(url);
      socket.current = ws;
      ws.onopen = () => {
        retry = 500;
        setProblem('');
        setConnected(true);
        ws.send(JSON.stringify({ type: 'register_player', name: deviceName(user) }));
      };
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.state) setState(message.state);
        if (message.type === 'error') setProblem(message.message);
        if (message.type === 'registered') setOutput(message.output);
        if (message.type === 'order') setOrder(message);
      };
      ws.onclose = () => {
        setConnected(false);
        setOutput(null);
        if (closed) return;
        // The old output is gone with the socket: stop playing as it.
        setOrder({ type: 'order', action: 'stop' });
        setProblem('Lost the connection to the server: trying again…');
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }
    connect();
    return () => {
      closed = true;
      if (socket.current) socket.current.close();
    };
  }, []);
  function raw(message) {
    const ws = socket.current;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }
  function send(op) {
    if (!raw(op)) setProblem('Not connected to the server yet.');
  }
  return { state, problem, connected, output, order, send, report: raw };
}

/** The household's autoplay switch (`/api/autoplay`): radio when the queue runs out. */
function Autoplay() {
  const [on, setOn] = useState(null);
  useEffect(() => {
    api('/api/autoplay').then((r) => setOn(r.enabled)).catch(() => setOn(null));
  }, []);
  if (on === null) return null;
  async function flip(event) {
    const wanted = event.target.checked;
    try {
      const r = await api('/api/autoplay', { method: 'PUT', body: { enabled: wanted } });
      setOn(r.enabled);
    } catch {
      setOn(!wanted);
    }
  }
  return html`
    <label class="switch"><input type="checkbox" checked=${on} onChange=${flip} /> Autoplay: radio when the queue runs out</label>`;
}

const KINDS = { local: 'server', browser: 'browser', upnp: 'UPnP/DLNA', googlecast: 'Google Cast', airplay: 'AirPlay' };

/**
 * The speaker picker: every output, its kind, and whether it can play now; one button each, so
 * moving through the list with the keyboard hands nothing over by accident.
 */
function Outputs({ state, send, mine }) {
  const [outputs, setOutputs] = useState([]);
  const refresh = () => api('/api/outputs').then(setOutputs).catch(() => {});
  useEffect(() => {
    refresh();
    // Speakers come and go; look again now and then.
    const timer = setInterval(refresh, 15000);
    return () => clearInterval(timer);
  }, [state && state.output, mine]);
  const name = (o) => `${o.id === mine ? 'This browser' : `${o.name} · ${KINDS[o.kind] || o.kind}`}${o.available ? '' : ` (unavailable${o.problem ? `: ${o.problem}` : ''})`}`;
  const choice = (id, label, available = true) => html`
    <li key=${id || 'none'}>
      <button class=${(state.output || '') === id ? 'speaker on' : 'speaker'} aria-pressed=${(state.output || '') === id}
        data-output=${id} disabled=${!available} onClick=${() => send({ op: 'set_output', output: id || null })}>${label}</button>
    </li>`;
  return html`
    <div class="outputs" role="group" aria-labelledby="play-on" onFocusIn=${refresh}>
      <span id="play-on">Play on</span>
      <ul>
        ${outputs.map((o) => choice(o.id, name(o), o.available))}
        ${choice('', 'Nowhere (paused)')}
      </ul>
    </div>`;
}

/** The current song's place, as the queue knows it (moving on between reports while it plays). */
function Position({ state, send }) {
  const [, tick] = useState(0);
  const since = useRef({ at: Date.now(), version: null, position: 0 });
  if (since.current.position !== state.position_ms || since.current.version !== state.version) {
    since.current = { at: Date.now(), version: state.version, position: state.position_ms };
  }
  useEffect(() => {
    if (!state.playing) return undefined;
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, [state.playing]);
  const entry = (state.entries || []).find((e) => e.id === state.current);
  if (!entry) return null;
  const length = entry.song.duration || 0;
  const ms = Math.min(length * 1000, state.position_ms + (state.playing ? Date.now() - since.current.at : 0));
  return html`
    <div class="position">
      <span class="time">${duration(ms / 1000)}</span>
      <input type="range" min="0" max=${Math.max(1, length)} value=${Math.round(ms / 1000)} aria-label="Queue position"
        onChange=${(e) => send({ op: 'seek', position_ms: Number(e.target.value) * 1000 })} />
      <span class="time">${duration(length)}</span>
    </div>`;
}

/** The queue panel: what plays, what comes, and the controls, for every device at once. */
export function QueuePanel({ queue }) {
  const { state, problem, send } = queue;
  const [dragged, setDragged] = useState(null);
  if (!state) return html`<aside class="queue" aria-label="Household queue"><p>Connecting to the queue…</p></aside>`;
  const entries = state.entries || [];
  const move = (entry, to) => send({ op: 'move', entry, to, version: state.version });
  return html`
    <aside class="queue" aria-label="Household queue">
      <header>
        <h2>Household queue</h2>
        <span class="subtitle">${entries.length} ${entries.length === 1 ? 'song' : 'songs'}</span>
      </header>
      <div class="controls">
        <button onClick=${() => send({ op: 'previous' })} aria-label="Previous"><${Icon} name="previous" /></button>
        ${state.playing
          ? html`<button onClick=${() => send({ op: 'pause' })} aria-label="Pause"><${Icon} name="pause" /></button>`
          : html`<button onClick=${() => send({ op: 'resume' })} aria-label="Resume" disabled=${!state.current}><${Icon} name="play" /></button>`}
        <button onClick=${() => send({ op: 'next' })} aria-label="Next"><${Icon} name="next" /></button>
        <button class=${state.shuffle ? 'toggle on' : 'toggle'} aria-pressed=${state.shuffle}
          onClick=${() => send({ op: 'set_shuffle', shuffle: !state.shuffle })}>Shuffle</button>
        <button class=${state.repeat !== 'off' ? 'toggle on' : 'toggle'} aria-label=${`Repeat: ${state.repeat}`}
          onClick=${() => send({ op: 'set_repeat', repeat: { off: 'all', all: 'one', one: 'off' }[state.repeat] || 'off' })}>
          ${state.repeat === 'one' ? 'Repeat one' : 'Repeat'}</button>
        <button class="link" onClick=${() => send({ op: 'clear' })} disabled=${entries.length === 0}>Clear</button>
      </div>
      <${Position} state=${state} send=${send} />
      <${Outputs} state=${state} send=${send} mine=${queue.output} />
      <label class="volume">Volume
        <input type="range" min="0" max="100" value=${state.volume}
          onChange=${(e) => send({ op: 'set_volume', volume: Number(e.target.value) })} />
      </label>
      <${Autoplay} />
      ${problem && html`<p class="error" role="status">${problem}</p>`}
      ${entries.length === 0 && html`<p class="subtitle">Nothing queued. Add an album, a song (its ⋯ menu) or a mix.</p>`}
      <ol class="entries" ...${dropTarget('.entries', dragged, (to) => {
        move(dragged, to);
        setDragged(null);
      })}>
        ${entries.map((e, i) => html`
          <li key=${e.id} class=${e.id === state.current ? 'current' : ''} aria-current=${e.id === state.current ? 'true' : undefined}
            draggable="true" onDragStart=${(ev) => {
              setDragged(e.id);
              ev.dataTransfer.effectAllowed = 'move';
              ev.dataTransfer.setData('text/plain', e.id);
            }} onDragEnd=${() => setDragged(null)}>
            <button class="plain row" onClick=${() => send({ op: 'play', entry: e.id })}
              onKeyDown=${(ev) => {
                if (!ev.altKey || (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown')) return;
                ev.preventDefault();
                const to = ev.key === 'ArrowUp' ? i - 1 : i + 1;
                if (to >= 0 && to < entries.length) move(e.id, to);
              }}
              aria-label=${`${e.song.title} by ${e.song.artist || 'unknown artist'} (Alt+arrows move it)`}>
              <span class="title">${e.song.title}</span>
              <span class="subtitle">${e.song.artist}</span>
            </button>
            <button class="link remove" onClick=${() => send({ op: 'remove', entries: [e.id] })}
              aria-label=${`Remove ${e.song.title}`}>✕</button>
          </li>`)}
      </ol>
    </aside>`;
}
