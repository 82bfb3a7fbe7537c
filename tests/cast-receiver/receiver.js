// A stand-in for a Google Cast device, for tests/lan.rs. No real Cast device can run on a test
// machine, so this plays one: it speaks CASTV2 over TLS (the framing is the npm `castv2`
// package's server side), answers the connection, heartbeat, receiver and media namespaces as
// a device with Google's Default Media Receiver does, and really downloads the URL it is told
// to load. It keeps time like a player (the position moves while it plays; a song ends when
// its duration has passed), and reports what happens on stdout, one JSON object a line, for
// the test to read.
//
//   node receiver.js --port 8009 [--cert cert.pem --key key.pem]
//
// SIGUSR1 drops every connection (as a Wi-Fi hiccup does) while the app and the song go on.
// The certificate beside this file is a throwaway made for these tests.

'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const castv2 = require('castv2');

const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : fallback;
}
const port = Number(option('port', '8009'));

const NS = {
  connection: 'urn:x-cast:com.google.cast.tp.connection',
  heartbeat: 'urn:x-cast:com.google.cast.tp.heartbeat',
  receiver: 'urn:x-cast:com.google.cast.receiver',
  media: 'urn:x-cast:com.google.cast.media',
};
const DEFAULT_MEDIA_RECEIVER = 'CC1AD845';

function say(event, details) {
  process.stdout.write(JSON.stringify(Object.assign({ event }, details || {})) + '\n');
}

// The device's state outlives connections, as on a real device.
const device = {
  app: null, // { appId, sessionId, transportId }
  volume: { level: 1, muted: false },
  media: null, // see load()
  nextMediaSession: 1,
  nextSession: 1,
};

const server = new castv2.Server({
  key: fs.readFileSync(option('key', path.join(__dirname, 'key.pem'))),
  cert: fs.readFileSync(option('cert', path.join(__dirname, 'cert.pem'))),
});

function send(client, source, destination, namespace, payload) {
  if (server.clients[client]) {
    server.send(client, source, destination, namespace, JSON.stringify(payload));
  }
}

function broadcast(source, namespace, payload) {
  for (const client of Object.keys(server.clients)) {
    send(client, source, '*', namespace, payload);
  }
}

function receiverStatus(requestId) {
  const applications = device.app
    ? [{
      appId: device.app.appId,
      displayName: 'Default Media Receiver',
      sessionId: device.app.sessionId,
      transportId: device.app.transportId,
      statusText: 'Ready To Cast',
      namespaces: [{ name: NS.media }],
    }]
    : [];
  return { type: 'RECEIVER_STATUS', requestId, status: { applications, volume: device.volume } };
}

function position(m) {
  if (m.state !== 'PLAYING') return m.position;
  return Math.min(m.duration, m.position + (Date.now() - m.since) / 1000);
}

function mediaStatus(requestId, withMedia) {
  const m = device.media;
  if (!m) return { type: 'MEDIA_STATUS', requestId, status: [] };
  const entry = {
    mediaSessionId: m.session,
    playbackRate: 1,
    playerState: m.state,
    currentTime: position(m),
    supportedMediaCommands: 15,
    volume: device.volume,
  };
  if (m.idleReason) entry.idleReason = m.idleReason;
  if (withMedia) entry.media = m.media;
  return { type: 'MEDIA_STATUS', requestId, status: [entry] };
}

function mediaChanged() {
  if (!device.app) return;
  broadcast(device.app.transportId, NS.media, mediaStatus(0, false));
  say('state', { playerState: device.media.state, currentTime: position(device.media), idleReason: device.media.idleReason });
}

function stopMedia(reason) {
  const m = device.media;
  if (!m || m.state === 'IDLE') return;
  m.position = position(m);
  m.state = 'IDLE';
  m.idleReason = reason;
  if (m.request) m.request.destroy();
  mediaChanged();
  // A finished session answers once more with its reason, then is gone.
  m.gone = true;
}

function load(client, source, request) {
  const media = request.media || {};
  if (device.media) stopMedia('INTERRUPTED');
  const m = {
    session: device.nextMediaSession++,
    media,
    duration: Number(media.duration) || 0,
    state: 'BUFFERING',
    position: Number(request.currentTime) || 0,
    since: Date.now(),
    bytes: 0,
    request: null,
  };
  device.media = m;
  const meta = media.metadata || {};
  say('load', {
    url: media.contentId,
    contentType: media.contentType,
    duration: m.duration,
    title: meta.title,
    artist: meta.artist,
    album: meta.albumName,
    image: meta.images && meta.images[0] && meta.images[0].url,
    autoplay: request.autoplay !== false,
  });
  let answered = false;
  const fail = (why) => {
    say('fetch-failed', { url: media.contentId, why });
    if (device.media !== m) return;
    if (!answered) {
      answered = true;
      m.state = 'IDLE';
      m.idleReason = 'ERROR';
      send(client, device.app.transportId, source, NS.media, { type: 'LOAD_FAILED', requestId: request.requestId });
    } else {
      stopMedia('ERROR');
    }
  };
  let req;
  try {
    req = http.get(media.contentId, (res) => {
      if (res.statusCode !== 200 && res.statusCode !== 206) {
        res.resume();
        return fail('HTTP ' + res.statusCode);
      }
      res.on('data', (chunk) => { m.bytes += chunk.length; });
      res.on('end', () => say('fetched', { url: media.contentId, status: res.statusCode, bytes: m.bytes, contentType: res.headers['content-type'] }));
      res.on('error', (e) => fail(e.message));
      if (device.media !== m || answered) return;
      // Enough has arrived to start: the device answers the LOAD and plays.
      answered = true;
      m.state = request.autoplay === false ? 'PAUSED' : 'PLAYING';
      m.since = Date.now();
      send(client, device.app.transportId, source, NS.media, mediaStatus(request.requestId, true));
      mediaChanged();
    });
  } catch (e) {
    return fail(e.message);
  }
  m.request = req;
  req.on('error', (e) => fail(e.message));
}

function onMedia(client, source, request) {
  const m = device.media;
  const reply = (payload) => send(client, device.app.transportId, source, NS.media, payload);
  if (request.type === 'GET_STATUS') {
    reply(mediaStatus(request.requestId, true));
    if (m && m.gone && m.state === 'IDLE') device.media = null;
    return;
  }
  if (request.type === 'LOAD') return load(client, source, request);
  if (!m || m.gone || request.mediaSessionId !== m.session) {
    return reply({ type: 'INVALID_REQUEST', requestId: request.requestId, reason: 'INVALID_MEDIA_SESSION_ID' });
  }
  switch (request.type) {
    case 'PLAY':
      if (m.state === 'PAUSED') { m.state = 'PLAYING'; m.since = Date.now(); }
      break;
    case 'PAUSE':
      if (m.state === 'PLAYING') { m.position = position(m); m.state = 'PAUSED'; }
      break;
    case 'SEEK':
      m.position = Math.max(0, Math.min(m.duration, Number(request.currentTime) || 0));
      m.since = Date.now();
      break;
    case 'STOP':
      reply(mediaStatus(request.requestId, false));
      stopMedia('CANCELLED');
      return;
    default:
      return reply({ type: 'INVALID_REQUEST', requestId: request.requestId, reason: 'INVALID_COMMAND' });
  }
  reply(mediaStatus(request.requestId, false));
  mediaChanged();
}

function onReceiver(client, source, request) {
  const reply = (payload) => send(client, 'receiver-0', source, NS.receiver, payload);
  switch (request.type) {
    case 'GET_STATUS':
      return reply(receiverStatus(request.requestId));
    case 'LAUNCH':
      if (request.appId !== DEFAULT_MEDIA_RECEIVER) {
        return reply({ type: 'LAUNCH_ERROR', requestId: request.requestId, reason: 'NOT_FOUND' });
      }
      if (!device.app) {
        const n = device.nextSession++;
        device.app = { appId: DEFAULT_MEDIA_RECEIVER, sessionId: 'session-' + n, transportId: 'web-' + n };
        say('launch', { appId: request.appId });
      }
      return reply(receiverStatus(request.requestId));
    case 'SET_VOLUME':
      if (request.volume && typeof request.volume.level === 'number') {
        device.volume.level = Math.max(0, Math.min(1, request.volume.level));
      }
      if (request.volume && typeof request.volume.muted === 'boolean') {
        device.volume.muted = request.volume.muted;
      }
      say('volume', device.volume);
      return reply(receiverStatus(request.requestId));
    case 'STOP':
      if (device.media) stopMedia('CANCELLED');
      device.app = null;
      say('app-stopped', {});
      return reply(receiverStatus(request.requestId));
    default:
      return reply({ type: 'INVALID_REQUEST', requestId: request.requestId, reason: 'INVALID_COMMAND' });
  }
}

server.on('message', (client, source, destination, namespace, data) => {
  let request;
  try {
    request = JSON.parse(data);
  } catch (e) {
    say('bad-message', { namespace });
    return;
  }
  switch (namespace) {
    case NS.connection:
      if (request.type === 'CONNECT') say('connected', { to: destination });
      return;
    case NS.heartbeat:
      if (request.type === 'PING') send(client, destination, source, NS.heartbeat, { type: 'PONG' });
      return;
    case NS.receiver:
      return onReceiver(client, source, request);
    case NS.media:
      if (!device.app || destination !== device.app.transportId) return;
      return onMedia(client, source, request);
    default:
      say('unknown-namespace', { namespace });
  }
});

// The device keeps time: a song ends when its duration has passed.
setInterval(() => {
  const m = device.media;
  if (m && m.state === 'PLAYING' && m.duration > 0 && position(m) >= m.duration) {
    m.position = m.duration;
    stopMedia('FINISHED');
  }
}, 50);

// Devices ping their senders too.
setInterval(() => {
  for (const client of Object.keys(server.clients)) {
    send(client, 'receiver-0', 'sender-0', NS.heartbeat, { type: 'PING' });
  }
}, 5000);

process.on('SIGUSR1', () => {
  for (const client of Object.keys(server.clients)) {
    server.clients[client].socket.destroy();
  }
  say('dropped', {});
});

server.listen(port, '0.0.0.0', () => say('listening', { port }));
