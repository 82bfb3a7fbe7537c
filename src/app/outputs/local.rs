//! The `local` output: the household queue played on the server's own sound card, through
//! rodio (cpal, ALSA on Linux) fed by the project's own decoder.
//!
//! One thread follows the queue and owns the sound device; the device's audio thread pulls
//! samples from a [`Deck`] holding the song playing and the next one, opened ahead. When a song
//! ends the deck moves to the next at once (no gap), and the follower tells the queue, which
//! moves on too and finds the output already there. The device is opened when the queue first
//! plays here and closed when the queue moves to another output, so a sound card is not held
//! while nothing plays on it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::{select, Receiver, Sender};

use crate::app::db::Db;
use crate::app::media::{decode, transcode, Media};
use crate::app::queue::{self, Command, Playback, Published, Queue};
use crate::config::ReplayGain;

/// The local output's id in the outputs list and in `set_output`.
pub const ID: &str = "local";
/// How often the playing position is told to the queue.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Songs in a row that fail to open before the follower stops trying (a queue of broken files
/// with repeat on would otherwise spin).
const MAX_FAILURES: u32 = 10;
/// How long the device stays open with nothing playing before it is closed.
const IDLE_CLOSE: Duration = Duration::from_secs(30);
/// Frames of silence handed to the device while nothing plays.
const SILENCE_FRAMES: usize = 1024;

/// What the follower thread hears about.
enum Event {
    /// The queue changed.
    Changed(Published),
    /// The deck finished the song of this entry and moved on to the next.
    Finished(String),
}

/// A song opened for playing.
struct Track {
    entry: String,
    source: decode::Source,
    /// Linear gain from ReplayGain (1.0 without).
    scale: f32,
    /// Where playing started, in ms, and the frames played since.
    start_ms: i64,
    frames: u64,
}

impl Track {
    fn position_ms(&self) -> i64 {
        self.start_ms + (self.frames * 1000 / self.source.rate.max(1) as u64) as i64
    }
}

/// What the audio thread plays: the current track and the next one.
#[derive(Default)]
struct Deck {
    current: Option<Track>,
    next: Option<Track>,
}

/// Shared between the follower and the audio thread.
struct Shared {
    deck: Mutex<Deck>,
    paused: AtomicBool,
    /// The volume as f32 bits (a factor, 0 to 1).
    volume: AtomicU32,
    /// Tells the follower a song finished.
    events: Sender<Event>,
}

impl Shared {
    fn deck(&self) -> MutexGuard<'_, Deck> {
        self.deck.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The rodio source the device pulls from: never ends; silence while paused or idle. Each
/// decoded block is its own span, so rodio converts each song's rate and channels itself.
struct DeckSource {
    shared: Arc<Shared>,
    block: Vec<f32>,
    at: usize,
    rate: u32,
    channels: u16,
}

impl DeckSource {
    fn refill(&mut self) {
        self.block.clear();
        self.at = 0;
        if !self.shared.paused.load(Ordering::Relaxed) {
            let mut deck = self.shared.deck();
            while let Some(track) = deck.current.as_mut() {
                match track.source.next_block(&mut self.block) {
                    Ok(true) if self.block.is_empty() => continue,
                    Ok(true) => {
                        let channels = track.source.channels.clamp(1, 64);
                        // A block always holds whole frames.
                        self.block.truncate(self.block.len() / channels * channels);
                        track.frames += (self.block.len() / channels) as u64;
                        self.rate = track.source.rate.max(1);
                        self.channels = channels as u16;
                        let scale = track.scale
                            * f32::from_bits(self.shared.volume.load(Ordering::Relaxed));
                        if scale != 1.0 {
                            self.block.iter_mut().for_each(|s| *s *= scale);
                        }
                        return;
                    }
                    end => {
                        if let Err(e) = end {
                            tracing::warn!(entry = %track.entry, "a song broke off while playing on the local output: {e:#}");
                        }
                        let finished = track.entry.clone();
                        deck.current = deck.next.take();
                        let _ = self.shared.events.send(Event::Finished(finished));
                    }
                }
            }
        }
        self.block
            .resize(SILENCE_FRAMES * self.channels as usize, 0.0);
    }
}

impl Iterator for DeckSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.at >= self.block.len() {
            self.refill();
        }
        let s = self.block[self.at];
        self.at += 1;
        Some(s)
    }
}

impl rodio::Source for DeckSource {
    fn current_span_len(&self) -> Option<usize> {
        Some(self.block.len())
    }

    fn channels(&self) -> rodio::ChannelCount {
        rodio::ChannelCount::new(self.channels).unwrap_or(rodio::ChannelCount::MIN)
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        rodio::SampleRate::new(self.rate).unwrap_or(rodio::SampleRate::MIN)
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

/// Whether the local output can play, as last found.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub available: bool,
    /// The device's name, or why there is none.
    pub detail: String,
}

/// The handle the rest of the app keeps.
pub struct Local {
    status: Arc<Mutex<Status>>,
}

impl Local {
    /// Starts following `queue`. The sound device is looked for in the background: until it
    /// is found, and for good if there is none, the output is unavailable.
    pub fn start(
        queue: Arc<Queue>,
        db: Arc<Db>,
        media: Arc<Media>,
        podcasts: Arc<crate::app::podcasts::Podcasts>,
        replay_gain: ReplayGain,
    ) -> Result<Local> {
        let status = Arc::new(Mutex::new(Status {
            available: false,
            detail: "looking for a sound device".into(),
        }));
        let (tx, rx) = crossbeam_channel::unbounded();
        let forward = tx.clone();
        let first = queue
            .follow_on_thread("local-output-watch", move |p| {
                forward.send(Event::Changed(p)).is_ok()
            })
            .context("cannot start the local output")?;
        let mut follower = Follower {
            queue,
            db,
            media,
            podcasts,
            replay_gain,
            status: status.clone(),
            shared: Arc::new(Shared {
                deck: Mutex::new(Deck::default()),
                paused: AtomicBool::new(true),
                volume: AtomicU32::new(1f32.to_bits()),
                events: tx,
            }),
            device: None,
            version: -1,
            playing: None,
            failures: 0,
            last_report: Instant::now(),
            idle_since: None,
        };
        std::thread::Builder::new()
            .name("local-output".into())
            .spawn(move || {
                follower.probe();
                follower.follow(&first);
                follower.run(rx);
            })
            .context("cannot start the local output")?;
        Ok(Local { status })
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The thread that follows the queue and owns the device.
struct Follower {
    queue: Arc<Queue>,
    db: Arc<Db>,
    media: Arc<Media>,
    podcasts: Arc<crate::app::podcasts::Podcasts>,
    replay_gain: ReplayGain,
    status: Arc<Mutex<Status>>,
    shared: Arc<Shared>,
    device: Option<rodio::MixerDeviceSink>,
    /// The queue's version last followed: news older than that is stale.
    version: i64,
    /// The entry the deck plays and the queue's jump count it was started for.
    playing: Option<(String, i64)>,
    failures: u32,
    last_report: Instant,
    /// Since when the open device has had nothing to play.
    idle_since: Option<Instant>,
}

impl Follower {
    fn set_status(&self, available: bool, detail: String) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = Status { available, detail };
    }

    /// Opens the default sound device once, to tell whether there is one.
    fn probe(&mut self) {
        match open_device() {
            Ok(device) => {
                tracing::info!("local output: {}", device_name(&device));
                self.set_status(true, device_name(&device));
            }
            Err(e) => {
                tracing::info!("no sound device, so the local output is unavailable: {e:#}");
                self.set_status(false, format!("{e:#}"));
            }
        }
    }

    fn run(&mut self, events: Receiver<Event>) {
        let tick = crossbeam_channel::tick(REPORT_EVERY / 4);
        loop {
            select! {
                recv(events) -> event => match event {
                    Ok(Event::Changed(p)) => self.follow(&p),
                    Ok(Event::Finished(entry)) => self.finished(&entry),
                    Err(_) => return,
                },
                recv(tick) -> _ => self.report(),
            }
        }
    }

    fn ours(p: &Playback) -> bool {
        p.output.as_deref() == Some(ID)
    }

    /// Makes the deck match the queue.
    fn follow(&mut self, published: &Published) {
        // The follower's own commands are followed as they return, before their news arrives.
        if published.version <= self.version {
            return;
        }
        self.version = published.version;
        let p = &published.playback;
        tracing::debug!(?p, "local output follows");
        if !Self::ours(p) {
            if self.device.is_some() {
                self.shared.paused.store(true, Ordering::SeqCst);
                *self.shared.deck() = Deck::default();
                self.playing = None;
                // Dropping it closes the device, for other programs to use.
                self.device = None;
            }
            return;
        }
        let volume = if p.muted {
            0.0
        } else {
            f32::from(p.volume) / 100.0
        };
        // A square curve: closer to how loudness is heard than a straight line.
        self.shared
            .volume
            .store((volume * volume).to_bits(), Ordering::Relaxed);
        if p.playing && self.device.is_none() {
            match open_device() {
                Ok(device) => {
                    device.mixer().add(DeckSource {
                        shared: self.shared.clone(),
                        block: vec![0.0; SILENCE_FRAMES * 2],
                        at: 0,
                        rate: 44_100,
                        channels: 2,
                    });
                    self.set_status(true, device_name(&device));
                    self.device = Some(device);
                }
                Err(e) => {
                    tracing::warn!("the local output cannot play: {e:#}");
                    self.set_status(false, format!("{e:#}"));
                    if let Ok(p) = self.queue.run(Command::Pause, None) {
                        self.version = p.version;
                    }
                    return;
                }
            }
        }
        let wanted = p.entry.as_ref().map(|(entry, _)| (entry.clone(), p.jumps));
        if wanted != self.playing {
            self.shared.paused.store(true, Ordering::SeqCst);
            self.shared.deck().current = None;
            let current = match &p.entry {
                Some((entry, song)) => match self.open(entry, song, p.position_ms) {
                    Ok(track) => Some(track),
                    Err(e) => {
                        self.playing = wanted;
                        self.failed(entry, &e);
                        return;
                    }
                },
                None => None,
            };
            self.shared.deck().current = current;
            self.playing = wanted;
            self.last_report = Instant::now();
        }
        // The next song, opened ahead.
        let prepared = self.shared.deck().next.as_ref().map(|t| t.entry.clone());
        let upcoming = p.upcoming.as_ref().map(|(entry, _)| entry.clone());
        if prepared != upcoming {
            let next = p
                .upcoming
                .as_ref()
                .and_then(|(entry, song)| self.open(entry, song, 0).ok());
            self.shared.deck().next = next;
        }
        self.shared
            .paused
            .store(!p.playing || self.device.is_none(), Ordering::SeqCst);
    }

    /// The deck finished `entry` and moved on by itself; the queue follows.
    fn finished(&mut self, entry: &str) {
        if self.playing.as_ref().map(|(e, _)| e.as_str()) != Some(entry) {
            return;
        }
        tracing::debug!(entry, "local output finished a song");
        self.failures = 0;
        let now_playing = self.shared.deck().current.as_ref().map(|t| t.entry.clone());
        let jumps = self.playing.as_ref().map(|(_, j)| *j);
        match self.queue.run(Command::Ended { jumps }, None) {
            Ok(p) => {
                // The deck is already on the queue's new entry: nothing to reopen.
                if let (Some((queued, _)), Some(deck)) = (&p.playback.entry, &now_playing) {
                    if queued == deck {
                        self.playing = Some((deck.clone(), p.playback.jumps));
                    }
                }
                self.follow(&p);
            }
            Err(e) => tracing::warn!("the local output could not move the queue on: {e}"),
        }
    }

    /// A song that cannot be played is skipped, as a player would; many in a row pause.
    fn failed(&mut self, entry: &str, e: &anyhow::Error) {
        tracing::warn!(entry, "the local output skips a song it cannot play: {e:#}");
        self.failures += 1;
        let command = if self.failures >= MAX_FAILURES {
            self.failures = 0;
            Command::Pause
        } else {
            Command::Ended {
                jumps: self.playing.as_ref().map(|(_, j)| *j),
            }
        };
        if let Ok(p) = self.queue.run(command, None) {
            self.follow(&p);
        }
    }

    /// Tells the queue where playback is, now and then; closes a device left idle.
    fn report(&mut self) {
        if self.device.is_none() {
            return;
        }
        if self.shared.paused.load(Ordering::Relaxed) {
            let since = *self.idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= IDLE_CLOSE {
                // Reopened when the queue plays again; the deck keeps its place.
                self.device = None;
                self.idle_since = None;
            }
            return;
        }
        self.idle_since = None;
        if self.last_report.elapsed() < REPORT_EVERY {
            return;
        }
        self.last_report = Instant::now();
        let position = {
            let deck = self.shared.deck();
            match (&deck.current, &self.playing) {
                (Some(t), Some((entry, _))) if &t.entry == entry => t.position_ms(),
                _ => return,
            }
        };
        if let Ok(p) = self.queue.run(
            Command::Position {
                position_ms: position,
                jumps: self.playing.as_ref().map(|(_, j)| *j),
            },
            None,
        ) {
            self.version = self.version.max(p.version);
        }
    }

    /// Opens song `song` (an id such as `tr-12`) at `position_ms`.
    fn open(&self, entry: &str, song: &str, position_ms: i64) -> Result<Track> {
        let row = queue::queued_audio(&self.db, &self.podcasts, song)?;
        let path = self.media.file_of(&row.file())?;
        let mut source = decode::Source::open(&path)?;
        if position_ms > 0 {
            source.seek(position_ms as f64 / 1000.0)?;
        }
        Ok(Track {
            entry: entry.to_string(),
            source,
            scale: transcode::gain_factor(row.gain(self.replay_gain)),
            start_ms: position_ms,
            frames: 0,
        })
    }
}

fn open_device() -> Result<rodio::MixerDeviceSink> {
    let mut device = rodio::DeviceSinkBuilder::from_default_device()
        .and_then(|b| b.open_sink_or_fallback())
        .map_err(|e| anyhow!("{e}"))?;
    device.log_on_drop(false);
    Ok(device)
}

fn device_name(device: &rodio::MixerDeviceSink) -> String {
    let c = device.config();
    format!(
        "the default sound device ({} Hz, {} channels)",
        c.sample_rate(),
        c.channel_count()
    )
}
