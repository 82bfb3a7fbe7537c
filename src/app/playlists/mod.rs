//! Playlists: ordered lists of songs that users make and share with the household. User data: a
//! rescan never changes them; an entry whose song went missing is kept (and shows again when the
//! song comes back), it is only hidden while the song is gone.

use std::sync::Arc;

use anyhow::Result;
use diesel::prelude::*;

use crate::app::db::schema::{playlist_entries, playlists, users};
use crate::app::db::{now, Db};

#[derive(Debug, Clone, Queryable)]
pub struct Playlist {
    pub id: i64,
    pub owner_id: i64,
    pub owner: String,
    pub name: String,
    pub comment: Option<String>,
    pub public: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The `.m3u` file in a music folder this playlist is imported from (read-only then).
    pub source_path: Option<String>,
    /// The music folder of that file.
    pub folder_id: Option<i64>,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub comment: Option<String>,
    pub public: Option<bool>,
    pub add: Vec<i64>,
    /// Positions (0-based, as the client saw them) to remove.
    pub remove: Vec<usize>,
}

pub struct Playlists {
    db: Arc<Db>,
}

type Columns = (
    playlists::id,
    playlists::owner_id,
    users::name,
    playlists::name,
    playlists::comment,
    playlists::public,
    playlists::created_at,
    playlists::updated_at,
    playlists::source_path,
    playlists::folder_id,
);

const COLUMNS: Columns = (
    playlists::id,
    playlists::owner_id,
    users::name,
    playlists::name,
    playlists::comment,
    playlists::public,
    playlists::created_at,
    playlists::updated_at,
    playlists::source_path,
    playlists::folder_id,
);

/// Replaces a playlist's songs (in one transaction of the caller's).
pub fn set_entries(c: &mut SqliteConnection, playlist: i64, songs: &[i64]) -> QueryResult<()> {
    diesel::delete(playlist_entries::table.filter(playlist_entries::playlist_id.eq(playlist)))
        .execute(c)?;
    for (i, song) in songs.iter().enumerate() {
        diesel::insert_into(playlist_entries::table)
            .values((
                playlist_entries::playlist_id.eq(playlist),
                playlist_entries::position.eq(i as i32),
                playlist_entries::track_id.eq(song),
            ))
            .execute(c)?;
    }
    Ok(())
}

impl Playlists {
    pub fn new(db: Arc<Db>) -> Playlists {
        Playlists { db }
    }

    /// Playlists a user may see: their own and everyone's public ones.
    pub fn visible_to(&self, user: i64) -> Result<Vec<Playlist>> {
        let mut c = self.db.read()?;
        Ok(playlists::table
            .inner_join(users::table)
            .filter(playlists::owner_id.eq(user).or(playlists::public.eq(true)))
            .select(COLUMNS)
            .order((playlists::name, playlists::id))
            .load(&mut c)?)
    }

    /// Playlists owned by one user (what an admin asks for with `username`).
    pub fn owned_by(&self, user: i64) -> Result<Vec<Playlist>> {
        let mut c = self.db.read()?;
        Ok(playlists::table
            .inner_join(users::table)
            .filter(playlists::owner_id.eq(user))
            .select(COLUMNS)
            .order((playlists::name, playlists::id))
            .load(&mut c)?)
    }

    pub fn get(&self, id: i64) -> Result<Option<Playlist>> {
        let mut c = self.db.read()?;
        Ok(playlists::table
            .inner_join(users::table)
            .filter(playlists::id.eq(id))
            .select(COLUMNS)
            .first(&mut c)
            .optional()?)
    }

    /// Song ids in order, duplicates kept.
    pub fn entries(&self, id: i64) -> Result<Vec<i64>> {
        let mut c = self.db.read()?;
        Ok(playlist_entries::table
            .filter(playlist_entries::playlist_id.eq(id))
            .order(playlist_entries::position)
            .select(playlist_entries::track_id)
            .load(&mut c)?)
    }

    pub fn create(&self, owner: i64, name: &str, songs: &[i64]) -> Result<i64> {
        let mut c = self.db.write();
        let t = now();
        Ok(c.transaction(|c| {
            let id: i64 = diesel::insert_into(playlists::table)
                .values((
                    playlists::owner_id.eq(owner),
                    playlists::name.eq(name),
                    playlists::created_at.eq(t),
                    playlists::updated_at.eq(t),
                ))
                .returning(playlists::id)
                .get_result(c)?;
            set_entries(c, id, songs)?;
            Ok::<_, diesel::result::Error>(id)
        })?)
    }

    pub fn replace_songs(&self, id: i64, songs: &[i64]) -> Result<()> {
        let mut c = self.db.write();
        c.transaction(|c| {
            set_entries(c, id, songs)?;
            diesel::update(playlists::table.find(id))
                .set(playlists::updated_at.eq(now()))
                .execute(c)?;
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    }

    /// Applies changes; removals refer to positions before the additions, as clients expect.
    pub fn update(&self, id: i64, changes: Changes) -> Result<()> {
        let mut c = self.db.write();
        c.transaction(|c| {
            if let Some(name) = &changes.name {
                diesel::update(playlists::table.find(id))
                    .set(playlists::name.eq(name))
                    .execute(c)?;
            }
            if let Some(comment) = &changes.comment {
                diesel::update(playlists::table.find(id))
                    .set(playlists::comment.eq(comment))
                    .execute(c)?;
            }
            if let Some(public) = changes.public {
                diesel::update(playlists::table.find(id))
                    .set(playlists::public.eq(public))
                    .execute(c)?;
            }
            if !changes.add.is_empty() || !changes.remove.is_empty() {
                let mut songs: Vec<i64> = playlist_entries::table
                    .filter(playlist_entries::playlist_id.eq(id))
                    .order(playlist_entries::position)
                    .select(playlist_entries::track_id)
                    .load(c)?;
                let mut remove = changes.remove.clone();
                remove.sort_unstable();
                remove.dedup();
                for i in remove.into_iter().rev() {
                    if i < songs.len() {
                        songs.remove(i);
                    }
                }
                songs.extend(&changes.add);
                set_entries(c, id, &songs)?;
            }
            diesel::update(playlists::table.find(id))
                .set(playlists::updated_at.eq(now()))
                .execute(c)?;
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    }

    pub fn delete(&self, id: i64) -> Result<()> {
        let mut c = self.db.write();
        diesel::delete(playlists::table.find(id)).execute(&mut *c)?;
        Ok(())
    }
}
