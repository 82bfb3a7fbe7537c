//! Annotations: what each user says about songs, albums and artists (stars, ratings) and what
//! they played (play counts, last played, now playing). User data: never touched by a scan.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::sqlite::SqliteConnection;

use crate::app::db::{now, Db};

pub mod playback;

/// What annotations name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Track,
    Album,
    Artist,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Album => "album",
            Kind::Artist => "artist",
        }
    }
}

/// One user's annotation of one item.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct Annotation {
    #[diesel(sql_type = BigInt)]
    pub item_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub starred_at: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub rating: Option<i32>,
    #[diesel(sql_type = Integer)]
    pub play_count: i32,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_played_at: Option<i64>,
}

/// A song someone is playing right now (from now-playing scrobbles).
#[derive(Debug, Clone)]
pub struct NowPlaying {
    pub user_id: i64,
    pub user: String,
    pub track_id: i64,
    pub since: i64,
    pub player: Option<String>,
}

pub struct Annotations {
    db: Arc<Db>,
    now_playing: Mutex<HashMap<(i64, String), NowPlaying>>,
    /// Players' playback reports (OpenSubsonic `reportPlayback`).
    pub playback: playback::Sessions,
    /// The last play counted per (user, song), and by which way.
    counted: Mutex<HashMap<(i64, i64), (i64, CountedBy)>>,
}

/// The two ways a client tells of a play. Some clients use both for one play: the second
/// one must not count it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountedBy {
    Scrobble,
    Report,
}

/// How long a now-playing entry lives without a new report.
const NOW_PLAYING_TTL: i64 = 20 * 60;

fn upsert(
    conn: &mut SqliteConnection,
    user: i64,
    kind: Kind,
    id: i64,
    set: &str,
) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO annotations (user_id, item_kind, item_id) VALUES (?, ?, ?)
         ON CONFLICT (user_id, item_kind, item_id) DO NOTHING;",
    )
    .bind::<BigInt, _>(user)
    .bind::<Text, _>(kind.as_str())
    .bind::<BigInt, _>(id)
    .execute(conn)?;
    diesel::sql_query(format!(
        "UPDATE annotations SET {set} WHERE user_id = ? AND item_kind = ? AND item_id = ?"
    ))
    .bind::<BigInt, _>(user)
    .bind::<Text, _>(kind.as_str())
    .bind::<BigInt, _>(id)
    .execute(conn)
}

impl Annotations {
    pub fn new(db: Arc<Db>) -> Annotations {
        Annotations {
            db,
            now_playing: Mutex::new(HashMap::new()),
            playback: playback::Sessions::default(),
            counted: Mutex::new(HashMap::new()),
        }
    }

    /// Stars (or unstars) items. Ids must name existing items; the caller checks.
    pub fn set_starred(&self, user: i64, items: &[(Kind, i64)], starred: bool) -> Result<()> {
        let mut conn = self.db.write();
        let t = now();
        conn.transaction(|c| {
            for (kind, id) in items {
                let set = if starred {
                    format!("starred_at = COALESCE(starred_at, {t})")
                } else {
                    "starred_at = NULL".to_string()
                };
                upsert(c, user, *kind, *id, &set)?;
            }
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    }

    /// Rating 1-5, or 0 to remove it.
    pub fn set_rating(&self, user: i64, kind: Kind, id: i64, rating: i32) -> Result<()> {
        let mut conn = self.db.write();
        let set = if rating == 0 {
            "rating = NULL".to_string()
        } else {
            format!("rating = {}", rating.clamp(1, 5))
        };
        upsert(&mut conn, user, kind, id, &set)?;
        Ok(())
    }

    /// A finished play: counts for the track, its album and its artists, inside the caller's
    /// transaction (so what else a play leads to is written with it, or not at all).
    pub fn played_in(
        c: &mut SqliteConnection,
        user: i64,
        track: i64,
        album: i64,
        artists: &[i64],
        at: i64,
    ) -> QueryResult<()> {
        let set = format!(
            "play_count = play_count + 1, last_played_at = MAX(COALESCE(last_played_at, 0), {at})"
        );
        upsert(c, user, Kind::Track, track, &set)?;
        upsert(c, user, Kind::Album, album, &set)?;
        for a in artists {
            upsert(c, user, Kind::Artist, *a, &set)?;
        }
        Ok(())
    }

    pub fn playing(&self, user_id: i64, user: &str, track: i64, player: Option<&str>) {
        let mut map = self.now_playing.lock().unwrap_or_else(|p| p.into_inner());
        let key = (user_id, player.unwrap_or("").to_string());
        map.insert(
            key,
            NowPlaying {
                user_id,
                user: user.to_string(),
                track_id: track,
                since: now(),
                player: player.map(str::to_string),
            },
        );
    }

    /// The player stopped: it is not playing anything any more.
    pub fn not_playing(&self, user_id: i64, player: Option<&str>) {
        let mut map = self.now_playing.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(user_id, player.unwrap_or("").to_string()));
    }

    /// Whether a play of `track` at `at` (Unix seconds) told `by` one way should count: not
    /// when the other way already counted one within the song's length of it. Plays told the
    /// same way twice count twice, as they always did.
    pub fn count_once(
        &self,
        user: i64,
        track: i64,
        at: i64,
        duration_ms: i64,
        by: CountedBy,
    ) -> bool {
        let mut map = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        let window = duration_ms / 1000 + 60;
        if let Some((when, way)) = map.get(&(user, track)) {
            if *way != by && (at - when).abs() <= window {
                return false;
            }
        }
        if map.len() > 10_000 {
            let cutoff = now() - 86_400;
            map.retain(|_, (when, _)| *when >= cutoff);
        }
        map.insert((user, track), (at, by));
        true
    }

    pub fn now_playing(&self) -> Vec<NowPlaying> {
        let mut map = self.now_playing.lock().unwrap_or_else(|p| p.into_inner());
        let cutoff = now() - NOW_PLAYING_TTL;
        map.retain(|_, n| n.since >= cutoff);
        let mut list: Vec<NowPlaying> = map.values().cloned().collect();
        list.sort_by_key(|n| std::cmp::Reverse(n.since));
        list
    }

    /// A user's annotations of the given items.
    pub fn of(&self, user: i64, kind: Kind, ids: &[i64]) -> Result<HashMap<i64, Annotation>> {
        Annotations::of_in(&mut *self.db.read()?, user, kind, ids)
    }

    /// [`Annotations::of`] on a connection the caller holds. A caller that holds a reader must
    /// use this: taking a second reader from the pool while holding one deadlocks the pool
    /// under load (every reader held by a request waiting for another; found by the 200-client
    /// soak, `scripts/soak`).
    pub fn of_in(
        conn: &mut SqliteConnection,
        user: i64,
        kind: Kind,
        ids: &[i64],
    ) -> Result<HashMap<i64, Annotation>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let rows: Vec<Annotation> = diesel::sql_query(format!(
                "SELECT item_id, starred_at, rating, play_count, last_played_at FROM annotations
                 WHERE user_id = ? AND item_kind = ? AND item_id IN ({list})"
            ))
            .bind::<BigInt, _>(user)
            .bind::<Text, _>(kind.as_str())
            .load(conn)?;
            out.extend(rows.into_iter().map(|a| (a.item_id, a)));
        }
        Ok(out)
    }

    /// Ids a user starred, newest first.
    pub fn starred(&self, user: i64, kind: Kind) -> Result<Vec<i64>> {
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = BigInt)]
            item_id: i64,
        }
        let mut conn = self.db.read()?;
        let rows: Vec<Id> = diesel::sql_query(
            "SELECT item_id FROM annotations WHERE user_id = ? AND item_kind = ? AND starred_at IS NOT NULL
             ORDER BY starred_at DESC, item_id",
        )
        .bind::<BigInt, _>(user)
        .bind::<Text, _>(kind.as_str())
        .load(&mut conn)?;
        Ok(rows.into_iter().map(|r| r.item_id).collect())
    }
}
