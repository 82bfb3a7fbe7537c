//! Plays the household queue on UPnP/DLNA renderers: when the queue's output is a renderer,
//! this follower tells it what to play (SetAVTransportURI with DIDL-Lite metadata, Play, Pause,
//! Stop, SetVolume), polls where it is, reports the position to the queue, moves the queue on
//! when a song ends, and gives up cleanly on a renderer that stops answering or pretends.
//!
//! Renderers cannot log in: each gets a signed link to one song, valid for a day, on the
//! server's address that reaches it. A song starts mid-way with the stream's `timeOffset`, which
//! every renderer can follow, rather than UPnP Seek, which many do badly on a live transcode.

use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::{select, Receiver};

use super::upnp::{self, Device};
use crate::app::db::Db;
use crate::app::outputs::Outputs;
use crate::app::queue::{queued_song, Command, Playback, Published, Queue};
use crate::app::users::Users;

/// The renderers found so far, by output id.
pub type Devices = Arc<Mutex<HashMap<String, Device>>>;

const POLL_EVERY: Duration = Duration::from_secs(1);
/// The pause between giving a renderer a new song and telling it to play.
const SETTLE: Duration = Duration::from_millis(200);
/// Failed calls in a row before a renderer counts as gone.
const MAX_FAILURES: u32 = 3;
/// How long a renderer may claim to play without its position moving.
const STUCK_AFTER: Duration = Duration::from_secs(10);
/// How long a stream link is valid.
const LINK_LIFE: i64 = 24 * 3600;

/// The renderer the queue plays on, and what it was told.
struct Active {
    id: String,
    device: Device,
    /// The entry loaded, with the queue's jump count it was loaded for.
    loaded: Option<(String, i64)>,
    /// Where the loaded stream starts in the song (ms), as renderers count from the stream's
    /// start.
    base_ms: i64,
    /// The renderer was seen playing the loaded entry (so a stop after it is the song's end).
    seen_playing: bool,
    last_position: Option<i64>,
    moved: Instant,
    failures: u32,
    volume: Option<u8>,
    playing: bool,
    /// The next song given ahead (SetNextAVTransportURI): its entry and URL.
    next: Option<(String, String)>,
    /// False once the renderer refused SetNextAVTransportURI: the end is found by polling.
    gapless: bool,
    /// The loaded song's URL, and whether the renderer was seen playing it: only a move from
    /// it to the next song's URL counts (some renderers report the next URL early).
    url: String,
    seen_url: bool,
    /// The MIME types it says it plays (`GetProtocolInfo`, asked once when it becomes the
    /// queue's output).
    accepts: Vec<String>,
}

pub struct Caster {
    queue: Arc<Queue>,
    db: Arc<Db>,
    users: Arc<Users>,
    outputs: Arc<Outputs>,
    devices: Devices,
    port: u16,
    agent: ureq::Agent,
    active: Option<Active>,
    version: i64,
}

impl Caster {
    pub fn start(
        queue: Arc<Queue>,
        db: Arc<Db>,
        users: Arc<Users>,
        outputs: Arc<Outputs>,
        devices: Devices,
        port: u16,
    ) -> Result<()> {
        let (tx, rx) = crossbeam_channel::unbounded::<Published>();
        let first = queue.follow_on_thread("lan-cast-watch", move |p| tx.send(p).is_ok())?;
        let mut caster = Caster {
            queue,
            db,
            users,
            outputs,
            devices,
            port,
            agent: upnp::agent(),
            active: None,
            version: -1,
        };
        std::thread::Builder::new()
            .name("lan-cast".into())
            .spawn(move || {
                caster.follow(&first);
                caster.run(rx);
            })?;
        Ok(())
    }

    fn run(&mut self, changes: Receiver<Published>) {
        let tick = crossbeam_channel::tick(POLL_EVERY);
        loop {
            select! {
                recv(changes) -> p => match p {
                    Ok(p) => self.follow(&p),
                    Err(_) => return,
                },
                recv(tick) -> _ => self.poll(),
            }
        }
    }

    fn run_command(&mut self, command: Command) {
        if let Ok(p) = self.queue.run(command, None) {
            self.follow(&p);
        }
    }

    /// Makes the renderer match the queue.
    fn follow(&mut self, published: &Published) {
        if published.version <= self.version {
            return;
        }
        self.version = published.version;
        let p = &published.playback;
        let wanted = p.output.as_deref().filter(|o| o.starts_with("upnp-"));
        if self.active.as_ref().map(|a| a.id.as_str()) != wanted {
            if let Some(old) = self.active.take() {
                // Handed to another output: this one stops.
                let _ = self.call(&old.device, "Stop", &[("InstanceID", "0")]);
            }
            let Some(id) = wanted else { return };
            let device = self
                .devices
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(id)
                .cloned();
            let Some(device) = device else {
                tracing::warn!(id, "the queue's renderer is not known (yet): paused");
                self.run_command(Command::Pause);
                return;
            };
            let accepts = self.accepts(&device);
            self.active = Some(Active {
                accepts,
                id: id.to_string(),
                device,
                loaded: None,
                base_ms: 0,
                seen_playing: false,
                last_position: None,
                moved: Instant::now(),
                failures: 0,
                volume: None,
                playing: false,
                next: None,
                gapless: true,
                url: String::new(),
                seen_url: false,
            });
        }
        if let Err(e) = self.apply(p) {
            self.failed(&format!("{e:#}"));
        }
    }

    fn apply(&mut self, p: &Playback) -> Result<()> {
        let Some(active) = self.active.as_ref() else {
            return Ok(());
        };
        let device = active.device.clone();
        if active.volume != Some(p.volume) && device.rendering_control.is_some() {
            let volume = p.volume.to_string();
            self.call_service(
                &device,
                Service::Rendering,
                "SetVolume",
                &[
                    ("InstanceID", "0"),
                    ("Channel", "Master"),
                    ("DesiredVolume", &volume),
                ],
            )?;
            if let Some(a) = self.active.as_mut() {
                a.volume = Some(p.volume);
            }
        }
        let wanted = p.entry.as_ref().map(|(e, _)| (e.clone(), p.jumps));
        let loaded = self.active.as_ref().and_then(|a| a.loaded.clone());
        let mut url = String::new();
        if wanted != loaded {
            match &p.entry {
                None => {
                    self.call(&device, "Stop", &[("InstanceID", "0")])?;
                }
                Some((entry, song)) => {
                    let (link, meta) = self.link(&device, entry, song, p.position_ms)?;
                    url = link;
                    if loaded.is_some() {
                        // A new URI while one plays makes some renderers fail the next Play
                        // (gmediarender answers 501): stop the old one first.
                        let _ = self.call(&device, "Stop", &[("InstanceID", "0")]);
                        std::thread::sleep(SETTLE);
                    }
                    self.call(
                        &device,
                        "SetAVTransportURI",
                        &[
                            ("InstanceID", "0"),
                            ("CurrentURI", &url),
                            ("CurrentURIMetaData", &meta),
                        ],
                    )?;
                    if p.playing {
                        // Some renderers (gmediarender) crash on a Play that races their own
                        // handling of the new URI: give them a moment.
                        std::thread::sleep(SETTLE);
                        let play = [("InstanceID", "0"), ("Speed", "1")];
                        if self.call(&device, "Play", &play).is_err() {
                            // Once more, a moment later, before counting it as a failure.
                            std::thread::sleep(SETTLE * 3);
                            self.call(&device, "Play", &play)?;
                        }
                    }
                }
            }
            if let Some(a) = self.active.as_mut() {
                a.loaded = wanted;
                a.base_ms = p.position_ms;
                a.seen_playing = false;
                a.last_position = None;
                a.moved = Instant::now();
                a.playing = p.playing;
                // A new URI clears what the renderer had queued.
                a.next = None;
                a.url = url;
                a.seen_url = false;
            }
        }
        self.prepare_next(&device, p)?;
        let was_playing = self.active.as_ref().is_some_and(|a| a.playing);
        if p.entry.is_some() && p.playing != was_playing {
            if p.playing {
                self.call(&device, "Play", &[("InstanceID", "0"), ("Speed", "1")])?;
            } else {
                self.call(&device, "Pause", &[("InstanceID", "0")])?;
            }
            if let Some(a) = self.active.as_mut() {
                a.playing = p.playing;
                a.moved = Instant::now();
            }
        }
        Ok(())
    }

    /// Gives the renderer the song after this one ahead, where it takes it (gapless).
    fn prepare_next(&mut self, device: &Device, p: &Playback) -> Result<()> {
        let Some(a) = self.active.as_ref() else {
            return Ok(());
        };
        let prepared = a.next.as_ref().map(|(e, _)| e.as_str());
        let upcoming = p.upcoming.as_ref().map(|(e, _)| e.as_str());
        if !a.gapless || p.entry.is_none() || prepared == upcoming {
            return Ok(());
        }
        let (next, url, meta) = match &p.upcoming {
            Some((entry, song)) => {
                let (url, meta) = self.link(device, entry, song, 0)?;
                (Some(entry.clone()), url, meta)
            }
            None => (None, String::new(), String::new()),
        };
        let taken = self
            .call(
                device,
                "SetNextAVTransportURI",
                &[
                    ("InstanceID", "0"),
                    ("NextURI", &url),
                    ("NextURIMetaData", &meta),
                ],
            )
            .is_ok();
        if let Some(a) = self.active.as_mut() {
            a.gapless = taken || next.is_none();
            a.next = next.filter(|_| taken).map(|e| (e, url));
        }
        Ok(())
    }

    /// Asks the renderer where it is: reports the position, notices the end of a song, a
    /// renderer that no longer answers, or one that claims to play without moving.
    fn poll(&mut self) {
        let Some(active) = self.active.as_ref() else {
            return;
        };
        if active.loaded.is_none() || !active.playing {
            return;
        }
        let device = active.device.clone();
        let state = match self.call(&device, "GetTransportInfo", &[("InstanceID", "0")]) {
            Ok(a) => a.get("CurrentTransportState").cloned().unwrap_or_default(),
            Err(e) => return self.failed(&format!("{e:#}")),
        };
        let (position, track) = match self.call(&device, "GetPositionInfo", &[("InstanceID", "0")])
        {
            Ok(a) => (
                a.get("RelTime").and_then(|t| parse_time(t)),
                a.get("TrackURI").cloned().unwrap_or_default(),
            ),
            Err(e) => return self.failed(&format!("{e:#}")),
        };
        let Some(a) = self.active.as_mut() else {
            return;
        };
        a.failures = 0;
        if track == a.url {
            a.seen_url = true;
        }
        // The renderer went on to the song given ahead: the queue follows, nothing to load.
        if a.seen_url && a.next.as_ref().is_some_and(|(_, url)| *url == track) {
            let (entry, _) = a.next.take().expect("checked above");
            tracing::debug!(renderer = %a.id, entry, "the renderer went on to the next song");
            if let Ok(p) = self.queue.run(Command::Ended, None) {
                if let Some(a) = self.active.as_mut() {
                    if p.playback.entry.as_ref().map(|(e, _)| e) == Some(&entry) {
                        a.loaded = Some((entry, p.playback.jumps));
                        a.url = track;
                        a.base_ms = 0;
                        a.seen_playing = true;
                        a.last_position = None;
                        a.moved = Instant::now();
                    }
                }
                self.follow(&p);
            }
            return;
        }
        match state.as_str() {
            "PLAYING" | "TRANSITIONING" => {
                if state == "PLAYING" {
                    a.seen_playing = true;
                }
                if position != a.last_position {
                    a.last_position = position;
                    a.moved = Instant::now();
                    if let Some(ms) = position {
                        let at = a.base_ms + ms;
                        self.run_command(Command::Position { position_ms: at });
                    }
                } else if a.moved.elapsed() >= STUCK_AFTER {
                    let why = "it says it is playing but its position does not move: it may not be able to fetch or play the stream";
                    tracing::warn!(renderer = %a.id, "{why}");
                    let id = a.id.clone();
                    self.outputs.speaker_lost(&id, why);
                    self.run_command(Command::Pause);
                }
            }
            "STOPPED" | "NO_MEDIA_PRESENT" if a.seen_playing => {
                // It played the song to its end.
                a.seen_playing = false;
                self.run_command(Command::Ended);
            }
            _ => {}
        }
    }

    /// A renderer that failed: after a few in a row it counts as gone, and the queue pauses
    /// where it was (nothing lost; it can go on elsewhere or when the renderer is back).
    fn failed(&mut self, why: &str) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        a.failures += 1;
        tracing::info!(renderer = %a.id, "a renderer call failed: {why}");
        if a.failures >= MAX_FAILURES {
            let id = a.id.clone();
            self.active = None;
            self.outputs
                .speaker_lost(&id, &format!("it stopped answering ({why})"));
            // Forgotten, so its next announcement is read afresh.
            self.devices
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            if let Ok(p) = self.queue.run(Command::Pause, None) {
                self.version = p.version;
            }
        }
    }

    fn call(
        &self,
        device: &Device,
        action: &str,
        args: &[(&str, &str)],
    ) -> Result<HashMap<String, String>> {
        self.call_service(device, Service::Transport, action, args)
    }

    fn call_service(
        &self,
        device: &Device,
        service: Service,
        action: &str,
        args: &[(&str, &str)],
    ) -> Result<HashMap<String, String>> {
        let s = match service {
            Service::Transport => device.av_transport.as_ref(),
            Service::Rendering => device.rendering_control.as_ref(),
            Service::Connections => device.connection_manager.as_ref(),
        }
        .ok_or_else(|| anyhow!("the renderer has no service for {action}"))?;
        upnp::action(&self.agent, s, action, args)
    }

    /// A signed link to `song` for queue entry `entry` (from `position_ms`) the active renderer
    /// can play, and its DIDL-Lite. The entry is in the link so that the same song queued twice
    /// gives two links: the renderer's current track URI tells which entry it plays.
    fn link(
        &self,
        device: &Device,
        entry: &str,
        song: &str,
        position_ms: i64,
    ) -> Result<(String, String)> {
        let row = queued_song(&self.db, song)?;
        let user = self
            .users
            .list()?
            .into_iter()
            .max_by_key(|u| (u.is_admin, -u.id))
            .ok_or_else(|| anyhow!("no user to stream as: add one with `houseband user add`"))?;
        let accepts = self.active.as_ref().map_or(&[][..], |a| &a.accepts[..]);
        // The file as it is when the renderer takes it and nothing starts mid-way; else MP3,
        // which every renderer plays.
        let raw = position_ms == 0 && accepts.iter().any(|m| m == &row.content_type || m == "*");
        let (format, mime) = if raw {
            ("", row.content_type.clone())
        } else {
            ("mp3", "audio/mpeg".to_string())
        };
        let expires = crate::app::db::now() + LINK_LIFE;
        let host = self.address_for(device)?;
        let mut url = format!(
            "http://{host}/api/stream/{song}?{}",
            self.users.stream_link(song, &user.name, format, expires)
        );
        url.push_str(&format!(
            "&entry={}",
            form_urlencoded::byte_serialize(entry.as_bytes()).collect::<String>()
        ));
        if position_ms > 0 {
            url.push_str(&format!("&timeOffset={:.3}", position_ms as f64 / 1000.0));
        }
        let seconds = (row.duration_ms - position_ms).max(0) / 1000;
        let duration = format!(
            "{}:{:02}:{:02}.000",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        );
        let e = upnp::escape;
        let meta = format!(
            r#"<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/"><item id="{}" parentID="0" restricted="1"><dc:title>{}</dc:title><upnp:artist>{}</upnp:artist><upnp:album>{}</upnp:album><upnp:class>object.item.audioItem.musicTrack</upnp:class><res protocolInfo="http-get:*:{}:*" duration="{duration}">{}</res></item></DIDL-Lite>"#,
            e(song),
            e(&row.title),
            e(&row.artist_display),
            e(&row.album_name),
            e(&mime),
            e(&url),
        );
        Ok((url, meta))
    }

    /// The MIME types the renderer says it plays (`GetProtocolInfo`), or none if it won't say.
    fn accepts(&self, device: &Device) -> Vec<String> {
        self.call_service(device, Service::Connections, "GetProtocolInfo", &[])
            .ok()
            .and_then(|a| a.get("Sink").cloned())
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.split(':').nth(2).map(|m| m.trim().to_string()))
            .collect()
    }

    /// This server's address (and port) on the interface that reaches the renderer.
    fn address_for(&self, device: &Device) -> Result<String> {
        let control = device
            .av_transport
            .as_ref()
            .map(|s| s.control_url.as_str())
            .unwrap_or("");
        let authority = control
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .ok_or_else(|| anyhow!("the renderer's address is unknown"))?;
        let target: std::net::SocketAddr = authority
            .parse()
            .or_else(|_| format!("{authority}:80").parse())
            .context("the renderer's address")?;
        let probe = UdpSocket::bind(("0.0.0.0", 0))?;
        // No packet is sent: connecting a UDP socket only picks the route.
        probe.connect(target)?;
        let ip: IpAddr = probe.local_addr()?.ip();
        Ok(format!("{ip}:{}", self.port))
    }
}

#[derive(Clone, Copy)]
enum Service {
    Transport,
    Rendering,
    Connections,
}

/// `H:MM:SS(.fff)` in ms.
fn parse_time(t: &str) -> Option<i64> {
    let mut parts = t.trim().split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(((h * 3600 + m * 60) as f64 * 1000.0 + s * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn renderer_times_are_read() {
        assert_eq!(super::parse_time("0:01:02"), Some(62_000));
        assert_eq!(super::parse_time("1:00:00.500"), Some(3_600_500));
        assert_eq!(super::parse_time("NOT_IMPLEMENTED"), None);
    }
}
