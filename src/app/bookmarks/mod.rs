//! Where each user left off: bookmarks inside long tracks, and the saved play queue that clients
//! restore on another device (Subsonic's per-user queue; the household queue is another thing).

use std::sync::Arc;

use anyhow::Result;
use diesel::prelude::*;

use crate::app::db::schema::{bookmarks, play_queue_entries, play_queues};
use crate::app::db::{now, Db};

#[derive(Debug, Clone, Queryable)]
pub struct Bookmark {
    pub track_id: i64,
    pub position_ms: i64,
    pub comment: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct SavedQueue {
    pub tracks: Vec<i64>,
    /// Index into `tracks` of the current entry.
    pub current: Option<usize>,
    pub position_ms: i64,
    pub changed_by: Option<String>,
    pub updated_at: i64,
}

pub struct Bookmarks {
    db: Arc<Db>,
}

impl Bookmarks {
    pub fn new(db: Arc<Db>) -> Bookmarks {
        Bookmarks { db }
    }

    pub fn list(&self, user: i64) -> Result<Vec<Bookmark>> {
        let mut c = self.db.read()?;
        Ok(bookmarks::table
            .filter(bookmarks::user_id.eq(user))
            .order(bookmarks::updated_at.desc())
            .select((
                bookmarks::track_id,
                bookmarks::position_ms,
                bookmarks::comment,
                bookmarks::created_at,
                bookmarks::updated_at,
            ))
            .load(&mut c)?)
    }

    pub fn set(
        &self,
        user: i64,
        track: i64,
        position_ms: i64,
        comment: Option<&str>,
    ) -> Result<()> {
        let mut c = self.db.write();
        let t = now();
        diesel::insert_into(bookmarks::table)
            .values((
                bookmarks::user_id.eq(user),
                bookmarks::track_id.eq(track),
                bookmarks::position_ms.eq(position_ms),
                bookmarks::comment.eq(comment),
                bookmarks::created_at.eq(t),
                bookmarks::updated_at.eq(t),
            ))
            .on_conflict((bookmarks::user_id, bookmarks::track_id))
            .do_update()
            .set((
                bookmarks::position_ms.eq(position_ms),
                bookmarks::comment.eq(comment),
                bookmarks::updated_at.eq(t),
            ))
            .execute(&mut *c)?;
        Ok(())
    }

    /// Returns whether there was one.
    pub fn delete(&self, user: i64, track: i64) -> Result<bool> {
        let mut c = self.db.write();
        let n = diesel::delete(
            bookmarks::table
                .filter(bookmarks::user_id.eq(user))
                .filter(bookmarks::track_id.eq(track)),
        )
        .execute(&mut *c)?;
        Ok(n > 0)
    }

    pub fn queue(&self, user: i64) -> Result<Option<SavedQueue>> {
        let mut c = self.db.read()?;
        let head: Option<(Option<i64>, i64, Option<String>, i64)> = play_queues::table
            .find(user)
            .select((
                play_queues::current_index,
                play_queues::position_ms,
                play_queues::changed_by,
                play_queues::updated_at,
            ))
            .first(&mut c)
            .optional()?;
        let Some((current, position_ms, changed_by, updated_at)) = head else {
            return Ok(None);
        };
        let tracks: Vec<i64> = play_queue_entries::table
            .filter(play_queue_entries::user_id.eq(user))
            .order(play_queue_entries::position)
            .select(play_queue_entries::track_id)
            .load(&mut c)?;
        let current = current
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < tracks.len());
        Ok(Some(SavedQueue {
            tracks,
            current,
            position_ms,
            changed_by,
            updated_at,
        }))
    }

    /// Replaces the saved queue; an empty list clears it.
    pub fn save(
        &self,
        user: i64,
        tracks: &[i64],
        current: Option<usize>,
        position_ms: i64,
        client: Option<&str>,
    ) -> Result<()> {
        let mut c = self.db.write();
        c.transaction(|c| {
            diesel::delete(play_queue_entries::table.filter(play_queue_entries::user_id.eq(user)))
                .execute(c)?;
            diesel::delete(play_queues::table.find(user)).execute(c)?;
            if tracks.is_empty() {
                return Ok(());
            }
            diesel::insert_into(play_queues::table)
                .values((
                    play_queues::user_id.eq(user),
                    play_queues::current_index.eq(current.map(|i| i as i64)),
                    play_queues::position_ms.eq(position_ms),
                    play_queues::changed_by.eq(client),
                    play_queues::updated_at.eq(now()),
                ))
                .execute(c)?;
            for (i, t) in tracks.iter().enumerate() {
                diesel::insert_into(play_queue_entries::table)
                    .values((
                        play_queue_entries::user_id.eq(user),
                        play_queue_entries::position.eq(i as i32),
                        play_queue_entries::track_id.eq(t),
                    ))
                    .execute(c)?;
            }
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    }
}
