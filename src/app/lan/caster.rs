//! Plays the household queue on network speakers. When the queue's output is a speaker (a
//! UPnP/DLNA renderer or a Google Cast device), this follower tells it what to play, where to
//! be, how loud; asks where it is every second, reports the position to the queue, moves the
//! queue on when a song ends, and gives up cleanly on a speaker that stops answering or
//! pretends. How each kind of speaker is spoken to is behind [`Speaker`].
//!
//! Speakers cannot log in: each gets a signed link to one song, valid for a day, on the
//! server's address that reaches it. A song starts mid-way with the stream's `timeOffset`, which
//! every speaker can follow, rather than a seek, which many do badly on a live transcode.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use crossbeam_channel::{select, Receiver};

use super::gena::Events;
use super::upnp;
use crate::app::db::Db;
use crate::app::library::browse;
use crate::app::outputs::Outputs;
use crate::app::queue::{queued_audio, Command, Playback, Published, Queue};
use crate::app::users::{Users, LINK_ART, LINK_STREAM};

/// A speaker found on the network, as discovery describes it.
#[derive(Debug, Clone)]
pub enum Target {
    Upnp(Box<upnp::Device>),
    GoogleCast(SocketAddr),
    AirPlay(Box<super::airplay::Receiver>),
}

/// The speakers found so far, by output id.
pub type Devices = Arc<Mutex<HashMap<String, Target>>>;

/// Whether an output id names a speaker this follower plays on.
pub fn is_speaker(output: &str) -> bool {
    output.starts_with("upnp-") || output.starts_with("cast-") || output.starts_with("airplay-")
}

/// What a speaker is told to play: a stream link and what to show about it.
#[derive(Debug, Clone)]
pub struct Media {
    /// The song's id.
    pub id: String,
    pub url: String,
    pub mime: String,
    pub title: String,
    pub artist: String,
    pub album: String,
    /// A picture of the album, if the library has one.
    pub art: Option<String>,
    /// The length of the stream (the song from where it starts).
    pub duration_ms: i64,
    /// Where the stream starts in the song.
    pub start_ms: i64,
    /// The file as it is, from its start: the speaker can seek in it (byte ranges).
    pub seekable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Playing,
    Paused,
    /// Loading or buffering.
    Loading,
    /// Nothing playing: at the end of a song, or never started.
    Stopped,
    /// Someone else took the speaker over (another app, its own remote).
    Interrupted(String),
    /// It could not play the song.
    Failed(String),
}

/// Where a speaker is.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    /// From the start of the stream.
    pub position_ms: Option<i64>,
    /// The stream it plays.
    pub track: String,
}

/// A song the speaker cannot be given or refused (gone from the library, a format it cannot
/// play): the song is skipped, where a failed call counts against the speaker.
#[derive(Debug)]
pub struct SongProblem(pub String);

impl std::fmt::Display for SongProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SongProblem {}

/// One kind of network speaker, as the follower drives it. Calls block, with timeouts.
pub trait Speaker: Send {
    /// Where it is on the network.
    fn address(&self) -> SocketAddr;
    /// Gets ready to play: connects, learns what it plays.
    fn open(&mut self) -> Result<()>;
    /// Whether it plays this MIME type as it is.
    fn plays(&self, mime: &str) -> bool;
    /// Loads `media`, replacing what it had (`replacing`), and plays it if `play`.
    fn load(&mut self, media: &Media, replacing: bool, play: bool) -> Result<()>;
    /// Gives it the song to play after this one, for no gap; false if it cannot.
    fn load_next(&mut self, _next: Option<&Media>) -> Result<bool> {
        Ok(false)
    }
    /// Moves to `position_ms` in what it plays; false if it cannot (the song is then loaded
    /// again from there).
    fn seek(&mut self, _position_ms: i64) -> Result<bool> {
        Ok(false)
    }
    fn play(&mut self) -> Result<()>;
    fn pause(&mut self) -> Result<()>;
    fn stop(&mut self) -> Result<()>;
    /// 0 to 100.
    fn set_volume(&mut self, volume: u8) -> Result<()>;
    fn set_muted(&mut self, muted: bool) -> Result<()>;
    fn status(&mut self) -> Result<Status>;
    /// Every second, playing or not: keep-alives and news from the speaker.
    fn tick(&mut self) -> Result<()> {
        Ok(())
    }
    /// After a failed call: connects afresh if the connection broke. True if what it played
    /// was lost, so the song must be loaded again.
    fn reconnect(&mut self) -> Result<bool> {
        Ok(false)
    }
}

const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long a speaker given the next song ahead may report STOPPED before that is the end.
const STOPPED_BETWEEN_SONGS: Duration = Duration::from_millis(1500);
/// The shortest time between two looks at a speaker woken by its events.
const EVENT_POLL_GAP: Duration = Duration::from_millis(200);
/// Failed calls in a row before a speaker counts as gone.
const MAX_FAILURES: u32 = 3;
/// How long a speaker may claim to play without its position moving.
const STUCK_AFTER: Duration = Duration::from_secs(10);
/// A speaker that stops further than this from the song's end was stopped, not finished.
const STOPPED_EARLY_MS: i64 = 10_000;
/// Songs in a row a speaker could not play before the queue pauses.
const MAX_SONG_FAILURES: u32 = 5;
/// How long a stream link is valid.
const LINK_LIFE: i64 = 24 * 3600;

/// The speaker the queue plays on, and what it was told.
struct Active {
    id: String,
    speaker: Box<dyn Speaker>,
    /// The entry loaded, with the queue's jump count it was loaded for.
    loaded: Option<(String, i64)>,
    /// Where the loaded stream starts in the song (ms), as speakers count from the stream's
    /// start.
    base_ms: i64,
    /// The loaded stream's length (ms).
    length_ms: i64,
    /// The loaded stream is the file as it is, from its start (a seek can stay in it).
    seekable: bool,
    /// Since when it has reported being stopped while a next song was given ahead.
    stopped_since: Option<Instant>,
    /// The speaker was seen playing the loaded entry (so a stop after it is the song's end).
    seen_playing: bool,
    last_position: Option<i64>,
    moved: Instant,
    /// It was seen playing since it was last told to load, play or pause: a pause now is
    /// someone else's.
    confirmed: bool,
    /// A command to it failed: it may not match the queue, which is applied again.
    behind: bool,
    failures: u32,
    song_failures: u32,
    volume: Option<u8>,
    muted: Option<bool>,
    playing: bool,
    /// The next song given ahead: its entry and URL.
    next: Option<(String, String, i64, bool)>,
    /// False once the speaker refused a next song: the end is found by asking.
    gapless: bool,
    /// The loaded song's URL, and whether the speaker was seen playing it: only a move from
    /// it to the next song's URL counts (some renderers report the next URL early).
    url: String,
    seen_url: bool,
}

/// What the follower works with.
pub struct Context {
    pub queue: Arc<Queue>,
    pub db: Arc<Db>,
    pub users: Arc<Users>,
    pub outputs: Arc<Outputs>,
    pub devices: Devices,
    pub events: Arc<Events>,
    /// Downloaded podcast episodes are queued too.
    pub podcasts: Arc<crate::app::podcasts::Podcasts>,
    /// The port this server listens on.
    pub port: u16,
    /// Songs' files, for the speakers sent audio rather than a link (AirPlay).
    pub library: super::airplay::Library,
}

pub struct Caster {
    ctx: Context,
    active: Option<Active>,
    version: i64,
    polled: Instant,
    /// A look asked for before the next tick: by an event (put off to keep looks apart), or
    /// at the time a song should end.
    soon: Option<Instant>,
}

impl Caster {
    pub fn start(c: Context) -> Result<()> {
        let (tx, rx) = crossbeam_channel::unbounded::<Published>();
        let first = c
            .queue
            .follow_on_thread("lan-cast-watch", move |p| tx.send(p).is_ok())?;
        let mut caster = Caster {
            ctx: c,
            active: None,
            version: -1,
            polled: Instant::now(),
            soon: None,
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
        let events = self.ctx.events.clone();
        loop {
            let due = match self.soon {
                Some(at) => crossbeam_channel::at(at),
                None => crossbeam_channel::never(),
            };
            select! {
                recv(changes) -> p => match p {
                    Ok(p) => self.follow(&p),
                    Err(_) => return,
                },
                recv(tick) -> _ => self.poll(),
                // A renderer's event: look now rather than at the next tick (but not more
                // often than a few times a second, whatever a renderer sends).
                recv(events.woken()) -> _ => {
                    if self.polled.elapsed() >= EVENT_POLL_GAP {
                        self.poll();
                    } else {
                        self.soon = Some(self.polled + EVENT_POLL_GAP);
                    }
                }
                recv(due) -> _ => {
                    self.soon = None;
                    if self.polled.elapsed() >= EVENT_POLL_GAP {
                        self.poll();
                    }
                }
            }
        }
    }

    fn run_command(&mut self, command: Command) {
        if let Ok(p) = self.ctx.queue.run(command, None) {
            self.follow(&p);
        }
    }

    /// Makes the speaker match the queue.
    fn follow(&mut self, published: &Published) {
        if published.version <= self.version {
            return;
        }
        self.version = published.version;
        let p = &published.playback;
        let wanted = p.output.as_deref().filter(|o| is_speaker(o));
        if self.active.as_ref().map(|a| a.id.as_str()) != wanted {
            if let Some(mut old) = self.active.take() {
                // Handed to another output: this one stops.
                let _ = old.speaker.stop();
            }
            let Some(id) = wanted else { return };
            let target = self
                .ctx
                .devices
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(id)
                .cloned();
            let Some(target) = target else {
                tracing::warn!(id, "the queue's speaker is not known (yet): paused");
                self.pause_here_if(Some(id));
                return;
            };
            let mut speaker: Box<dyn Speaker> = match target {
                Target::Upnp(device) => Box::new(super::renderer::Renderer::new(
                    *device,
                    self.ctx.events.clone(),
                    self.ctx.port,
                )),
                Target::GoogleCast(address) => {
                    Box::new(super::googlecast::CastDevice::new(address))
                }
                Target::AirPlay(receiver) => Box::new(super::airplay::AirPlay::new(
                    *receiver,
                    self.ctx.library.clone(),
                )),
            };
            if let Err(e) = speaker.open() {
                let why = format!("{e:#}");
                tracing::warn!(id, "the speaker cannot be reached: {why}");
                self.ctx
                    .outputs
                    .speaker_lost(id, &format!("it cannot be reached ({why})"));
                self.forget(id);
                self.pause_here_if(Some(id));
                return;
            }
            self.active = Some(Active {
                id: id.to_string(),
                speaker,
                loaded: None,
                base_ms: 0,
                length_ms: 0,
                seekable: false,
                stopped_since: None,
                seen_playing: false,
                last_position: None,
                moved: Instant::now(),
                confirmed: false,
                behind: false,
                failures: 0,
                song_failures: 0,
                volume: None,
                muted: None,
                playing: false,
                next: None,
                gapless: true,
                url: String::new(),
                seen_url: false,
            });
        }
        if let Err(e) = self.apply(p) {
            self.apply_failed(e);
        }
    }

    /// A song problem skips the song (many in a row pause the queue); anything else counts
    /// against the speaker, and the queue is applied again at the next tick.
    fn apply_failed(&mut self, e: anyhow::Error) {
        let Some(problem) = e.downcast_ref::<SongProblem>() else {
            if let Some(a) = self.active.as_mut() {
                a.behind = true;
            }
            return self.failed(&format!("{e:#}"));
        };
        let why = problem.0.clone();
        let jumps = self.ctx.queue.published().playback.jumps;
        self.song_failed(&why, Some(jumps));
    }

    /// The current song cannot be played on the speaker: skipped, as a player would; after
    /// [`MAX_SONG_FAILURES`] in a row the queue pauses.
    fn song_failed(&mut self, why: &str, jumps: Option<i64>) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        a.song_failures += 1;
        tracing::warn!(speaker = %a.id, "the speaker cannot play a song: {why}");
        a.seen_playing = false;
        if a.song_failures >= MAX_SONG_FAILURES {
            a.song_failures = 0;
            a.playing = false;
            self.run_command(Command::Pause);
        } else {
            self.run_command(Command::Ended { jumps });
        }
    }

    fn apply(&mut self, p: &Playback) -> Result<()> {
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        if a.volume != Some(p.volume) {
            a.speaker.set_volume(p.volume)?;
            a.volume = Some(p.volume);
        }
        if a.muted != Some(p.muted) {
            a.speaker.set_muted(p.muted)?;
            a.muted = Some(p.muted);
        }
        let wanted = p.entry.as_ref().map(|(e, _)| (e.clone(), p.jumps));
        let same_song = matches!((&wanted, &a.loaded), (Some((e, _)), Some((l, _))) if e == l);
        if wanted != a.loaded
            && same_song
            && a.seekable
            && a.speaker.seek(p.position_ms).unwrap_or(false)
        {
            // A seek in the file it has: it goes there itself (by a byte range, for most).
            a.loaded = wanted;
            a.stopped_since = None;
            a.last_position = None;
            a.moved = Instant::now();
            a.confirmed = false;
        } else if wanted != a.loaded {
            let mut url = String::new();
            match &p.entry {
                None => a.speaker.stop()?,
                Some((entry, song)) => {
                    let media = self
                        .media(entry, song, p.position_ms)
                        .map_err(|e| anyhow::Error::new(SongProblem(format!("{e:#}"))))?;
                    let a = self.active.as_mut().expect("checked above");
                    a.speaker.load(&media, a.loaded.is_some(), p.playing)?;
                    a.length_ms = media.duration_ms;
                    a.seekable = media.seekable;
                    url = media.url;
                }
            }
            let a = self.active.as_mut().expect("checked above");
            a.loaded = wanted;
            a.base_ms = p.position_ms;
            a.stopped_since = None;
            a.seen_playing = false;
            a.last_position = None;
            a.moved = Instant::now();
            a.playing = p.playing;
            a.confirmed = false;
            // A new song clears what the speaker had queued.
            a.next = None;
            a.url = url;
            a.seen_url = false;
        }
        self.prepare_next(p)?;
        let a = self.active.as_mut().expect("checked above");
        if p.entry.is_some() && p.playing != a.playing {
            if p.playing {
                a.speaker.play()?;
            } else {
                a.speaker.pause()?;
            }
            a.playing = p.playing;
            a.moved = Instant::now();
            a.confirmed = false;
        }
        Ok(())
    }

    /// Gives the speaker the song after this one ahead, where it takes it (gapless).
    fn prepare_next(&mut self, p: &Playback) -> Result<()> {
        let Some(a) = self.active.as_ref() else {
            return Ok(());
        };
        let prepared = a.next.as_ref().map(|(e, ..)| e.as_str());
        let upcoming = p.upcoming.as_ref().map(|(e, _)| e.as_str());
        // Only once it plays what it was last given: a renderer still starting a song can
        // hang on a next song given at the same moment (gmediarender does, now and then).
        if !a.gapless || p.entry.is_none() || prepared == upcoming || !a.confirmed {
            return Ok(());
        }
        let next = match &p.upcoming {
            Some((entry, song)) => match self.media(entry, song, 0) {
                Ok(m) => Some((entry.clone(), m)),
                // Found again when it is the current song (and skipped then).
                Err(_) => return Ok(()),
            },
            None => None,
        };
        let a = self.active.as_mut().expect("checked above");
        let taken = a
            .speaker
            .load_next(next.as_ref().map(|(_, m)| m))
            .unwrap_or(false);
        a.gapless = taken || next.is_none();
        a.next = next
            .filter(|_| taken)
            .map(|(e, m)| (e, m.url, m.duration_ms, m.seekable));
        Ok(())
    }

    /// Asks the speaker where it is: reports the position, notices the end of a song, a
    /// speaker that no longer answers, or one that claims to play without moving.
    fn poll(&mut self) {
        self.polled = Instant::now();
        let Some(a) = self.active.as_mut() else {
            return;
        };
        if let Err(e) = a.speaker.tick() {
            return self.failed(&format!("{e:#}"));
        }
        if a.behind {
            a.behind = false;
            let p = self.ctx.queue.published();
            if let Err(e) = self.apply(&p.playback) {
                self.apply_failed(e);
            }
            return;
        }
        if a.loaded.is_none() || !a.playing {
            return;
        }
        let status = match a.speaker.status() {
            Ok(s) => s,
            Err(e) => return self.failed(&format!("{e:#}")),
        };
        a.failures = 0;
        tracing::trace!(speaker = %a.id, ?status, loaded = ?a.loaded, playing = a.playing, "status");
        // What the reports below are about: the queue drops them if it jumped since.
        let jumps = a.loaded.as_ref().map(|(_, j)| *j);
        if status.track == a.url {
            a.seen_url = true;
        }
        // The speaker went on to the song given ahead: the queue follows, nothing to load.
        if a.seen_url
            && a.next
                .as_ref()
                .is_some_and(|(_, url, ..)| *url == status.track)
        {
            let (entry, _, length_ms, seekable) = a.next.take().expect("checked above");
            tracing::debug!(speaker = %a.id, entry, "the speaker went on to the next song");
            if let Ok(p) = self.ctx.queue.run(Command::Ended { jumps }, None) {
                if let Some(a) = self.active.as_mut() {
                    if p.playback.entry.as_ref().map(|(e, _)| e) == Some(&entry) {
                        a.loaded = Some((entry, p.playback.jumps));
                        a.url = status.track;
                        a.base_ms = 0;
                        a.length_ms = length_ms;
                        a.seekable = seekable;
                        a.stopped_since = None;
                        a.seen_playing = true;
                        a.last_position = None;
                        a.moved = Instant::now();
                    }
                }
                self.follow(&p);
            }
            return;
        }
        if status.state != State::Stopped {
            a.stopped_since = None;
        }
        match status.state {
            State::Playing | State::Loading => {
                if status.state == State::Playing {
                    a.seen_playing = true;
                    a.song_failures = 0;
                    if !a.confirmed {
                        a.confirmed = true;
                        // The next song can be given now (see `prepare_next`).
                        let p = self.ctx.queue.published();
                        if let Err(e) = self.prepare_next(&p.playback) {
                            tracing::debug!("the next song is not given ahead: {e:#}");
                        }
                        return;
                    }
                }
                // A hostile speaker's figures stay within a day.
                let position = status.position_ms.map(|ms| ms.clamp(0, 86_400_000));
                if position != a.last_position {
                    a.last_position = position;
                    a.moved = Instant::now();
                    if let Some(ms) = position {
                        let at = a.base_ms + ms;
                        // A speaker that cannot go on by itself is looked at when the song
                        // should end, not up to a tick later.
                        let left = a.length_ms - ms;
                        if a.next.is_none() && (0..POLL_EVERY.as_millis() as i64).contains(&left) {
                            self.soon =
                                Some(Instant::now() + Duration::from_millis(left as u64 + 50));
                        }
                        self.run_command(Command::Position {
                            position_ms: at,
                            jumps,
                        });
                    }
                } else if position.is_some() && a.moved.elapsed() >= STUCK_AFTER {
                    // (A speaker that gives no position at all tells nothing either way.)
                    let why = "it says it is playing but its position does not move: it may not be able to fetch or play the stream";
                    tracing::warn!(speaker = %a.id, "{why}");
                    let id = a.id.clone();
                    self.ctx.outputs.speaker_lost(&id, why);
                    self.run_command(Command::Pause);
                }
            }
            // Between two songs given ahead some renderers report a moment of STOPPED: it
            // counts as the end only if it lasts (they go on by themselves otherwise).
            State::Stopped
                if a.seen_playing
                    && a.next.is_some()
                    && a.stopped_since.get_or_insert_with(Instant::now).elapsed()
                        < STOPPED_BETWEEN_SONGS =>
            {
                self.soon = Some(Instant::now() + STOPPED_BETWEEN_SONGS);
            }
            State::Stopped
                if a.seen_playing
                    && a.last_position
                        .is_some_and(|ms| a.length_ms - ms > STOPPED_EARLY_MS) =>
            {
                // Far from the song's end: stopped on the speaker itself, not finished.
                tracing::info!(speaker = %a.id, "stopped on the speaker itself: the queue pauses");
                a.seen_playing = false;
                a.playing = false;
                a.loaded = None;
                self.pause_here_if(None);
            }
            State::Stopped if a.seen_playing => {
                // It played the song to its end.
                a.seen_playing = false;
                a.stopped_since = None;
                self.run_command(Command::Ended { jumps });
            }
            // A song it never started.
            State::Stopped if a.playing && a.moved.elapsed() >= STUCK_AFTER => {
                let why =
                    "it did not start the song: it may not be able to fetch or play the stream";
                self.song_failed(why, jumps);
            }
            State::Interrupted(why) => {
                tracing::info!(speaker = %a.id, "the speaker was taken over: {why}");
                a.playing = false;
                // What it played is gone: a resume loads the song again, where the queue is.
                a.loaded = None;
                self.pause_here_if(None);
            }
            State::Failed(why) => self.song_failed(&why, jumps),
            State::Paused if a.confirmed => {
                tracing::info!(speaker = %a.id, "paused on the speaker itself: the queue pauses");
                a.playing = false;
                let at = a.last_position.map(|ms| a.base_ms + ms);
                if let Some(position_ms) = at {
                    self.run_command(Command::Position { position_ms, jumps });
                }
                self.run_command(Command::Pause);
            }
            State::Paused | State::Stopped => {}
        }
    }

    /// A speaker call failed: it may reconnect (and play on from the queue's position); after
    /// a few failures in a row it counts as gone, and the queue pauses where it was (nothing
    /// lost; it can go on elsewhere or when the speaker is back).
    fn failed(&mut self, why: &str) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        a.failures += 1;
        tracing::info!(speaker = %a.id, "a speaker call failed: {why}");
        if a.failures < MAX_FAILURES {
            match a.speaker.reconnect() {
                Ok(false) => {}
                Ok(true) => {
                    tracing::info!(speaker = %a.id, "reconnected: playing on where the queue is");
                    a.loaded = None;
                    a.volume = None;
                    a.muted = None;
                    let p = self.ctx.queue.published();
                    if let Err(e) = self.apply(&p.playback) {
                        self.failed(&format!("{e:#}"));
                    }
                }
                Err(e) => tracing::info!(speaker = %a.id, "cannot reconnect yet: {e:#}"),
            }
            return;
        }
        let id = a.id.clone();
        self.active = None;
        self.ctx
            .outputs
            .speaker_lost(&id, &format!("it stopped answering ({why})"));
        self.forget(&id);
        self.pause_here_if(Some(&id));
    }

    /// Pauses the queue if it still plays on speaker `id` (the active one when None), without
    /// following the change: following it would only look for the lost speaker again. If the
    /// queue moved to another output meanwhile, that change is followed as it comes.
    fn pause_here_if(&mut self, id: Option<&str>) {
        let id = match id {
            Some(id) => id.to_string(),
            None => match &self.active {
                Some(a) => a.id.clone(),
                None => return,
            },
        };
        if self.ctx.queue.published().playback.output.as_deref() != Some(id.as_str()) {
            return;
        }
        if let Ok(p) = self.ctx.queue.run(Command::Pause, None) {
            self.version = self.version.max(p.version);
        }
    }

    /// A renderer is forgotten, so its next announcement is read afresh. A Cast device or an
    /// AirPlay receiver is kept: mDNS may not announce it again while its records hold, so it is
    /// looked for instead ([`super::revive_cast_devices`]).
    fn forget(&self, id: &str) {
        if id.starts_with("cast-") || id.starts_with("airplay-") {
            return;
        }
        self.ctx
            .devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// A signed link to `song` for queue entry `entry` (from `position_ms`) that the active
    /// speaker plays, and what to show about it. The entry is in the link so that the same
    /// song queued twice gives two links: the speaker's current track tells which entry it
    /// plays.
    fn media(&self, entry: &str, song: &str, position_ms: i64) -> Result<Media> {
        let a = self.active.as_ref().ok_or_else(|| anyhow!("no speaker"))?;
        let row = queued_audio(&self.ctx.db, &self.ctx.podcasts, song)?;
        let user = self
            .ctx
            .users
            .list()?
            .into_iter()
            .max_by_key(|u| (u.is_admin, -u.id))
            .ok_or_else(|| anyhow!("no user to stream as: add one with `houseband user add`"))?;
        // The file as it is when the speaker takes it and nothing starts mid-way; else MP3,
        // which every speaker plays.
        let raw = position_ms == 0 && a.speaker.plays(&row.content_type);
        let (format, mime) = if raw {
            ("", row.content_type.clone())
        } else {
            ("mp3", "audio/mpeg".to_string())
        };
        let expires = crate::app::db::now() + LINK_LIFE;
        let host = address_for(a.speaker.address(), self.ctx.port)?;
        let mut url = format!(
            "http://{host}/api/stream/{song}?{}",
            self.ctx
                .users
                .stream_link(LINK_STREAM, song, &user.name, format, expires)
        );
        url.push_str(&format!(
            "&entry={}",
            form_urlencoded::byte_serialize(entry.as_bytes()).collect::<String>()
        ));
        if position_ms > 0 {
            url.push_str(&format!("&timeOffset={:.3}", position_ms as f64 / 1000.0));
        }
        // An episode's picture is its channel's.
        let has_art = if song.starts_with("pe-") {
            self.ctx
                .podcasts
                .episode(row.id)?
                .is_some_and(|e| self.ctx.podcasts.art_of(e.channel_id).is_some())
        } else {
            browse::track_art(&mut *self.ctx.db.read()?, row.id, &browse::Scope::all())?.is_some()
        };
        let art = has_art.then(|| {
            format!(
                "http://{host}/api/art/{song}?size=600&{}",
                self.ctx
                    .users
                    .stream_link(LINK_ART, song, &user.name, "", expires)
            )
        });
        Ok(Media {
            id: song.to_string(),
            url,
            mime,
            title: row.title.clone(),
            artist: row.artist_display.clone(),
            album: row.album_name.clone(),
            art,
            duration_ms: (row.duration_ms - position_ms).max(0),
            start_ms: position_ms,
            seekable: raw,
        })
    }
}

/// This server's address and `port` on the interface that reaches `speaker`.
pub fn address_for(speaker: SocketAddr, port: u16) -> Result<String> {
    let probe = UdpSocket::bind(("0.0.0.0", 0))?;
    // No packet is sent: connecting a UDP socket only picks the route.
    probe.connect(speaker)?;
    let ip: IpAddr = probe.local_addr()?.ip();
    Ok(format!("{ip}:{port}"))
}
