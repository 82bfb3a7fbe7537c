// Talking to the server: the native API (`/api/...`, JSON) and the Subsonic API (`/rest/...`,
// asked for JSON), both logged in by the session cookie that `/api/login` sets (SameSite=Strict:
// only this app's own pages send it).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A native API call; the body, parsed. Throws an ApiError with the server's message. */
export async function api(path, { method = 'GET', body, form } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      // Says "the app": a 401 then comes without the challenge that makes browsers open
      // their own password dialog.
      headers: {
        'X-Requested-With': 'houseband-web',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: form || (body === undefined ? undefined : JSON.stringify(body)),
    });
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Is it running, and is this device on the same network?');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON: the status says enough.
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.error) || `The server answered ${response.status}.`);
  }
  return data;
}

/**
 * A Subsonic call; the `subsonic-response` object. Sent as a form POST (OpenSubsonic's
 * formPost), so long lists (a playlist's thousand songs) fit; a list value repeats its name.
 */
export async function rest(method, params = {}) {
  const form = new URLSearchParams({ v: '1.16.1', c: 'houseband-web', f: 'json' });
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    for (const one of Array.isArray(value) ? value : [value]) form.append(name, String(one));
  }
  const data = await api(`/rest/${method}`, { method: 'POST', form });
  const answer = data['subsonic-response'];
  if (answer.status !== 'ok') {
    throw new ApiError(answer.error ? answer.error.code : 0, answer.error ? answer.error.message : 'The server refused.');
  }
  return answer;
}

/** A picture of an album, artist or song, `size` pixels wide. */
export function coverUrl(id, size = 300) {
  return `/rest/getCoverArt?${new URLSearchParams({ id, size, v: '1.16.1', c: 'houseband-web' })}`;
}

/** A song's audio, as this browser plays it (the original file). */
export function streamUrl(id) {
  return `/api/stream/${encodeURIComponent(id)}`;
}
