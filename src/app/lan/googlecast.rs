//! A Google Cast device as a [`Speaker`]: connects (CASTV2, see [`super::castv2`]), keeps the
//! connection alive with heartbeats, launches the Default Media Receiver (or joins it if it
//! runs), and drives it: LOAD with metadata and art, PLAY, PAUSE, STOP, the device's volume;
//! follows its MEDIA_STATUS. After a dropped connection it connects again and joins the session
//! that still plays, or says the song must be loaded again.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use super::caster::{Media, SongProblem, Speaker, State, Status};
use super::castv2::{Connection, Message};

const CONNECTION: &str = "urn:x-cast:com.google.cast.tp.connection";
const HEARTBEAT: &str = "urn:x-cast:com.google.cast.tp.heartbeat";
const RECEIVER: &str = "urn:x-cast:com.google.cast.receiver";
const MEDIA: &str = "urn:x-cast:com.google.cast.media";
/// Google's Default Media Receiver, the app every Cast device has for plain media URLs.
const DEFAULT_MEDIA_RECEIVER: &str = "CC1AD845";
const ME: &str = "sender-houseband";
const PLATFORM: &str = "receiver-0";

const PING_EVERY: Duration = Duration::from_secs(5);
/// Silence after which the device counts as gone (it answers every heartbeat).
const SILENCE: Duration = Duration::from_secs(16);
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// Launching the receiver app and loading a song take a device a few seconds.
const LAUNCH_WITHIN: Duration = Duration::from_secs(20);
const LOAD_WITHIN: Duration = Duration::from_secs(15);
/// The MIME types the Default Media Receiver plays.
const PLAYS: &[&str] = &[
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/flac",
    "audio/x-flac",
    "audio/ogg",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
];

/// The receiver app's session on the device.
#[derive(Debug, Clone, PartialEq)]
struct App {
    transport: String,
    session: String,
}

pub struct CastDevice {
    address: SocketAddr,
    conn: Option<Connection>,
    app: Option<App>,
    media_session: Option<i64>,
    /// The URL loaded.
    content: String,
    /// The last state the device reported for the media session, and why it went idle.
    last: Option<(String, Option<String>)>,
    position_ms: Option<i64>,
    request: i64,
    pinged: Instant,
    heard: Instant,
}

impl CastDevice {
    pub fn new(address: SocketAddr) -> CastDevice {
        CastDevice {
            address,
            conn: None,
            app: None,
            media_session: None,
            content: String::new(),
            last: None,
            position_ms: None,
            request: 0,
            pinged: Instant::now(),
            heard: Instant::now(),
        }
    }

    fn send(&mut self, namespace: &str, destination: &str, payload: &Value) -> Result<()> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| anyhow!("not connected to the Cast device"))?;
        let sent = conn.send(&Message {
            source: ME.into(),
            destination: destination.into(),
            namespace: namespace.into(),
            payload: payload.to_string(),
        });
        if sent.is_err() {
            self.conn = None;
        }
        sent
    }

    /// Sends a request and waits for the answer with its `requestId`, taking in whatever else
    /// the device says meanwhile.
    fn ask(
        &mut self,
        namespace: &str,
        destination: &str,
        mut payload: Value,
        within: Duration,
    ) -> Result<Value> {
        self.request += 1;
        let id = self.request;
        payload["requestId"] = json!(id);
        let what = payload["type"].as_str().unwrap_or("?").to_string();
        self.send(namespace, destination, &payload)?;
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the Cast device did not answer {what} within {within:?}");
            }
            if let Some(answer) = self.receive(left)? {
                if answer["requestId"].as_i64() == Some(id) {
                    return Ok(answer);
                }
            }
        }
    }

    /// Reads one message, if one comes within `wait`, and takes note of it.
    fn receive(&mut self, wait: Duration) -> Result<Option<Value>> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| anyhow!("not connected to the Cast device"))?;
        let message = match conn.receive(wait) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.conn = None;
                return Err(e);
            }
        };
        self.heard = Instant::now();
        let Some((payload, pong)) = self.take_in(&message) else {
            return Ok(None);
        };
        if pong {
            self.send(HEARTBEAT, &message.source, &json!({"type": "PONG"}))?;
        }
        Ok(Some(payload))
    }

    /// Takes note of a message from the device: its JSON payload (None if it is not JSON), and
    /// whether it was a heartbeat to answer.
    fn take_in(&mut self, message: &Message) -> Option<(Value, bool)> {
        let Ok(payload) = serde_json::from_str::<Value>(&message.payload) else {
            tracing::debug!(
                namespace = message.namespace,
                "a Cast message that is not JSON"
            );
            return None;
        };
        let kind = payload["type"].as_str().unwrap_or("");
        let mut pong = false;
        match (message.namespace.as_str(), kind) {
            (HEARTBEAT, "PING") => pong = true,
            (CONNECTION, "CLOSE")
                if Some(&message.source) == self.app.as_ref().map(|a| &a.transport) =>
            {
                self.app_gone("the receiver app closed");
            }
            (RECEIVER, "RECEIVER_STATUS") => {
                let app = app_in(&payload);
                if self.app.is_some()
                    && app.as_ref().map(|a| &a.session) != self.app.as_ref().map(|a| &a.session)
                {
                    self.app_gone("another app took the speaker over");
                }
            }
            (MEDIA, "MEDIA_STATUS") => self.note_media(&payload),
            _ => {}
        }
        Some((payload, pong))
    }

    fn app_gone(&mut self, why: &str) {
        self.app = None;
        if self.media_session.take().is_some() {
            self.last = Some(("IDLE".into(), Some(format!("INTERRUPTED: {why}"))));
        }
    }

    /// Takes in a MEDIA_STATUS: the state of the media session this sender loaded.
    fn note_media(&mut self, payload: &Value) {
        let Some(entries) = payload["status"].as_array() else {
            return;
        };
        for s in entries {
            let session = s["mediaSessionId"].as_i64();
            if session.is_none() || session != self.media_session {
                continue;
            }
            let state = s["playerState"].as_str().unwrap_or("IDLE").to_string();
            let reason = s["idleReason"].as_str().map(str::to_string);
            if let Some(t) = s["currentTime"].as_f64() {
                self.position_ms = Some((t * 1000.0) as i64);
            }
            if state == "IDLE" {
                // The session is over (finished, failed, replaced): commands to it would be
                // refused, and a play loads the song again.
                self.media_session = None;
            }
            self.last = Some((state, reason));
        }
    }

    /// Connects to the device and to its Default Media Receiver, launched if need be.
    fn connect(&mut self) -> Result<()> {
        self.conn = Some(Connection::open(self.address)?);
        self.app = None;
        self.heard = Instant::now();
        self.pinged = Instant::now();
        self.send(CONNECTION, PLATFORM, &json!({"type": "CONNECT"}))?;
        let status = self.ask(
            RECEIVER,
            PLATFORM,
            json!({"type": "GET_STATUS"}),
            ANSWER_WITHIN,
        )?;
        let app = match app_in(&status) {
            Some(app) => app,
            None => {
                let launch = json!({"type": "LAUNCH", "appId": DEFAULT_MEDIA_RECEIVER});
                let answer = self.ask(RECEIVER, PLATFORM, launch, LAUNCH_WITHIN)?;
                app_in(&answer).ok_or_else(|| {
                    anyhow!(
                        "the Cast device did not start its media player ({})",
                        answer["reason"]
                            .as_str()
                            .or(answer["type"].as_str())
                            .unwrap_or("no reason")
                    )
                })?
            }
        };
        self.send(CONNECTION, &app.transport, &json!({"type": "CONNECT"}))?;
        self.app = Some(app);
        Ok(())
    }

    fn transport(&self) -> Result<String> {
        self.app
            .as_ref()
            .map(|a| a.transport.clone())
            .ok_or_else(|| anyhow!("the Cast device's media player is not running"))
    }

    /// Asks what the media receiver plays (the answer is taken in as it comes).
    fn media_status(&mut self) -> Result<()> {
        let transport = self.transport()?;
        let ask = json!({"type": "GET_STATUS"});
        self.ask(MEDIA, &transport, ask, ANSWER_WITHIN).map(drop)
    }

    /// A media command on the loaded song; nothing when none is loaded.
    fn media_command(&mut self, kind: &str) -> Result<()> {
        let Some(session) = self.media_session else {
            return Ok(());
        };
        let transport = self.transport()?;
        let answer = self.ask(
            MEDIA,
            &transport,
            json!({"type": kind, "mediaSessionId": session}),
            ANSWER_WITHIN,
        )?;
        refused(&answer, kind)
    }
}

impl CastDevice {
    /// The state of the loaded song, from the last MEDIA_STATUS taken in.
    fn state(&self) -> State {
        match &self.last {
            None => State::Loading,
            Some((s, reason)) => match (s.as_str(), reason.as_deref()) {
                ("PLAYING", _) => State::Playing,
                ("PAUSED", _) => State::Paused,
                ("BUFFERING" | "LOADING", _) => State::Loading,
                (_, Some("ERROR")) => {
                    State::Failed("the Cast device could not play the stream".into())
                }
                (_, Some(r)) if r.starts_with("INTERRUPTED") || r == "CANCELLED" => {
                    State::Interrupted(r.to_string())
                }
                _ => State::Stopped,
            },
        }
    }
}

/// What a Cast device's messages (the bytes of the TLS stream, decrypted) do to a sender that
/// has a media session loaded: every complete frame is decoded and taken in as
/// [`CastDevice::receive`] does, then the state and the answer checks are read.
pub(crate) fn take_in_stream(bytes: &[u8]) -> Result<usize> {
    let mut device = CastDevice::new(SocketAddr::from(([192, 168, 1, 30], 8009)));
    device.app = Some(App {
        transport: "web-5".into(),
        session: "s-1".into(),
    });
    device.media_session = Some(1);
    let mut at = 0;
    let mut taken = 0;
    while let Some((message, used)) = super::castv2::decode(&bytes[at..])? {
        at += used;
        taken += 1;
        if let Some((payload, _pong)) = device.take_in(&message) {
            let _ = app_in(&payload);
            let _ = refused(&payload, "playing");
        }
        let _ = device.state();
    }
    Ok(taken)
}

/// The Default Media Receiver's session in a RECEIVER_STATUS.
fn app_in(status: &Value) -> Option<App> {
    status["status"]["applications"]
        .as_array()?
        .iter()
        .find(|a| a["appId"] == DEFAULT_MEDIA_RECEIVER)
        .and_then(|a| {
            Some(App {
                transport: a["transportId"].as_str()?.to_string(),
                session: a["sessionId"].as_str()?.to_string(),
            })
        })
}

/// An error if the device answered a media command with a refusal.
fn refused(answer: &Value, what: &str) -> Result<()> {
    match answer["type"].as_str().unwrap_or("") {
        "MEDIA_STATUS" | "RECEIVER_STATUS" => Ok(()),
        other => bail!(
            "the Cast device refused {what}: {other}{}",
            answer["reason"]
                .as_str()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
    }
}

impl Speaker for CastDevice {
    fn address(&self) -> SocketAddr {
        self.address
    }

    fn open(&mut self) -> Result<()> {
        self.connect()?;
        // The media receiver answers (whatever it plays is another sender's: this one loads
        // its own).
        self.media_status()
    }

    fn plays(&self, mime: &str) -> bool {
        PLAYS.contains(&mime)
    }

    fn load(&mut self, media: &Media, _replacing: bool, play: bool) -> Result<()> {
        if self.app.is_none() {
            self.connect()?;
        }
        let transport = self.transport()?;
        let mut metadata = json!({
            "metadataType": 3, // a music track
            "title": media.title,
            "artist": media.artist,
            "albumName": media.album,
        });
        if let Some(art) = &media.art {
            metadata["images"] = json!([{ "url": art }]);
        }
        let load = json!({
            "type": "LOAD",
            "sessionId": self.app.as_ref().map(|a| a.session.clone()),
            "media": {
                "contentId": media.url,
                "contentType": media.mime,
                "streamType": "BUFFERED",
                "duration": media.duration_ms as f64 / 1000.0,
                "metadata": metadata,
            },
            "autoplay": play,
            "currentTime": 0,
        });
        // Whatever the old session says from now on (INTERRUPTED by this LOAD) is not news.
        self.media_session = None;
        self.last = None;
        let answer = self.ask(MEDIA, &transport, load, LOAD_WITHIN)?;
        if let Err(e) = refused(&answer, "the song") {
            return Err(SongProblem(format!("{e:#}")).into());
        }
        let session = answer["status"]
            .as_array()
            .and_then(|s| s.first())
            .and_then(|s| s["mediaSessionId"].as_i64())
            .ok_or_else(|| anyhow!("the Cast device loaded the song but gave no media session"))?;
        self.media_session = Some(session);
        self.content = media.url.clone();
        self.last = None;
        self.position_ms = None;
        self.note_media(&answer);
        Ok(())
    }

    fn seek(&mut self, position_ms: i64) -> Result<bool> {
        let Some(session) = self.media_session else {
            return Ok(false);
        };
        let transport = self.transport()?;
        let ask = json!({
            "type": "SEEK",
            "mediaSessionId": session,
            "currentTime": position_ms.max(0) as f64 / 1000.0,
        });
        let answer = self.ask(MEDIA, &transport, ask, ANSWER_WITHIN)?;
        Ok(refused(&answer, "the seek").is_ok())
    }

    fn play(&mut self) -> Result<()> {
        if self.media_session.is_none() {
            bail!("the Cast device has no song loaded");
        }
        self.media_command("PLAY")
    }

    fn pause(&mut self) -> Result<()> {
        self.media_command("PAUSE")
    }

    fn stop(&mut self) -> Result<()> {
        self.media_command("STOP")?;
        self.media_session = None;
        Ok(())
    }

    fn set_volume(&mut self, volume: u8) -> Result<()> {
        let level = f64::from(volume.min(100)) / 100.0;
        let ask = json!({"type": "SET_VOLUME", "volume": {"level": level}});
        let answer = self.ask(RECEIVER, PLATFORM, ask, ANSWER_WITHIN)?;
        refused(&answer, "the volume")
    }

    fn set_muted(&mut self, muted: bool) -> Result<()> {
        let ask = json!({"type": "SET_VOLUME", "volume": {"muted": muted}});
        let answer = self.ask(RECEIVER, PLATFORM, ask, ANSWER_WITHIN)?;
        refused(&answer, "muting")
    }

    fn status(&mut self) -> Result<Status> {
        if self.media_session.is_some() && self.app.is_some() {
            self.media_status()?;
        }
        let state = self.state();
        Ok(Status {
            state,
            position_ms: self.position_ms,
            track: self.content.clone(),
        })
    }

    fn tick(&mut self) -> Result<()> {
        if self.conn.is_none() {
            bail!("not connected to the Cast device");
        }
        if self.pinged.elapsed() >= PING_EVERY {
            self.send(HEARTBEAT, PLATFORM, &json!({"type": "PING"}))?;
            self.pinged = Instant::now();
        }
        // News from the device: its heartbeats, and statuses it sends unasked.
        for _ in 0..64 {
            if self.receive(Duration::from_millis(1))?.is_none() {
                break;
            }
        }
        if self.heard.elapsed() >= SILENCE {
            self.conn = None;
            bail!("the Cast device stopped answering heartbeats");
        }
        Ok(())
    }

    fn reconnect(&mut self) -> Result<bool> {
        if self.conn.is_some() {
            // The link holds: the failure was the device's answer. The song is loaded again
            // only if the device dropped it.
            return Ok(self.media_session.is_none() && !self.content.is_empty());
        }
        let had = self.media_session;
        self.connect()?;
        self.last = None;
        self.media_status()?;
        // Still playing the song loaded before the drop: carry on, nothing to load again.
        let playing_on = had.is_some()
            && self.media_session == had
            && matches!(&self.last, Some((s, _)) if s != "IDLE");
        Ok(!playing_on)
    }
}
