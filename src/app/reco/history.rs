//! Listening history: who played what, when, for how long, and whether they left it early (a
//! skip), kept in `listens` for recommendations. Plays come from three places: Subsonic
//! scrobbles (with skips inferred from "now playing" reports that were never submitted), streams
//! that were sent to the end, and the household queue. One play heard two ways (a client that
//! streams a song and then scrobbles it) is kept once.
//!
//! The household queue has no owner: its plays are credited to whoever last gave it a command
//! (the person at the remote), through [`crate::app::queue::Queue::note_user`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use crate::app::db::schema::listens;
use crate::app::db::{now, Db};

/// Where a play was heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Scrobble,
    Stream,
    Queue,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Scrobble => "scrobble",
            Source::Stream => "stream",
            Source::Queue => "queue",
        }
    }
}

/// Left before half of it, or before 4 minutes of a long one, had played: the rule scrobbling
/// services use for what counts as a listen, so clients and Houseband agree.
pub fn is_skip(played_ms: i64, duration_ms: i64) -> bool {
    played_ms < (duration_ms / 2).min(240_000)
}

/// Two plays of one song by one user closer than this are taken for one play heard twice,
/// besides the song's own length.
const SAME_PLAY_SLACK: i64 = 10 * 60;
/// Plays of one user further apart than this are in different sessions.
pub const SESSION_GAP: i64 = 30 * 60;
/// How long a skip or a 1-star rating keeps a song out of what is recommended to that user.
pub const REJECTION_DAYS: i64 = 30;

/// A "now playing" report not yet followed by its submission.
#[derive(Debug, Clone)]
struct Heard {
    track: i64,
    duration_ms: i64,
    since: i64,
    submitted: bool,
}

/// What one user's history says, for ranking (made from the database, kept until they play
/// something new).
#[derive(Debug, Default, Clone)]
pub struct Taste {
    pub user: i64,
    /// Plays that were not skips, by track.
    pub plays: HashMap<i64, u32>,
    /// Skipped (their latest play, in the last [`REJECTION_DAYS`]) or rated 1 star.
    pub rejected: HashSet<i64>,
    /// Starred or rated 4-5.
    pub loved: HashSet<i64>,
    /// The most recent plays, newest first (track, Unix seconds), at most [`RECENT`].
    pub recent: Vec<(i64, i64)>,
}

/// How many recent plays a [`Taste`] keeps.
pub const RECENT: usize = 500;

pub struct Listening {
    db: Arc<Db>,
    heard: Mutex<HashMap<(i64, String), Heard>>,
    tastes: Mutex<HashMap<i64, Known>>,
    /// Plays by song across the household, and when they were counted (made again at most
    /// every [`POPULARITY_EVERY`] once new plays came in).
    popularity: Mutex<Popularity>,
}

/// A user's taste as last read, and how many times it changed (so a read that raced a change is
/// not kept).
#[derive(Default)]
struct Known {
    changes: u64,
    taste: Option<Arc<Taste>>,
}

struct Popularity {
    counts: Option<Arc<HashMap<i64, u32>>>,
    counted: std::time::Instant,
    /// Plays came in since.
    stale: bool,
}

/// How often the household's play counts are counted again while plays come in.
const POPULARITY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// What [`Listening::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    New,
    /// An existing row now says more about the same play.
    Changed,
    Nothing,
}

/// Plays of a song.
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    track_id: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Near {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Bool)]
    skipped: bool,
}

impl Listening {
    pub fn new(db: Arc<Db>) -> Listening {
        Listening {
            db,
            heard: Mutex::new(HashMap::new()),
            tastes: Mutex::new(HashMap::new()),
            popularity: Mutex::new(Popularity {
                counts: None,
                counted: std::time::Instant::now(),
                stale: false,
            }),
        }
    }

    /// How many times the household played each song through.
    pub fn popularity(&self) -> Result<Arc<HashMap<i64, u32>>> {
        {
            let mut p = self.popularity.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(counts) = &p.counts {
                if !p.stale || p.counted.elapsed() < POPULARITY_EVERY {
                    return Ok(counts.clone());
                }
                // This caller counts again; the others meanwhile use the counts there are.
                let counts = counts.clone();
                p.counted = std::time::Instant::now();
                p.stale = false;
                drop(p);
                return match self.count_plays() {
                    Ok(fresh) => Ok(fresh),
                    Err(e) => {
                        tracing::warn!("the household's play counts stay as they were: {e:#}");
                        Ok(counts)
                    }
                };
            }
        }
        self.count_plays()
    }

    /// Counts the household's plays by song (outside any lock: a whole-table count) and keeps
    /// the result.
    fn count_plays(&self) -> Result<Arc<HashMap<i64, u32>>> {
        let rows: Vec<Count> = diesel::sql_query(
            "SELECT track_id, COUNT(*) AS n FROM listens WHERE NOT skipped GROUP BY track_id",
        )
        .load(&mut self.db.read()?)?;
        let counts = Arc::new(rows.into_iter().map(|r| (r.track_id, r.n as u32)).collect());
        let mut p = self.popularity.lock().unwrap_or_else(|p| p.into_inner());
        p.counts = Some(Arc::clone(&counts));
        Ok(counts)
    }

    /// Records a play, unless it is one already heard another way. Returns whether it was new.
    pub fn record(
        &self,
        user: i64,
        track: i64,
        at: i64,
        played_ms: i64,
        duration_ms: i64,
        source: Source,
    ) -> Result<bool> {
        let skipped = is_skip(played_ms, duration_ms);
        let window = duration_ms / 1000 + SAME_PLAY_SLACK;
        let mut conn = self.db.write();
        let outcome = conn.transaction(|c| {
            let near: Vec<Near> = diesel::sql_query(
                "SELECT id, source, skipped FROM listens WHERE user_id = ? AND track_id = ?
                   AND at BETWEEN ? AND ? ORDER BY at DESC",
            )
            .bind::<BigInt, _>(user)
            .bind::<BigInt, _>(track)
            .bind::<BigInt, _>(at - window)
            .bind::<BigInt, _>(at + window)
            .load(c)?;
            let streamed = near.iter().find(|n| n.source == Source::Stream.as_str());
            let same = near
                .iter()
                .find(|n| n.source != Source::Stream.as_str() && n.skipped == skipped);
            // A skip inferred from now-playing reports, then the client submits the song after
            // all (it was paused, or the reports came out of order): it was a play.
            let inferred_skip = near
                .iter()
                .find(|n| n.source == Source::Scrobble.as_str() && n.skipped);
            let taken = match (source, streamed, inferred_skip) {
                (Source::Scrobble | Source::Queue, Some(row), _) => Some(row),
                (Source::Scrobble, None, Some(row)) if !skipped && same.is_none() => Some(row),
                _ => None,
            };
            match (source, taken, same) {
                // A stream says only that the file was sent: any other word on the same play
                // is better, so a stream after one is nothing new...
                (Source::Stream, _, _) if !near.is_empty() => Ok(Recorded::Nothing),
                // ...and one after a stream takes its row (the client or the queue knows
                // whether it was heard through or skipped).
                (Source::Scrobble | Source::Queue, Some(row), _) => {
                    diesel::update(listens::table.find(row.id))
                        .set((
                            listens::source.eq(source.as_str()),
                            listens::at.eq(at),
                            listens::played_ms.eq(played_ms.max(0)),
                            listens::skipped.eq(skipped),
                        ))
                        .execute(c)?;
                    Ok(Recorded::Changed)
                }
                // A scrobble sent again (clients resend offline submissions) is one play. The
                // queue follows its own plays exactly: a song played twice is two plays.
                (Source::Scrobble, None, Some(_)) => Ok(Recorded::Nothing),
                _ => {
                    diesel::insert_into(listens::table)
                        .values((
                            listens::user_id.eq(user),
                            listens::track_id.eq(track),
                            listens::at.eq(at),
                            listens::played_ms.eq(played_ms.max(0)),
                            listens::skipped.eq(skipped),
                            listens::source.eq(source.as_str()),
                        ))
                        .execute(c)?;
                    Ok::<_, diesel::result::Error>(Recorded::New)
                }
            }
        })?;
        // The writer is free before the caches are touched.
        drop(conn);
        if outcome != Recorded::Nothing {
            self.forget_taste(user);
            self.popularity
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .stale = true;
        }
        Ok(outcome == Recorded::New)
    }

    /// A stream of `track` to `user`, asked for at `started`, was sent to its end: a play, unless the same play was
    /// heard another way. Recorded off the caller's thread (an HTTP worker), logged if it fails.
    pub fn streamed(self: &Arc<Self>, user: i64, track: i64, started: i64, duration_ms: i64) {
        let me = self.clone();
        let record = move || {
            if let Err(e) = me.record(
                user,
                track,
                started,
                duration_ms,
                duration_ms,
                Source::Stream,
            ) {
                tracing::warn!("a streamed play was not recorded: {e:#}");
            }
        };
        if std::thread::Builder::new()
            .name("listen".into())
            .spawn(record)
            .is_err()
        {
            tracing::warn!("a streamed play was not recorded: no thread");
        }
    }

    /// A client says `user` now plays `track` on `player`. If the song it played before on that
    /// player was never submitted and was left early, that was a skip, and it is recorded.
    pub fn now_playing(&self, user: i64, player: &str, track: i64, duration_ms: i64) -> Result<()> {
        let t = now();
        let before = {
            let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
            let key = (user, player.to_string());
            // The same song reported again while it can still be playing (clients report
            // again on resume): the play it started is still the one going on.
            if let Some(h) = heard.get(&key) {
                if h.track == track && t - h.since <= h.duration_ms / 1000 + SAME_PLAY_SLACK {
                    return Ok(());
                }
            }
            heard.insert(
                (user, player.to_string()),
                Heard {
                    track,
                    duration_ms,
                    since: t,
                    submitted: false,
                },
            )
        };
        if let Some(h) = before {
            let played_ms = (t - h.since) * 1000;
            if !h.submitted && h.track != track && is_skip(played_ms, h.duration_ms) {
                self.record(
                    user,
                    h.track,
                    h.since,
                    played_ms,
                    h.duration_ms,
                    Source::Scrobble,
                )?;
            }
        }
        Ok(())
    }

    /// A client submitted a play of `track`: the "now playing" report for it was not a skip.
    pub fn submitted(&self, user: i64, player: &str, track: i64) {
        let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = heard.get_mut(&(user, player.to_string())) {
            if h.track == track {
                h.submitted = true;
            }
        }
    }

    fn forget_taste(&self, user: i64) {
        let mut tastes = self.tastes.lock().unwrap_or_else(|p| p.into_inner());
        let known = tastes.entry(user).or_default();
        known.changes += 1;
        known.taste = None;
    }

    /// Stars and ratings changed: the user's taste is made again when next asked.
    pub fn annotations_changed(&self, user: i64) {
        self.forget_taste(user);
    }

    /// What `user`'s history says (cached until they play or rate something).
    pub fn taste(&self, user: i64) -> Result<Arc<Taste>> {
        let changes = {
            let tastes = self.tastes.lock().unwrap_or_else(|p| p.into_inner());
            match tastes.get(&user) {
                Some(Known { taste: Some(t), .. }) => return Ok(t.clone()),
                Some(k) => k.changes,
                None => 0,
            }
        };
        let taste = Arc::new(self.load_taste(user)?);
        let mut tastes = self.tastes.lock().unwrap_or_else(|p| p.into_inner());
        let known = tastes.entry(user).or_default();
        // Kept only if nothing changed while it was read: else the next call reads again.
        if known.changes == changes {
            known.taste = Some(taste.clone());
        }
        Ok(taste)
    }

    fn load_taste(&self, user: i64) -> Result<Taste> {
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        #[derive(QueryableByName)]
        struct Recent {
            #[diesel(sql_type = BigInt)]
            track_id: i64,
            #[diesel(sql_type = BigInt)]
            at: i64,
        }
        let mut conn = self.db.read()?;
        let plays: Vec<Count> = diesel::sql_query(
            "SELECT track_id, COUNT(*) AS n FROM listens WHERE user_id = ? AND NOT skipped
             GROUP BY track_id",
        )
        .bind::<BigInt, _>(user)
        .load(&mut conn)?;
        // A skip counts while it is the latest word on the song: played through since, the
        // song is welcome again.
        let since = now() - REJECTION_DAYS * 86_400;
        let skipped: Vec<Id> = diesel::sql_query(
            "SELECT l.track_id AS id FROM listens l WHERE l.user_id = ? AND l.at >= ? AND l.skipped
               AND NOT EXISTS (SELECT 1 FROM listens m WHERE m.user_id = l.user_id
                               AND m.track_id = l.track_id AND m.at > l.at AND NOT m.skipped)
             GROUP BY l.track_id",
        )
        .bind::<BigInt, _>(user)
        .bind::<BigInt, _>(since)
        .load(&mut conn)?;
        let one_star: Vec<Id> = diesel::sql_query(
            "SELECT item_id AS id FROM annotations WHERE user_id = ? AND item_kind = 'track'
               AND rating = 1",
        )
        .bind::<BigInt, _>(user)
        .load(&mut conn)?;
        let loved: Vec<Id> = diesel::sql_query(
            "SELECT item_id AS id FROM annotations WHERE user_id = ? AND item_kind = 'track'
               AND (starred_at IS NOT NULL OR rating >= 4)",
        )
        .bind::<BigInt, _>(user)
        .load(&mut conn)?;
        let recent: Vec<Recent> = diesel::sql_query(
            "SELECT track_id, at FROM listens WHERE user_id = ? AND NOT skipped
             ORDER BY at DESC, id DESC LIMIT ?",
        )
        .bind::<BigInt, _>(user)
        .bind::<BigInt, _>(RECENT as i64)
        .load(&mut conn)?;
        Ok(Taste {
            user,
            plays: plays
                .into_iter()
                .map(|c| (c.track_id, c.n as u32))
                .collect(),
            rejected: skipped.into_iter().chain(one_star).map(|r| r.id).collect(),
            loved: loved.into_iter().map(|r| r.id).collect(),
            recent: recent.into_iter().map(|r| (r.track_id, r.at)).collect(),
        })
    }

    /// Songs the household played near the seeds (in the same session, within
    /// [`SESSION_GAP`] of a play of a seed, both played through), with how often; and, of
    /// those, how often each came within 15 minutes after a seed. Looks at each seed's latest 200 plays.
    pub fn played_with(&self, seeds: &[i64]) -> Result<HashMap<i64, CoPlay>> {
        #[derive(QueryableByName)]
        struct Pair {
            #[diesel(sql_type = BigInt)]
            seed: i64,
            #[diesel(sql_type = BigInt)]
            track_id: i64,
            #[diesel(sql_type = BigInt)]
            after: i64,
            #[diesel(sql_type = BigInt)]
            gap: i64,
        }
        let mut out: HashMap<i64, CoPlay> = HashMap::new();
        if seeds.is_empty() {
            return Ok(out);
        }
        let mut conn = self.db.read()?;
        for chunk in seeds.chunks(200) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let pairs: Vec<Pair> = diesel::sql_query(format!(
                "WITH seed_plays AS (
                   SELECT track_id, user_id, at, id FROM (
                     SELECT track_id, user_id, at, id,
                            ROW_NUMBER() OVER (PARTITION BY track_id ORDER BY at DESC) AS k
                     FROM listens WHERE track_id IN ({list}) AND NOT skipped)
                   WHERE k <= 200)
                 SELECT sp.track_id AS seed, m.track_id, (m.at > sp.at) AS after,
                        ABS(m.at - sp.at) AS gap
                 FROM seed_plays sp JOIN listens m ON m.user_id = sp.user_id
                   AND m.at BETWEEN sp.at - {SESSION_GAP} AND sp.at + {SESSION_GAP}
                 WHERE m.id <> sp.id AND NOT m.skipped AND m.track_id <> sp.track_id"
            ))
            .load(&mut conn)?;
            for p in pairs {
                let e = out.entry(p.track_id).or_default();
                // Nearer in the session says more.
                e.weight += 1.0 / (1.0 + p.gap as f32 / 600.0);
                if p.after != 0 && p.gap <= 900 {
                    e.after += 1;
                    e.after_seed = Some(p.seed);
                }
                e.with_seed = Some(p.seed);
            }
        }
        Ok(out)
    }
}

/// How a song was played around seed songs (see [`Listening::played_with`]).
#[derive(Debug, Clone, Default)]
pub struct CoPlay {
    pub weight: f32,
    /// Times it came within 15 minutes after a seed.
    pub after: u32,
    pub after_seed: Option<i64>,
    pub with_seed: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_leaving_before_half_or_four_minutes() {
        assert!(is_skip(10_000, 200_000));
        assert!(!is_skip(100_000, 200_000));
        assert!(is_skip(99_999, 200_000));
        // A 20-minute piece: 4 minutes heard is a listen.
        assert!(!is_skip(240_000, 1_200_000));
        assert!(is_skip(239_000, 1_200_000));
        // A song of unknown length counts when anything of it played.
        assert!(!is_skip(0, 0));
    }
}
