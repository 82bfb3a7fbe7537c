// Settings: for everyone, their API keys, their players (the transcoding each client gets) and
// their scrobbling (ListenBrainz and Last.fm links, what waits to go out);
// for admins, the users (roles, folders, passwords), the library (music folders, scan now with
// live progress, the files the scan could not read) and the server (version, settings).

import { useState, useEffect } from 'preact/hooks';
import { api, rest } from './api.js';
import { html, Message, href, duration, focusOnce } from './ui.js';

const TABS = [
  ['keys', 'API keys', false],
  ['players', 'Players and transcoding', false],
  ['scrobbling', 'Scrobbling', false],
  ['users', 'Users', true],
  ['library', 'Library and scans', true],
  ['server', 'Server', true],
];

export function Settings({ tab, me }) {
  const shown = TABS.filter(([, , admin]) => me.admin || !admin);
  const current = shown.find(([t]) => t === tab) || shown[0];
  return html`
    <section aria-labelledby="settings">
      <h2 id="settings">Settings</h2>
      <nav class="tabs" aria-label="Settings">
        ${shown.map(([t, label]) => html`<a key=${t} class=${t === current[0] ? 'tab active' : 'tab'} aria-current=${t === current[0] ? 'page' : undefined}
          href=${href('settings', t)}>${label}</a>`)}
      </nav>
      ${current[0] === 'keys' && html`<${Keys} />`}
      ${current[0] === 'players' && html`<${Players} me=${me} />`}
      ${current[0] === 'scrobbling' && html`<${Scrobbling} />`}
      ${current[0] === 'users' && html`<${Users} me=${me} />`}
      ${current[0] === 'library' && html`<${Library} />`}
      ${current[0] === 'server' && html`<${Server} />`}
    </section>`;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : 'never';
}

function Keys() {
  const [keys, setKeys] = useState(null);
  const [made, setMade] = useState(null);
  const [error, setError] = useState('');
  const load = () => api('/api/apikeys').then(setKeys).catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, []);
  async function create(event) {
    event.preventDefault();
    const label = new FormData(event.target).get('label').trim() || undefined;
    try {
      setMade(await api('/api/apikeys', { method: 'POST', body: { label } }));
      event.target.reset();
      load();
    } catch (e) {
      setError(e.message);
    }
  }
  async function revoke(id) {
    try {
      await api(`/api/apikeys/${encodeURIComponent(id)}`, { method: 'DELETE' });
      load();
    } catch (e) {
      setError(e.message);
    }
  }
  return html`
    <div>
      <p>A key lets a Subsonic app log in as you without your password (apps that support OpenSubsonic API keys).</p>
      <form onSubmit=${create} class="inline">
        <label>What it is for <input name="label" maxlength="200" placeholder="kitchen tablet" /></label>
        <button type="submit">Make a key</button>
      </form>
      ${made && html`<p class="notice" role="status">Your new key, shown only this once: <code>${made.key}</code></p>`}
      <${Message} error=${error} />
      ${keys && keys.length === 0 && html`<p>No keys yet.</p>`}
      ${keys && keys.length > 0 && html`
        <table>
          <thead><tr><th>Key</th><th>Made</th><th>Last used</th><th></th></tr></thead>
          <tbody>${keys.map((k) => html`<tr key=${k.id}><td>${k.label}</td><td>${when(k.created)}</td><td>${when(k.last_used)}</td>
            <td><button class="link" onClick=${() => revoke(k.id)} aria-label=${`Revoke ${k.label}`}>Revoke</button></td></tr>`)}</tbody>
        </table>`}
    </div>`;
}

const FORMATS = [['', 'as the server decides'], ['raw', 'never transcode'], ['mp3', 'MP3'], ['opus', 'Opus'], ['ogg', 'Ogg Vorbis'], ['flac', 'FLAC'], ['wav', 'WAV']];

/** Players and their transcoding; an admin chooses whose (a child's phone on mobile data). */
function Players({ me }) {
  const [players, setPlayers] = useState(null);
  const [error, setError] = useState('');
  const [owner, setOwner] = useState(me.user);
  const [users, setUsers] = useState([]);
  const load = () => api(`/api/players?${new URLSearchParams({ user: owner })}`).then(setPlayers).catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, [owner]);
  useEffect(() => {
    if (me.admin) rest('getUsers').then((r) => setUsers((r.users.user || []).map((u) => u.username))).catch(() => {});
  }, []);
  async function save(p, event) {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      await api(`/api/players/${encodeURIComponent(p.id)}`, {
        method: 'PUT',
        body: { transcodeFormat: form.get('format') || null, maxBitRate: Number(form.get('bitrate')) || 0 },
      });
      load();
    } catch (e) {
      setError(e.message);
    }
  }
  return html`
    <div>
      <p>Each app you stream with is a player. Choose what it gets: the original files, or a format and a bit rate (for phones on mobile data).</p>
      ${users.length > 1 && html`<label>Players of <select value=${owner} onChange=${(e) => setOwner(e.target.value)}>
        ${users.map((u) => html`<option key=${u} value=${u}>${u}</option>`)}</select></label>`}
      <${Message} error=${error} />
      ${players && players.length === 0 && html`<p>No players yet: they appear when an app streams.</p>`}
      ${players && players.map((p) => html`
        <form key=${p.id} class="card player-form" onSubmit=${(e) => save(p, e)}>
          <strong>${p.client}</strong> <span class="subtitle">${p.userAgent || ''} · last seen ${when(p.lastSeen)}</span>
          <div class="inline">
            <label>Format <select name="format" value=${p.transcodeFormat || ''}>
              ${FORMATS.map(([v, l]) => html`<option key=${v} value=${v}>${l}</option>`)}</select></label>
            <label>Most kbit/s (0: no limit) <input name="bitrate" type="number" min="0" max="10000" value=${p.maxBitRate || 0} /></label>
            <button type="submit">Save</button>
          </div>
        </form>`)}
    </div>`;
}

/** One service's link: who it is linked to, what waits, the last problem. */
function LinkFacts({ link }) {
  return html`
    <ul>
      <li>${link.linked ? html`Linked to <strong>${link.account}</strong> since ${when(link.linkedAt)}` : 'Not linked.'}</li>
      ${link.needsAttention && html`<li class="error" role="alert">Link again: ${link.needsAttention}. Your listens wait until you do.</li>`}
      ${(link.linked || link.pending > 0) && html`<li>${link.pending === 1 ? '1 listen waits' : `${link.pending} listens wait`} to go out; last sent ${when(link.lastSentAt)}.</li>`}
      ${link.lastError && !link.needsAttention && html`<li>Last problem (${when(link.lastErrorAt)}): ${link.lastError}. Houseband tries again by itself.</li>`}
      ${link.refused > 0 && html`<li>${link.refused} refused by the service as they were (kept, not sent again).</li>`}
    </ul>`;
}

/** The caller's scrobbling: the switch, ListenBrainz by token, Last.fm by its own page. */
function Scrobbling() {
  const [status, setStatus] = useState(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const load = () => api('/api/scrobbling').then(setStatus).catch((e) => setError(e.message));
  useEffect(() => {
    // Back from Last.fm's page (through the server's callback): finish linking, as whoever is
    // logged in here, and take the token out of the address.
    const back = new URLSearchParams(window.location.search);
    if (back.has('lastfm_state')) {
      window.history.replaceState(null, '', `${window.location.pathname}${window.location.hash}`);
      const body = { state: back.get('lastfm_state'), token: back.get('lastfm_token') || '' };
      act(() => api('/api/scrobbling/lastfm/finish', { method: 'POST', body }));
    } else {
      load();
    }
    // What waits goes out in the background: the counts follow.
    const timer = setInterval(load, 10000);
    return () => clearInterval(timer);
  }, []);
  async function act(call) {
    setBusy(true);
    try {
      setStatus(await call());
      setError('');
    } catch (e) {
      setError(e.message);
      load();
    } finally {
      setBusy(false);
    }
  }
  function linkListenBrainz(event) {
    event.preventDefault();
    const token = new FormData(event.target).get('token').trim();
    if (!token) {
      setError('Paste your ListenBrainz user token first.');
      return;
    }
    act(() => api('/api/scrobbling/listenbrainz', { method: 'PUT', body: { token } })).then(() => event.target.reset());
  }
  async function linkLastFm() {
    setBusy(true);
    try {
      const { url } = await api('/api/scrobbling/lastfm', { method: 'POST' });
      // Last.fm asks the user, then sends this browser back to Settings.
      window.location.assign(url);
    } catch (e) {
      setError(e.message);
      setBusy(false);
    }
  }
  function switchTo(enabled) {
    // Shown switched at once; the answer (or a failure) then says how it is.
    setStatus({ ...status, enabled });
    act(() => api('/api/scrobbling', { method: 'PUT', body: { enabled } }));
  }
  const unlink = (service) => act(() => api(`/api/scrobbling/${service}`, { method: 'DELETE' }));
  if (!status) return html`<div><${Message} error=${error} />${!error && html`<p>Loading…</p>`}</div>`;
  return html`
    <div>
      <p>Send what you play (in Subsonic apps, the web app, or on the household queue) to your ListenBrainz or Last.fm account. Listens wait here until the service has them, so none is lost when the internet is down.</p>
      <label class="switch"><input type="checkbox" checked=${status.enabled} disabled=${busy}
        onChange=${(e) => switchTo(e.target.checked)} /> Scrobble my plays</label>
      <${Message} error=${error} />
      <section class="card" aria-labelledby="scrobble-lb">
        <h3 id="scrobble-lb">ListenBrainz</h3>
        <${LinkFacts} link=${status.listenbrainz} />
        <form onSubmit=${linkListenBrainz} class="inline">
          <label>User token <input name="token" autocomplete="off" spellcheck="false" maxlength="200" placeholder="from listenbrainz.org/settings" /></label>
          <button type="submit" disabled=${busy}>${status.listenbrainz.linked ? 'Link again' : 'Link'}</button>
          ${status.listenbrainz.linked && html`<button type="button" class="danger" disabled=${busy} onClick=${() => unlink('listenbrainz')}>Unlink</button>`}
        </form>
      </section>
      <section class="card" aria-labelledby="scrobble-fm">
        <h3 id="scrobble-fm">Last.fm</h3>
        <${LinkFacts} link=${status.lastfm} />
        ${status.lastfmAvailable
          ? html`<div class="inline">
              <button type="button" disabled=${busy} onClick=${linkLastFm}>${status.lastfm.linked ? 'Link again' : 'Link Last.fm'}</button>
              ${status.lastfm.linked && html`<button type="button" class="danger" disabled=${busy} onClick=${() => unlink('lastfm')}>Unlink</button>`}
            </div>`
          : html`<p>Last.fm is not set up on this server: an admin sets <code>lastfm_api_key</code> and <code>lastfm_secret</code>.</p>`}
      </section>
    </div>`;
}

const ROLE_NAMES = {
  streamRole: 'Stream', downloadRole: 'Download', playlistRole: 'Playlists', shareRole: 'Share',
  jukeboxRole: 'Jukebox', coverArtRole: 'Change cover art', commentRole: 'Comment',
  podcastRole: 'Podcasts', uploadRole: 'Upload', settingsRole: 'Own settings',
};

/** The role checkboxes and folder checkboxes of a user form. */
function Rights({ user, folders }) {
  const allowed = new Set((user && user.folder) || folders.map((f) => f.id));
  return html`
    <fieldset>
      <legend>May</legend>
      <label class="switch"><input type="checkbox" name="adminRole" checked=${user ? user.adminRole : false} /> Administer (everything)</label>
      ${Object.entries(ROLE_NAMES).map(([role, label]) => html`
        <label key=${role} class="switch"><input type="checkbox" name=${role} checked=${user ? user[role] : ['streamRole', 'downloadRole', 'playlistRole', 'shareRole', 'settingsRole'].includes(role)} /> ${label}</label>`)}
    </fieldset>
    <fieldset>
      <legend>Music folders they see</legend>
      ${folders.map((f) => html`
        <label key=${f.id} class="switch"><input type="checkbox" name="musicFolderId" value=${f.id} checked=${allowed.has(f.id)} /> ${f.name}</label>`)}
    </fieldset>`;
}

/** A user form's fields as Subsonic parameters (every role said yes or no). */
function rightsOf(form) {
  const params = { adminRole: form.get('adminRole') === 'on', musicFolderId: form.getAll('musicFolderId') };
  for (const role of Object.keys(ROLE_NAMES)) params[role] = form.get(role) === 'on';
  return params;
}

function Users({ me }) {
  const [users, setUsers] = useState(null);
  const [folders, setFolders] = useState([]);
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const load = () => rest('getUsers').then((r) => setUsers(r.users.user || [])).catch((e) => setError(e.message));
  useEffect(() => {
    load();
    rest('getMusicFolders').then((r) => setFolders(r.musicFolders.musicFolder || [])).catch(() => {});
  }, []);
  const done = (text) => {
    setError('');
    setNotice(text);
    setEditing(null);
    load();
  };
  async function create(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    if (folders.length > 0 && form.getAll('musicFolderId').length === 0) {
      setError('Choose at least one music folder.');
      return;
    }
    try {
      await rest('createUser', { username: form.get('username').trim(), password: form.get('password'), email: form.get('email') || '', ...rightsOf(form) });
      event.target.reset();
      done(`Made the user ${form.get('username').trim()}.`);
    } catch (e) {
      setError(e.message);
    }
  }
  async function update(user, event) {
    event.preventDefault();
    const form = new FormData(event.target);
    if (folders.length > 0 && form.getAll('musicFolderId').length === 0) {
      setError(`Choose at least one music folder for ${user.username}.`);
      return;
    }
    try {
      await rest('updateUser', { username: user.username, ...rightsOf(form) });
      if (form.get('password')) await rest('changePassword', { username: user.username, password: form.get('password') });
      done(`Saved ${user.username}${form.get('password') ? ', with the new password' : ''}.`);
    } catch (e) {
      setError(e.message);
    }
  }
  async function remove(user) {
    try {
      await rest('deleteUser', { username: user.username });
      done(`Deleted ${user.username}.`);
    } catch (e) {
      setError(e.message);
    }
  }
  return html`
    <div>
      <${Message} error=${error} />
      ${notice && html`<p class="notice" role="status">${notice}</p>`}
      ${users && html`
        <table>
          <thead><tr><th>User</th><th>Admin</th><th>Folders</th><th></th></tr></thead>
          <tbody>${users.map((u) => html`
            <tr key=${u.username}>
              <td>${u.username}</td><td>${u.adminRole ? 'yes' : ''}</td>
              <td>${folders.filter((f) => (u.folder || []).includes(f.id)).map((f) => f.name).join(', ')}</td>
              <td><button class="link" onClick=${() => setEditing(editing === u.username ? null : u.username)} aria-label=${`Edit ${u.username}`}>Edit</button></td>
            </tr>`)}</tbody>
        </table>`}
      ${users && users.filter((u) => u.username === editing).map((u) => html`
        <form key=${u.username} class="card" onSubmit=${(e) => update(u, e)} aria-label=${`Edit ${u.username}`}>
          <h3>${u.username}</h3>
          <${Rights} user=${u} folders=${folders} />
          <label>New password (leave empty to keep it) <input name="password" type="password" minlength="8" autocomplete="new-password" /></label>
          <div class="actions">
            <button type="submit">Save</button>
            ${u.username !== me.user && html`<button type="button" class="danger" onClick=${() => remove(u)}>Delete ${u.username}</button>`}
          </div>
        </form>`)}
      <form class="card" onSubmit=${create} aria-label="New user">
        <h3>New user</h3>
        <label>User name <input name="username" required maxlength="100" autocomplete="off" /></label>
        <label>Password (8 characters or more) <input name="password" type="password" minlength="8" required autocomplete="new-password" /></label>
        <label>Email (optional) <input name="email" type="email" /></label>
        <${Rights} folders=${folders} />
        <button type="submit">Add the user</button>
      </form>
    </div>`;
}

/** The server's report (`/api/server`), asked again every second while a scan runs. */
function useServer() {
  const [report, setReport] = useState(null);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    api('/api/server').then((r) => {
      if (!live) return;
      setReport(r);
      setError('');
      if (r.scanning) setTimeout(() => live && setTick((n) => n + 1), 1000);
    }).catch((e) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [tick]);
  return [report, error, () => setTick((n) => n + 1)];
}

function Library() {
  const [report, error, again] = useServer();
  const [problem, setProblem] = useState('');
  const [removing, setRemoving] = useState(null);
  async function add(event) {
    event.preventDefault();
    const form = event.target;
    try {
      await api('/api/server/folders', { method: 'POST', body: { path: new FormData(form).get('path').trim() } });
      form.reset();
      setProblem('');
      again();
    } catch (e) {
      setProblem(e.message);
    }
  }
  async function remove(folder) {
    try {
      await api(`/api/server/folders/${folder.id}`, { method: 'DELETE' });
      setRemoving(null);
      setProblem('');
      again();
    } catch (e) {
      setProblem(e.message);
    }
  }
  async function scan(full) {
    try {
      await rest('startScan', { fullScan: full });
      again();
    } catch (e) {
      setProblem(e.message);
    }
  }
  if (error) return html`<${Message} error=${error} />`;
  if (!report) return html`<p>Loading…</p>`;
  const p = report.progress;
  return html`
    <div>
      <h3>Music folders</h3>
      <table>
        <thead><tr><th>Folder</th><th>Path</th><th>Songs</th><th>Last scanned</th><th></th></tr></thead>
        <tbody>${report.folders.map((f) => html`<tr key=${f.id}><td>${f.name}</td><td><code>${f.path}</code></td><td>${f.songs}</td><td>${when(f.last_scan_at)}</td>
          <td>${!f.added_in_app ? html`<span class="subtitle">from the configuration</span>`
            : removing === f.id ? html`<button class="danger" ref=${focusOnce} onClick=${() => remove(f)}>Take it away</button> <button class="link" onClick=${() => setRemoving(null)}>Keep it</button>`
            : html`<button class="link" onClick=${() => setRemoving(f.id)} aria-label=${`Remove ${f.name}`}>Remove</button>`}</td></tr>`)}</tbody>
      </table>
      <form class="inline" onSubmit=${add}>
        <label>Add a music folder (its full path on the server) <input name="path" required placeholder="/srv/music" autocomplete="off" /></label>
        <button type="submit">Add and scan it</button>
      </form>
      <p class="subtitle">A folder taken away stops being scanned and its songs are hidden; their stars, ratings, plays and playlist places are kept for when it comes back. Folders named by the configuration (<code>music</code>, <code>--music</code>, <code>HOUSEBAND_MUSIC</code>) are changed there.</p>
      <h3>Scanning</h3>
      <div class="actions">
        <button onClick=${() => scan(false)} disabled=${report.scanning}>Scan now</button>
        <button class="secondary" onClick=${() => scan(true)} disabled=${report.scanning}>Full scan (read every file again)</button>
      </div>
      <p role="status" class="scan-status">${report.scanning && p
        ? html`Scanning: ${p.files_processed} of ${p.files_to_read} files read (${p.files_seen} seen, ${p.errors} problems).
          <progress max=${Math.max(1, p.files_to_read)} value=${p.files_processed}></progress>`
        : `Not scanning. ${report.scans_done} ${report.scans_done === 1 ? 'scan' : 'scans'} since the server started.`}</p>
      <${Message} error=${problem} />
      <h3>Files the scan could not read (${report.problems_total})</h3>
      ${report.problems_total === 0 && html`<p>None: every file was read.</p>`}
      ${report.problems.length > 0 && html`
        <table class="problems">
          <thead><tr><th>File</th><th>Problem</th><th>Since</th></tr></thead>
          <tbody>${report.problems.map((x) => html`<tr key=${x.path} class=${x.kind}><td><code>${x.path}</code></td>
            <td>${x.kind === 'error' ? 'Left out: ' : 'Read, but: '}${x.reason}</td><td>${when(x.first_seen)}</td></tr>`)}</tbody>
        </table>`}
      ${report.problems_total > report.problems.length && html`<p class="subtitle">The latest ${report.problems.length} are shown.</p>`}
    </div>`;
}

function Server() {
  const [report, error] = useServer();
  if (error) return html`<${Message} error=${error} />`;
  if (!report) return html`<p>Loading…</p>`;
  const s = report.settings;
  const rows = [
    ['Version', report.version],
    ['Running for', duration(report.uptime_s)],
    ['Data folder', report.data_dir],
    ['Watching folders for changes', s.watch ? 'yes' : 'no'],
    ['Scan every', s.scan_interval_s ? duration(s.scan_interval_s) : 'never (on changes and on demand only)'],
    ['Transcodes at once', s.transcode_slots],
    ['Transcode cache', `${Math.round(s.transcode_cache_bytes / 1048576)} MB`],
    ['ReplayGain on transcoded streams', s.replay_gain],
    ['Speakers on the network (LAN)', s.lan ? 'on' : 'off'],
    ['Plays on its own sound card', s.local_output ? 'yes' : 'no'],
    ['Sound analysis for recommendations', s.sound_analysis ? 'on' : 'off'],
    ['Autoplay at start', s.autoplay ? 'on' : 'off'],
  ];
  return html`
    <div>
      <table class="facts"><tbody>${rows.map(([k, v]) => html`<tr key=${k}><th scope="row">${k}</th><td>${v}</td></tr>`)}</tbody></table>
      <p class="subtitle">Settings are changed in the configuration file (see the configuration reference) and take effect at the next start.</p>
    </div>`;
}
