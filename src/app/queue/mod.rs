//! The household queue: one shared queue (`home`; the map is ready for one per room) that every
//! device sees and edits, kept in SQLite so a restart or a power cut brings it back, and sent to
//! every watcher on each change. Commands and their rules live in [`state`]; this module stores
//! the result and tells everyone.

pub mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;
use diesel::prelude::*;
use tokio::sync::broadcast;

use crate::app::db::schema::{household_queue_entries as qe, household_queues as hq};
use crate::app::db::{now, Db};
pub use state::{Command, Entry, Place, Rejected, Repeat, SongSummary, State};

/// The queue every household has.
pub const HOME: &str = "home";
/// How often a moving position is written down while playing.
const SAVE_POSITION_EVERY: Duration = Duration::from_secs(2);
/// Messages a slow watcher may fall behind by before it must fetch the state again.
const WATCH_BACKLOG: usize = 64;

/// The part of the state an output follows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Playback {
    pub output: Option<String>,
    /// The current entry and its song id.
    pub entry: Option<(String, String)>,
    /// The entry and song that play after it, for the output to prepare ahead.
    pub upcoming: Option<(String, String)>,
    pub playing: bool,
    pub position_ms: i64,
    pub jumps: i64,
    /// 0 to 100.
    pub volume: u8,
    pub muted: bool,
}

/// The state as JSON, made once per change and shared by every watcher.
#[derive(Clone)]
pub struct Published {
    pub version: i64,
    /// What an output needs to follow the queue.
    pub playback: Playback,
    /// `GET /api/queue`'s body.
    pub state: Arc<str>,
    /// The socket message: `{"type": "state", "state": {...}}`. Shared bytes: every socket
    /// sends this one copy.
    pub message: bytestring::ByteString,
}

impl Published {
    /// A published state from its JSON alone (the version is not needed where this is used).
    pub fn from_state_json(state: Arc<str>) -> Published {
        Published {
            version: -1,
            playback: Playback::default(),
            message: format!(r#"{{"type":"state","state":{state}}}"#).into(),
            state,
        }
    }

    fn of(state: &State) -> Published {
        let json = serde_json::to_string(state).expect("the state serialises");
        Published {
            version: state.version,
            playback: Playback {
                output: state.output.clone(),
                entry: state
                    .current_entry()
                    .map(|e| (e.id.clone(), e.song.id.clone())),
                upcoming: state.upcoming().map(|e| (e.id.clone(), e.song.id.clone())),
                playing: state.playing,
                position_ms: state.position_ms,
                jumps: state.jumps,
                volume: state.volume,
                muted: state.muted,
            },
            message: format!(r#"{{"type":"state","state":{json}}}"#).into(),
            state: json.into(),
        }
    }
}

struct Inner {
    state: State,
    published: Published,
    position_saved: Instant,
    /// When `state.position_ms` was last set (a report, a seek, a jump, a pause or a start).
    position_at: Instant,
}

impl Inner {
    fn where_playback_is(&self) -> (Option<String>, i64, bool) {
        let s = &self.state;
        (s.current.clone(), s.position_ms, s.playing)
    }

    /// Moves the position on by the time since it was last set, while an output plays: outputs
    /// report once a second, so a hand-off to another output starts where the song is now, not
    /// where it was at the last report.
    fn catch_up(&mut self) {
        let s = &mut self.state;
        if !s.playing || s.output.is_none() {
            return;
        }
        let Some(length_ms) = s.current_entry().map(|e| e.song.duration * 1000) else {
            return;
        };
        let since = i64::try_from(self.position_at.elapsed().as_millis()).unwrap_or(i64::MAX);
        s.position_ms = s
            .position_ms
            .saturating_add(since)
            .min(length_ms.max(s.position_ms));
        self.position_at = Instant::now();
    }
}

pub struct Queue {
    name: String,
    db: Arc<Db>,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Published>,
    /// The user who last gave a command (0: nobody since the start), credited with its plays.
    actor: std::sync::atomic::AtomicI64,
}

impl Queue {
    /// The queue `name` as stored, or a new empty one.
    fn open(db: Arc<Db>, name: &str) -> Result<Queue> {
        let state = load(&db, name)?.unwrap_or_default();
        let (tx, _) = broadcast::channel(WATCH_BACKLOG);
        Ok(Queue {
            name: name.to_string(),
            db,
            inner: Mutex::new(Inner {
                published: Published::of(&state),
                state,
                position_saved: Instant::now(),
                position_at: Instant::now(),
            }),
            tx,
            actor: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// `user` is giving the queue a command: what it plays from now on is theirs, for their
    /// listening history and recommendations.
    pub fn note_user(&self, user: i64) {
        self.actor.store(user, std::sync::atomic::Ordering::SeqCst);
    }

    /// Who last gave a command, if anyone did since the server started.
    pub fn last_user(&self) -> Option<i64> {
        match self.actor.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            u => Some(u),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current state, published.
    pub fn published(&self) -> Published {
        self.lock().published.clone()
    }

    /// A copy of the state (for outputs and the Subsonic jukebox).
    pub fn state(&self) -> State {
        self.lock().state.clone()
    }

    /// The state now and every change from here on.
    pub fn watch(&self) -> (Published, broadcast::Receiver<Published>) {
        let inner = self.lock();
        // Subscribed under the lock: no change can slip between the state and the stream.
        (inner.published.clone(), self.tx.subscribe())
    }

    /// For code outside async tasks (outputs): calls `on_change` from a thread of its own with
    /// every change from here on (after falling behind, the newest state, which says all the
    /// skipped ones did), until it returns false. Returns the state now.
    pub fn follow_on_thread(
        self: &Arc<Self>,
        name: &str,
        mut on_change: impl FnMut(Published) -> bool + Send + 'static,
    ) -> std::io::Result<Published> {
        use tokio::sync::broadcast::error::RecvError;
        let (now, mut changes) = self.watch();
        let queue = self.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || loop {
                let p = match changes.blocking_recv() {
                    Ok(p) => p,
                    Err(RecvError::Lagged(_)) => queue.published(),
                    Err(RecvError::Closed) => return,
                };
                if !on_change(p) {
                    return;
                }
            })?;
        Ok(now)
    }

    /// Runs a command built on version `seen`; stores and publishes what changed. A rejected
    /// command changes nothing and comes back with the current state.
    pub fn run(&self, command: Command, seen: Option<i64>) -> Result<Published, Refusal> {
        let mut inner = self.lock();
        if let Command::SetOutput(to) = &command {
            if *to != inner.state.output {
                inner.catch_up();
            }
        }
        let before = inner.where_playback_is();
        let change = match inner.state.apply(command, seen) {
            Ok(c) => c,
            Err(why) => {
                return Err(Refusal::Rejected(why, Box::new(inner.published.clone())));
            }
        };
        let store = match change {
            state::Change::None => return Ok(inner.published.clone()),
            state::Change::Position => {
                if inner.position_saved.elapsed() >= SAVE_POSITION_EVERY {
                    Some(false)
                } else {
                    None
                }
            }
            state::Change::Settings => Some(false),
            state::Change::Entries => Some(true),
        };
        if let Some(entries) = store {
            if let Err(e) = save(&self.db, &self.name, &inner.state, entries) {
                // Put the stored state back: memory and disk never disagree. Nothing stored
                // yet (the first change failed) means the empty queue, not the refused change.
                match load(&self.db, &self.name) {
                    Ok(stored) => inner.state = stored.unwrap_or_default(),
                    Err(again) => tracing::error!(
                        "the queue could not be saved ({e:#}) nor read back ({again:#})"
                    ),
                }
                return Err(Refusal::Failed(e));
            }
            inner.position_saved = Instant::now();
        }
        if inner.where_playback_is() != before {
            inner.position_at = Instant::now();
        }
        inner.published = Published::of(&inner.state);
        let published = inner.published.clone();
        // No watchers is fine.
        let _ = self.tx.send(published.clone());
        Ok(published)
    }
}

impl SongSummary {
    /// The queue's view of a library song.
    pub fn of(s: &crate::app::library::browse::SongRow) -> SongSummary {
        SongSummary {
            id: format!("tr-{}", s.id),
            title: s.title.clone(),
            artist: s.artist_display.clone(),
            album: s.album_name.clone(),
            duration: (s.duration_ms + 500) / 1000,
            cover_art: format!("al-{}", s.album_id),
        }
    }
}

/// The library's row for a song the queue names (`tr-12`), for the outputs that play it.
pub fn queued_song(db: &Db, song: &str) -> Result<crate::app::library::browse::SongRow> {
    use crate::app::library::browse::{self, Scope};
    let n: i64 = song
        .strip_prefix("tr-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{song:?} is not a song id"))?;
    browse::song(&mut *db.read()?, n, &Scope::all())?
        .ok_or_else(|| anyhow::anyhow!("song {song} is no longer in the library"))
}

/// What an output plays for a queued id: a library song (`tr-12`) or a downloaded podcast
/// episode (`pe-3`), as a song row.
pub fn queued_audio(
    db: &Db,
    podcasts: &crate::app::podcasts::Podcasts,
    song: &str,
) -> Result<crate::app::library::browse::SongRow> {
    if song.starts_with("pe-") {
        podcasts.queued(song)
    } else {
        queued_song(db, song)
    }
}

/// Why a command did not change the queue.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not applicable to the current state (sent back with it).
    #[error("{0}")]
    Rejected(Rejected, Box<Published>),
    /// The database failed; nothing changed.
    #[error("the queue could not be saved: {0:#}")]
    Failed(anyhow::Error),
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Published(version {})", self.version)
    }
}

/// Every queue of the household (today: `home`).
pub struct Queues {
    home: Arc<Queue>,
}

impl Queues {
    pub fn open(db: Arc<Db>) -> Result<Queues> {
        Ok(Queues {
            home: Arc::new(Queue::open(db, HOME)?),
        })
    }

    pub fn home(&self) -> &Arc<Queue> {
        &self.home
    }
}

fn load(db: &Db, name: &str) -> Result<Option<State>> {
    let mut conn = db.read()?;
    type Row = (
        i64,
        Option<String>,
        i64,
        bool,
        String,
        bool,
        i32,
        Option<String>,
        i64,
        bool,
    );
    let row: Option<Row> = hq::table
        .find(name)
        .select((
            hq::version,
            hq::current_entry,
            hq::position_ms,
            hq::playing,
            hq::repeat,
            hq::shuffle,
            hq::volume,
            hq::output,
            hq::next_entry,
            hq::muted,
        ))
        .first(&mut conn)
        .optional()?;
    let Some((
        version,
        current,
        position_ms,
        _playing,
        repeat,
        shuffle,
        volume,
        output,
        next,
        muted,
    )) = row
    else {
        return Ok(None);
    };
    let rows: Vec<(String, String, Option<i32>)> = qe::table
        .filter(qe::queue.eq(name))
        .order(qe::position)
        .select((qe::entry_id, qe::song, qe::unshuffled_position))
        .load(&mut conn)?;
    let mut entries = Vec::with_capacity(rows.len());
    let mut unshuffled: Vec<(i32, String)> = Vec::new();
    for (id, song, before) in rows {
        let song: SongSummary = serde_json::from_str(&song)?;
        if let Some(b) = before {
            unshuffled.push((b, id.clone()));
        }
        entries.push(Entry { id, song });
    }
    unshuffled.sort();
    Ok(Some(State {
        version,
        entries,
        current,
        position_ms,
        // Nothing plays after a restart until someone presses play: the outputs are gone.
        playing: false,
        repeat: Repeat::parse(&repeat).unwrap_or(Repeat::Off),
        shuffle,
        volume: volume.clamp(0, 100) as u8,
        muted,
        output,
        unshuffled: shuffle.then(|| unshuffled.into_iter().map(|(_, id)| id).collect()),
        next_entry: next,
        jumps: 0,
    }))
}

/// Writes the queue's settings, and its entries when `entries` (one transaction).
fn save(db: &Db, name: &str, s: &State, entries: bool) -> Result<()> {
    let mut conn = db.write();
    conn.transaction::<_, anyhow::Error, _>(|conn| {
        // An upsert, not REPLACE: replacing the row would cascade to its entries.
        let settings = (
            hq::version.eq(s.version),
            hq::current_entry.eq(&s.current),
            hq::position_ms.eq(s.position_ms),
            hq::playing.eq(s.playing),
            hq::repeat.eq(s.repeat.as_str()),
            hq::shuffle.eq(s.shuffle),
            hq::volume.eq(s.volume as i32),
            hq::muted.eq(s.muted),
            hq::output.eq(&s.output),
            hq::next_entry.eq(s.next_entry),
            hq::updated_at.eq(now()),
        );
        diesel::insert_into(hq::table)
            .values((hq::name.eq(name), settings))
            .on_conflict(hq::name)
            .do_update()
            .set(settings)
            .execute(conn)?;
        if entries {
            diesel::delete(qe::table.filter(qe::queue.eq(name))).execute(conn)?;
            let before: std::collections::HashMap<&str, i32> = s
                .unshuffled
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i as i32))
                .collect();
            let rows: Vec<_> = s
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    (
                        qe::queue.eq(name),
                        qe::position.eq(i as i32),
                        qe::entry_id.eq(&e.id),
                        qe::song.eq(serde_json::to_string(&e.song).expect("a summary serialises")),
                        qe::unshuffled_position.eq(before.get(e.id.as_str()).copied()),
                    )
                })
                .collect();
            // SQLite takes at most 32,766 parameters a statement: 5 per row.
            for chunk in rows.chunks(5000) {
                diesel::insert_into(qe::table).values(chunk).execute(conn)?;
            }
        }
        Ok(())
    })
}
