//! What recommendations do while the household queue plays: record each song it played, for
//! whom and how far (a listen or a skip), and, with `autoplay` on, keep the music going: when
//! the queue starts its last song, radio from what it played last is added after it
//! ([`super::Reco::autoplay`]: the `autoplay` setting, switched at run time by the native API).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::history::{is_skip, Source};
use super::{Reco, Seed};
use crate::app::db::{now, Db};
use crate::app::library::browse::{self, Scope};
use crate::app::queue::{queued_song, Command, Place, Published, Queue, SongSummary};

/// Songs autoplay adds at a time.
pub const AUTOPLAY_SONGS: usize = 10;
/// Songs of the queue's end that seed autoplay.
const AUTOPLAY_SEEDS: usize = 5;

/// The song the queue is on.
struct Playing {
    entry: String,
    song: i64,
    duration_ms: i64,
    started: i64,
    /// The queue's jump count last seen (a replay from the start is a jump).
    jumps: i64,
    /// Furthest position reached while playing.
    reached_ms: i64,
    /// The last position heard of, when, and whether it was playing then: playback moves on
    /// between reports (and an output may send none), so where it was when the song changed
    /// is that position plus the time since.
    last: (i64, Instant, bool),
    heard: bool,
    user: Option<i64>,
}

/// Called for each song the queue played through: (user, song, when it started), for play
/// counts and scrobbling.
pub type OnPlayed = Box<dyn Fn(i64, i64, i64) + Send>;
/// Called for each song the queue starts playing: (user, song), for "now playing".
pub type OnStarted = Box<dyn Fn(i64, i64) + Send>;
/// The music folders a user may see, for what autoplay adds on their behalf.
pub type ScopeOf = Box<dyn Fn(i64) -> Scope + Send>;

/// Starts following the queue (on a thread of its own).
pub fn start(
    reco: Arc<Reco>,
    queue: Arc<Queue>,
    db: Arc<Db>,
    on_played: OnPlayed,
    on_started: OnStarted,
    scope_of: ScopeOf,
) -> Result<()> {
    let mut playing: Option<Playing> = None;
    let mut extended_at: Option<String> = None;
    let q = queue.clone();
    let first = queue.follow_on_thread("reco-follow", move |p| {
        follow(&reco, &q, &db, &p, &mut playing, (&on_played, &on_started));
        if reco.autoplay() {
            if let Err(e) = continue_queue(&reco, &q, &p, &mut extended_at, &scope_of) {
                tracing::warn!("autoplay could not add songs: {e:#}");
            }
        }
        true
    })?;
    // Whatever it is on now is picked up with the next change.
    drop(first);
    Ok(())
}

impl Playing {
    /// Where playback is now, by the last report and the time since (within the song).
    fn position_now(&self) -> i64 {
        let (at, when, moving) = self.last;
        if !moving {
            return at;
        }
        let guess = at + when.elapsed().as_millis() as i64;
        if self.duration_ms > 0 {
            guess.min(self.duration_ms)
        } else {
            guess
        }
    }
}

fn song_number(song: &str) -> Option<i64> {
    song.strip_prefix("tr-").and_then(|n| n.parse().ok())
}

fn follow(
    reco: &Reco,
    queue: &Queue,
    db: &Db,
    p: &Published,
    playing: &mut Option<Playing>,
    (on_played, on_started): (&OnPlayed, &OnStarted),
) {
    let now_entry = p.playback.entry.as_ref();
    let mut same =
        matches!((playing.as_ref(), now_entry), (Some(a), Some((e, _))) if &a.entry == e);
    if let Some(a) = playing.as_ref().filter(|_| same) {
        // The same entry from its start again after it was heard through (repeat one, or
        // played again): a new play.
        let reached = a.reached_ms.max(a.position_now());
        let again = p.playback.jumps != a.jumps
            && p.playback.position_ms < 1000
            && a.heard
            && !is_skip(reached, a.duration_ms);
        if again {
            same = false;
        }
    }
    if same {
        let a = playing.as_mut().expect("checked");
        a.reached_ms = a.reached_ms.max(a.position_now());
        a.jumps = p.playback.jumps;
        if p.playback.playing && !a.heard {
            // It starts when it first plays, not when it became the queue's current song.
            a.heard = true;
            a.started = now();
            if let Some(user) = a.user.or_else(|| queue.last_user()) {
                on_started(user, a.song);
            }
        }
        a.last = (p.playback.position_ms, Instant::now(), p.playback.playing);
        if a.user.is_none() {
            a.user = queue.last_user();
        }
        return;
    }
    if let Some(mut done) = playing.take() {
        done.reached_ms = done.reached_ms.max(done.position_now());
        finish(reco, queue, done, on_played);
    }
    if let Some((entry, queued)) = now_entry {
        let Some(song) = song_number(queued) else {
            return;
        };
        let duration_ms = queued_song(db, queued).map(|s| s.duration_ms).unwrap_or(0);
        *playing = Some(Playing {
            entry: entry.clone(),
            song,
            duration_ms,
            started: now(),
            jumps: p.playback.jumps,
            reached_ms: p.playback.position_ms,
            last: (p.playback.position_ms, Instant::now(), p.playback.playing),
            heard: p.playback.playing,
            user: queue.last_user(),
        });
        if let Some(a) = playing.as_ref().filter(|a| a.heard) {
            if let Some(user) = a.user {
                on_started(user, a.song);
            }
        }
    }
}

fn finish(reco: &Reco, queue: &Queue, done: Playing, on_played: &OnPlayed) {
    let Some(user) = done.user.or_else(|| queue.last_user()) else {
        return;
    };
    if !done.heard {
        return;
    }
    let played = done.reached_ms;
    match reco.listening.record(
        user,
        done.song,
        done.started,
        played,
        done.duration_ms,
        Source::Queue,
    ) {
        Ok(_) => {
            if !is_skip(played, done.duration_ms) {
                on_played(user, done.song, done.started);
            }
        }
        Err(e) => tracing::warn!("a play of the queue was not recorded: {e:#}"),
    }
}

/// Adds radio when the queue plays its last song (once per song).
fn continue_queue(
    reco: &Reco,
    queue: &Queue,
    p: &Published,
    extended_at: &mut Option<String>,
    scope_of: &ScopeOf,
) -> Result<()> {
    let Some((entry, _)) = &p.playback.entry else {
        return Ok(());
    };
    if !p.playback.playing || p.playback.upcoming.is_some() || extended_at.as_ref() == Some(entry) {
        return Ok(());
    }
    // What is added is for whoever runs the queue, from the folders they may see; with nobody
    // known (after a restart, before any command), nothing yet.
    let Some(user) = queue.last_user() else {
        return Ok(());
    };
    *extended_at = Some(entry.clone());
    let state = queue.state();
    let songs: Vec<i64> = state
        .entries
        .iter()
        .filter_map(|e| song_number(&e.song.id))
        .collect();
    let seeds: Vec<i64> = songs.iter().rev().take(AUTOPLAY_SEEDS).copied().collect();
    let exclude: HashSet<i64> = songs.iter().rev().take(2000).copied().collect();
    let scope = scope_of(user);
    let picks = reco.radio(
        Some(user),
        &Seed::Songs(seeds),
        AUTOPLAY_SONGS,
        &exclude,
        &scope,
        state.version as u64,
    )?;
    if picks.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = picks.iter().map(|s| s.song).collect();
    let db = reco.db();
    let rows = browse::songs_by_ids(&mut *db.read()?, &ids, &scope)?;
    let songs: Vec<SongSummary> = rows.iter().map(SongSummary::of).collect();
    tracing::info!(songs = songs.len(), "autoplay continues the queue");
    // At the end as it was seen, and only if it is still as seen: someone who changed the
    // queue meanwhile (cleared it, say) wins.
    match queue.run(
        Command::Add {
            songs,
            place: Place::Index(state.entries.len()),
        },
        Some(state.version),
    ) {
        Ok(_) | Err(crate::app::queue::Refusal::Rejected(..)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
