//! An AirPlay 1 receiver as a [`Speaker`]. Unlike renderers and Cast devices, which fetch a
//! link, an AirPlay receiver is sent the audio: this speaker decodes the song itself (the
//! project's decoder, fitted to 44.1 kHz stereo with the song's ReplayGain) and a thread per
//! session sends it over RTP in real time, two seconds ahead of what is heard, with a sync packet
//! every second; it answers the receiver's timing and resend requests. The wire is
//! [`super::raop`].
//!
//! Where the song is comes from the clock: what was sent, less the receiver's latency. A pause
//! flushes what the receiver holds (up to two seconds not yet heard) and a resume sends those
//! frames again from a ring of recent packets, so nothing is skipped. The song after the current
//! one is decoded on as soon as it is given, so songs follow with no gap, and the receiver is
//! told each song's title, artist, album, cover and progress as it starts.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use super::caster::{Media, SongProblem, Speaker, State, Status};
use super::raop::{self, NtpClock, Rtsp, FRAMES_PER_PACKET, LATENCY_FRAMES, RATE};
use crate::app::db::Db;
use crate::app::media::{decode, transcode};
use crate::config::ReplayGain;

/// How far ahead of the sender's clock packets go out: room for a busy machine.
const LEAD_FRAMES: u64 = RATE as u64 / 2;
/// Packets kept to answer resend requests and to send again after a pause (about 8 s).
const RING: usize = 1024;
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// A keep-alive while nothing is sent: receivers drop a silent session after a while.
const KEEP_ALIVE: Duration = Duration::from_secs(20);
/// The largest cover sent (receivers show a small picture).
const MAX_ART: u64 = 1024 * 1024;

/// An AirPlay receiver as discovery describes it.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub address: SocketAddr,
    /// It shows text (`md` has 0), covers (1), progress (2).
    pub text: bool,
    pub artwork: bool,
    pub progress: bool,
}

/// What the speaker needs from the application.
#[derive(Clone)]
pub struct Library {
    pub db: Arc<Db>,
    pub media: Arc<crate::app::media::Media>,
    pub podcasts: Arc<crate::app::podcasts::Podcasts>,
    pub replay_gain: ReplayGain,
}

pub struct AirPlay {
    receiver: Receiver,
    library: Library,
    session: Option<Session>,
    volume: u8,
    muted: bool,
    /// The songs given (the current one and the next), for what the receiver shows.
    songs: Vec<Media>,
    /// The song whose metadata the receiver was last told (its link).
    told: String,
    pinged: Instant,
}

struct Session {
    rtsp: Rtsp,
    stream: Arc<Mutex<Stream>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.rtsp.teardown();
    }
}

/// A packet sent, kept for resends and for a resume.
struct Sent {
    seq: u16,
    content: u64,
    packet: Vec<u8>,
}

/// The audio stream of a session, shared by the speaker and its sending thread.
struct Stream {
    audio_to: SocketAddr,
    control_to: SocketAddr,
    ssrc: u32,
    seq: u16,
    /// The next RTP time to send (kept wide; sent as its low 32 bits).
    wire: u64,
    /// While playing: the sender's clock read `wire` time `.1` at `.0`.
    anchor: Option<(Instant, u64)>,
    /// The first packet and sync after a start or a flush are marked.
    marker: bool,
    first_sync: bool,
    synced: Instant,
    /// Where this run starts: wire time and content frame, for what is heard.
    run: (u64, u64),
    /// Content frames count the audio from the song loaded (the next follows on).
    current: Option<transcode::Fitted>,
    upcoming: Option<(transcode::Fitted, String)>,
    /// Where each song starts, in content frames, and its link.
    songs: Vec<(u64, String)>,
    /// The next content frame to send.
    content: u64,
    /// Where the audio ends (nothing given after it).
    end: Option<u64>,
    /// Where it was when paused.
    paused_at: u64,
    /// Packets to send again after a resume (their content frame and payload).
    replay: VecDeque<(u64, Vec<u8>)>,
    ring: VecDeque<Sent>,
    samples: Vec<f32>,
    block: Vec<f32>,
    /// Why sending failed.
    failed: Option<String>,
}

impl Stream {
    fn playing(&self) -> bool {
        self.anchor.is_some()
    }

    /// The sender's clock now, in RTP time.
    fn head(&self, now: Instant) -> Option<u64> {
        self.anchor.map(|(at, wire)| {
            wire + (now.saturating_duration_since(at).as_micros() as u64 * RATE as u64 / 1_000_000)
        })
    }

    /// The content frame heard now, and whether any of this run is heard yet.
    fn heard(&self, now: Instant) -> (u64, bool) {
        let Some(head) = self.head(now) else {
            return (self.paused_at, true);
        };
        let heard_wire = head.saturating_sub(LATENCY_FRAMES as u64);
        if heard_wire < self.run.0 {
            return (self.run.1, false);
        }
        (
            (self.run.1 + heard_wire - self.run.0).min(self.content),
            true,
        )
    }

    /// Stops sending; what was sent and not heard is kept to send again.
    fn pause(&mut self, now: Instant) {
        if !self.playing() {
            return;
        }
        let (heard, _) = self.heard(now);
        let from = heard / FRAMES_PER_PACKET as u64 * FRAMES_PER_PACKET as u64;
        let mut replay: Vec<(u64, Vec<u8>)> = self
            .ring
            .iter()
            .filter(|s| s.content >= from)
            .map(|s| (s.content, s.packet[12..].to_vec()))
            .collect();
        // Packets not yet sent again from an earlier pause go after.
        replay.extend(self.replay.drain(..).filter(|(c, _)| *c >= from));
        replay.sort_by_key(|(c, _)| *c);
        replay.dedup_by_key(|(c, _)| *c);
        self.paused_at = replay.first().map_or(self.content, |(c, _)| *c).min(heard);
        self.replay = replay.into();
        self.anchor = None;
    }

    fn start(&mut self, now: Instant) {
        if self.playing() {
            return;
        }
        let content = self.replay.front().map_or(self.content, |(c, _)| *c);
        self.anchor = Some((now, self.wire));
        self.run = (self.wire, content);
        self.marker = true;
        self.first_sync = true;
    }

    /// Forgets the audio: a new song comes.
    fn clear(&mut self) {
        self.anchor = None;
        self.current = None;
        self.upcoming = None;
        self.songs.clear();
        self.content = 0;
        self.end = None;
        self.paused_at = 0;
        self.replay.clear();
        self.ring.clear();
        self.samples.clear();
    }

    /// Sends what is due: packets up to the clock plus a lead, and a sync packet each second.
    fn send_due(&mut self, socket: &UdpSocket, control: &UdpSocket, clock: &NtpClock) {
        let now = Instant::now();
        let Some(head) = self.head(now) else { return };
        if self.first_sync || self.synced.elapsed() >= SYNC_EVERY {
            let packet = raop::sync_packet(head as u32, clock.at(now), self.first_sync);
            if let Err(e) = control.send_to(&packet, self.control_to) {
                self.failed = Some(format!("cannot send to the AirPlay receiver: {e}"));
            }
            self.first_sync = false;
            self.synced = now;
        }
        while self.wire < head + LEAD_FRAMES {
            let Some((content, payload)) = self.next_payload() else {
                break;
            };
            let packet =
                raop::audio_packet(self.seq, self.wire as u32, self.ssrc, self.marker, &payload);
            if let Err(e) = socket.send_to(&packet, self.audio_to) {
                self.failed = Some(format!("cannot send to the AirPlay receiver: {e}"));
                return;
            }
            if self.ring.len() >= RING {
                self.ring.pop_front();
            }
            self.ring.push_back(Sent {
                seq: self.seq,
                content,
                packet,
            });
            self.marker = false;
            self.seq = self.seq.wrapping_add(1);
            self.wire += FRAMES_PER_PACKET as u64;
        }
    }

    /// The next packet's content frame and payload: one to send again, else fresh audio.
    fn next_payload(&mut self) -> Option<(u64, Vec<u8>)> {
        if let Some(p) = self.replay.pop_front() {
            return Some(p);
        }
        let wanted = FRAMES_PER_PACKET * 2;
        while self.samples.len() < wanted {
            let Some(song) = self.current.as_mut() else {
                break;
            };
            self.block.clear();
            match song.next_block(&mut self.block) {
                Ok(true) => self.samples.extend_from_slice(&self.block),
                done => {
                    if let Err(e) = done {
                        tracing::warn!("a song broke off while playing on AirPlay: {e:#}");
                    }
                    let at = self.content + (self.samples.len() / 2) as u64;
                    match self.upcoming.take() {
                        Some((next, url)) => {
                            self.current = Some(next);
                            self.songs.push((at, url));
                        }
                        None => {
                            self.current = None;
                            self.end = Some(at);
                        }
                    }
                }
            }
        }
        if self.samples.is_empty() {
            return None;
        }
        let content = self.content;
        let take = wanted.min(self.samples.len());
        let mut pcm: Vec<i16> = self
            .samples
            .drain(..take)
            .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .collect();
        pcm.resize(wanted, 0);
        self.content += FRAMES_PER_PACKET as u64;
        Some((content, raop::alac_frame(&pcm)))
    }
}

impl AirPlay {
    pub fn new(receiver: Receiver, library: Library) -> AirPlay {
        AirPlay {
            receiver,
            library,
            session: None,
            volume: 100,
            muted: false,
            songs: Vec::new(),
            told: String::new(),
            pinged: Instant::now(),
        }
    }

    fn session(&mut self) -> Result<&mut Session> {
        self.session
            .as_mut()
            .ok_or_else(|| anyhow!("not connected to the AirPlay receiver"))
    }

    fn stream(&self) -> Result<MutexGuard<'_, Stream>> {
        self.session
            .as_ref()
            .map(|s| s.stream.lock().unwrap_or_else(|e| e.into_inner()))
            .ok_or_else(|| anyhow!("not connected to the AirPlay receiver"))
    }

    /// Forgets the audio given; the receiver drops what it holds of it.
    fn clear(&mut self) -> Result<()> {
        let sent = {
            let mut s = self.stream()?;
            let sent = s.playing() || !s.ring.is_empty();
            s.clear();
            sent
        };
        if sent {
            self.flush()?;
        }
        Ok(())
    }

    fn connect(&mut self) -> Result<()> {
        self.session = None;
        let mut rtsp = Rtsp::connect(self.receiver.address)?;
        let bind = (rtsp.local_ip, 0);
        let audio = UdpSocket::bind(bind)?;
        let control = UdpSocket::bind(bind)?;
        let timing = UdpSocket::bind(bind)?;
        let ports = rtsp.setup(control.local_addr()?.port(), timing.local_addr()?.port())?;
        let (seq, wire) = (rand::random::<u16>(), rand::random::<u32>() as u64);
        rtsp.record(seq, wire as u32)?;
        let stream = Arc::new(Mutex::new(Stream {
            audio_to: SocketAddr::new(rtsp.remote_ip, ports.audio),
            control_to: SocketAddr::new(rtsp.remote_ip, ports.control),
            ssrc: rand::random(),
            seq,
            wire,
            anchor: None,
            marker: true,
            first_sync: true,
            synced: Instant::now(),
            run: (wire, 0),
            current: None,
            upcoming: None,
            songs: Vec::new(),
            content: 0,
            end: None,
            paused_at: 0,
            replay: VecDeque::new(),
            ring: VecDeque::new(),
            samples: Vec::new(),
            block: Vec::new(),
            failed: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, quit) = (stream.clone(), stop.clone());
        std::thread::Builder::new()
            .name("lan-airplay".into())
            .spawn(move || send(s, quit, audio, control, timing))?;
        self.session = Some(Session { rtsp, stream, stop });
        self.told.clear();
        if self.volume != 100 || self.muted {
            let v = if self.muted { 0 } else { self.volume };
            self.session()?.rtsp.volume(v)?;
        }
        Ok(())
    }

    /// Opens `media`'s song where it starts.
    fn open_song(&self, media: &Media) -> Result<transcode::Fitted> {
        let problem = |e: anyhow::Error| anyhow::Error::new(SongProblem(format!("{e:#}")));
        let row =
            crate::app::queue::queued_audio(&self.library.db, &self.library.podcasts, &media.id)
                .map_err(problem)?;
        let path = self
            .library
            .media
            .file_of(&row.file())
            .map_err(|e| problem(e.into()))?;
        let mut source = decode::Source::open(&path).map_err(problem)?;
        if media.start_ms > 0 {
            source
                .seek(media.start_ms as f64 / 1000.0)
                .map_err(problem)?;
        }
        let gain = transcode::gain_factor(row.gain(self.library.replay_gain));
        transcode::Fitted::new(source, RATE, 2, gain).map_err(problem)
    }

    /// Tells the receiver what plays, from RTP time `rtptime` (errors are logged: what a
    /// receiver shows does not stop the music).
    fn tell(&mut self, media: &Media, rtptime: u32) {
        let receiver = self.receiver.clone();
        let Ok(session) = self.session() else { return };
        if receiver.text {
            if let Err(e) =
                session
                    .rtsp
                    .metadata(rtptime, &media.title, &media.artist, &media.album)
            {
                tracing::debug!("the AirPlay receiver did not take the song's details: {e:#}");
            }
        }
        if receiver.artwork {
            if let Some((mime, picture)) = media.art.as_deref().and_then(fetch_art) {
                if let Err(e) = session.rtsp.artwork(rtptime, &mime, &picture) {
                    tracing::debug!("the AirPlay receiver did not take the cover: {e:#}");
                }
            }
        }
        if receiver.progress {
            let end =
                rtptime.wrapping_add((media.duration_ms.max(0) as u64 * RATE as u64 / 1000) as u32);
            if let Err(e) = session.rtsp.progress(rtptime, rtptime, end) {
                tracing::debug!("the AirPlay receiver did not take the progress: {e:#}");
            }
        }
        self.told = media.url.clone();
    }

    /// Drops what the receiver holds, after the sending thread stopped.
    fn flush(&mut self) -> Result<()> {
        let (seq, wire) = {
            let s = self.stream()?;
            (s.seq, s.wire as u32)
        };
        self.session()?.rtsp.flush(seq, wire)
    }
}

impl Speaker for AirPlay {
    fn address(&self) -> SocketAddr {
        self.receiver.address
    }

    fn open(&mut self) -> Result<()> {
        self.connect()
    }

    /// Nothing is fetched by the receiver: the song is decoded here.
    fn plays(&self, _mime: &str) -> bool {
        false
    }

    fn load(&mut self, media: &Media, _replacing: bool, play: bool) -> Result<()> {
        tracing::debug!(
            song = media.id,
            from_ms = media.start_ms,
            play,
            "AirPlay: load"
        );
        let song = self.open_song(media)?;
        self.clear()?;
        let rtptime = {
            let mut s = self.stream()?;
            s.current = Some(song);
            s.songs.push((0, media.url.clone()));
            if play {
                s.start(Instant::now());
            }
            s.wire as u32
        };
        self.songs = vec![media.clone()];
        self.tell(media, rtptime);
        Ok(())
    }

    fn load_next(&mut self, next: Option<&Media>) -> Result<bool> {
        let song = match next {
            Some(m) => Some((self.open_song(m)?, m.url.clone())),
            None => None,
        };
        let mut s = self.stream()?;
        if s.end.is_some() {
            // The last packet of the song went out padded: too late to follow on.
            return Ok(false);
        }
        s.upcoming = song;
        drop(s);
        self.songs.truncate(1);
        self.songs.extend(next.cloned());
        Ok(true)
    }

    fn play(&mut self) -> Result<()> {
        self.stream()?.start(Instant::now());
        Ok(())
    }

    fn pause(&mut self) -> Result<()> {
        tracing::debug!("AirPlay: pause");
        let sent = {
            let mut s = self.stream()?;
            let playing = s.playing();
            s.pause(Instant::now());
            playing
        };
        if sent {
            self.flush()?;
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        if self.session.is_none() {
            return Ok(());
        }
        self.clear()
    }

    fn set_volume(&mut self, volume: u8) -> Result<()> {
        self.volume = volume.min(100);
        let v = if self.muted { 0 } else { self.volume };
        self.session()?.rtsp.volume(v)
    }

    fn set_muted(&mut self, muted: bool) -> Result<()> {
        self.muted = muted;
        let v = if muted { 0 } else { self.volume };
        self.session()?.rtsp.volume(v)
    }

    fn status(&mut self) -> Result<Status> {
        let now = Instant::now();
        let (status, song_start) = {
            let s = self.stream()?;
            if let Some(why) = &s.failed {
                bail!("{why}");
            }
            let (heard, audible) = s.heard(now);
            let (start, track) = s
                .songs
                .iter()
                .rev()
                .find(|(start, _)| *start <= heard)
                .cloned()
                .unwrap_or_default();
            let position_ms = Some(((heard - start) * 1000 / RATE as u64) as i64);
            // Played to its end, or nothing loaded.
            let over = s.end.is_some_and(|end| heard >= end) || s.songs.is_empty();
            let state = if over {
                State::Stopped
            } else if !s.playing() {
                State::Paused
            } else if !audible {
                State::Loading
            } else {
                State::Playing
            };
            // The wire time the song started at, for what the receiver shows.
            let start_wire = s.run.0 as i64 + start as i64 - s.run.1 as i64;
            (
                Status {
                    state,
                    position_ms,
                    track,
                },
                start_wire as u32,
            )
        };
        // A song that followed on: the receiver is told about it.
        if !status.track.is_empty() && status.track != self.told {
            if let Some(m) = self.songs.iter().find(|m| m.url == status.track).cloned() {
                self.tell(&m, song_start);
            }
        }
        Ok(status)
    }

    fn tick(&mut self) -> Result<()> {
        let idle = {
            let s = self.stream()?;
            if let Some(why) = &s.failed {
                bail!("{why}");
            }
            !s.playing()
        };
        if idle && self.pinged.elapsed() >= KEEP_ALIVE {
            self.pinged = Instant::now();
            self.session()?.rtsp.ping()?;
        }
        Ok(())
    }

    fn reconnect(&mut self) -> Result<bool> {
        self.connect()?;
        Ok(true)
    }
}

/// The session's sending thread: audio and sync packets as they fall due, answers to the
/// receiver's timing requests (its clock follows ours by them) and resend requests.
fn send(
    stream: Arc<Mutex<Stream>>,
    stop: Arc<AtomicBool>,
    audio: UdpSocket,
    control: UdpSocket,
    timing: UdpSocket,
) {
    let clock = NtpClock::new();
    // The timing socket's wait paces the loop.
    if timing
        .set_read_timeout(Some(Duration::from_millis(5)))
        .is_err()
        || control.set_nonblocking(true).is_err()
    {
        return;
    }
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, from)) = timing.recv_from(&mut buf) {
            if let Some(answer) = raop::timing_answer(&buf[..n], clock.at(Instant::now())) {
                let _ = timing.send_to(&answer, from);
            }
        }
        let mut s = stream.lock().unwrap_or_else(|e| e.into_inner());
        // Only the receiver's own resend requests are answered.
        while let Ok((n, from)) = control.recv_from(&mut buf) {
            if from.ip() != s.control_to.ip() {
                continue;
            }
            if let Some((first, count)) = raop::resend_request(&buf[..n]) {
                for k in 0..count {
                    let seq = first.wrapping_add(k);
                    if let Some(sent) = s.ring.iter().find(|p| p.seq == seq) {
                        let _ = control.send_to(&raop::resent(&sent.packet), from);
                    }
                }
            }
        }
        s.send_due(&audio, &control, &clock);
    }
}

/// The cover at `url` (our own server's signed link), if it is a picture of a sensible size.
fn fetch_art(url: &str) -> Option<(String, Vec<u8>)> {
    let answer = ureq::get(url).timeout(Duration::from_secs(5)).call().ok()?;
    let mime = answer.content_type().to_string();
    if !matches!(mime.as_str(), "image/jpeg" | "image/png") {
        return None;
    }
    let mut picture = Vec::new();
    use std::io::Read;
    answer
        .into_reader()
        .take(MAX_ART + 1)
        .read_to_end(&mut picture)
        .ok()?;
    (picture.len() as u64 <= MAX_ART).then_some((mime, picture))
}
