// The household queue, live: one WebSocket (`/api/queue/ws`) brings the whole state on connect and
// after every change, whoever made it; ops go back on the same socket. It reconnects by itself.

import { h } from 'preact';
import { useState, useEffect, useRef } from 'preact/hooks';
import htm from 'htm';
import { api } from './api.js';

const html = htm.bind(h);

/** The queue's state and a way to send ops, kept live over the socket. */
export function useQueue() {
  const [state, setState] = useState(null);
  const [problem, setProblem] = useState('');
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
      };
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.state) setState(message.state);
        if (message.type === 'error') setProblem(message.message);
      };
      ws.onclose = () => {
        if (closed) return;
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
  function send(op) {
    const ws = socket.current;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(op));
    } else {
      setProblem('Not connected to the server yet.');
    }
  }
  return { state, problem, send };
}

/** Icons drawn here, not taken from fonts (a device may lack the symbol). */
const PATHS = {
  previous: 'M6 5h2v14H6zM20 5v14L9 12z',
  next: 'M16 5h2v14h-2zM4 5l11 7-11 7z',
  play: 'M7 4l13 8-13 8z',
  pause: 'M6 4h4v16H6zM14 4h4v16h-4z',
};

function Icon({ name }) {
  return html`<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false"><path d=${PATHS[name]} fill="currentColor" /></svg>`;
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

function Outputs({ state, send }) {
  const [outputs, setOutputs] = useState([]);
  useEffect(() => {
    api('/api/outputs').then(setOutputs).catch(() => setOutputs([]));
  }, [state && state.output]);
  return html`
    <label class="output">Play on
      <select value=${state.output || ''} onChange=${(e) => send({ op: 'set_output', output: e.target.value || null })}>
        <option value="">Nowhere (paused)</option>
        ${outputs.map((o) => html`<option key=${o.id} value=${o.id} disabled=${!o.available}>${o.name}${o.available ? '' : ' (unavailable)'}</option>`)}
      </select>
    </label>`;
}

/** The queue panel: what plays, what comes, and the controls, for every device at once. */
export function QueuePanel({ queue }) {
  const { state, problem, send } = queue;
  if (!state) return html`<aside class="queue" aria-label="Household queue"><p>Connecting to the queue…</p></aside>`;
  const entries = state.entries || [];
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
        <button class="link" onClick=${() => send({ op: 'clear' })} disabled=${entries.length === 0}>Clear</button>
      </div>
      <${Outputs} state=${state} send=${send} />
      <${Autoplay} />
      <label class="volume">Volume
        <input type="range" min="0" max="100" value=${state.volume}
          onChange=${(e) => send({ op: 'set_volume', volume: Number(e.target.value) })} />
      </label>
      ${problem && html`<p class="error" role="status">${problem}</p>`}
      <ol class="entries">
        ${entries.map((e) => html`
          <li key=${e.id} class=${e.id === state.current ? 'current' : ''} aria-current=${e.id === state.current ? 'true' : undefined}>
            <button class="plain row" onClick=${() => send({ op: 'play', entry: e.id })}>
              <span class="title">${e.song.title}</span>
              <span class="subtitle">${e.song.artist}</span>
            </button>
            <button class="link remove" onClick=${() => send({ op: 'remove', entries: [e.id] })}
              aria-label=${`Remove ${e.song.title}`}>✕</button>
          </li>`)}
      </ol>
    </aside>`;
}
