//! The library's writes and the scanner's look-ups in SQLite. The scanner decides; this module
//! only turns decisions into SQL, inside the transactions the scanner opens.

use std::collections::HashMap;
use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;

use super::fold::fold;
use super::record::{role, FileFacts, TrackRecord};
use super::tags::VARIOUS_ARTISTS;
use crate::app::db::schema::*;
use crate::app::db::{self, now};

pub type DbResult<T> = Result<T, diesel::result::Error>;

/// The upper bound of a path range: every path below `dir/` sorts in `[dir/, dir0)`.
pub fn subtree_bounds(dir: &str) -> (String, String) {
    let dir = dir.trim_end_matches('/');
    (format!("{dir}/"), format!("{dir}0"))
}

pub fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A track as the scanner needs to know it to decide what to do with a file.
#[derive(Debug, Clone, Queryable)]
pub struct KnownTrack {
    pub id: i64,
    pub path: String,
    pub size: i64,
    pub mtime: i64,
    pub album_id: i64,
    pub missing_since: Option<i64>,
}

pub fn folder_id(conn: &mut SqliteConnection, root: &str) -> DbResult<i64> {
    let name = Path::new(root)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| root.to_string());
    // In a transaction, so a failed commit is reported (see "RETURNING" in app/db/mod.rs).
    conn.transaction(|c| {
        diesel::insert_into(music_folders::table)
            .values((music_folders::path.eq(root), music_folders::name.eq(&name)))
            .on_conflict(music_folders::path)
            .do_update()
            .set(music_folders::enabled.eq(true))
            .returning(music_folders::id)
            .get_result(c)
    })
}

/// The folders an admin added in the app, by path.
pub fn folders_added_in_app(conn: &mut SqliteConnection) -> DbResult<Vec<String>> {
    music_folders::table
        .filter(music_folders::added_in_app.eq(true))
        .select(music_folders::path)
        .order(music_folders::id)
        .load(conn)
}

pub fn folder_path(conn: &mut SqliteConnection, id: i64) -> DbResult<Option<String>> {
    music_folders::table
        .find(id)
        .select(music_folders::path)
        .first(conn)
        .optional()
}

/// Records `root` as added in the app (and enabled); its id.
pub fn add_folder_in_app(conn: &mut SqliteConnection, root: &str) -> DbResult<i64> {
    let id = folder_id(conn, root)?;
    diesel::update(music_folders::table.find(id))
        .set(music_folders::added_in_app.eq(true))
        .execute(conn)?;
    Ok(id)
}

/// Takes back a folder added in the app: no longer added, disabled (its tracks stay, hidden).
/// False if there is no such folder added in the app.
pub fn remove_folder_in_app(conn: &mut SqliteConnection, id: i64) -> DbResult<bool> {
    let changed = diesel::update(
        music_folders::table
            .find(id)
            .filter(music_folders::added_in_app.eq(true)),
    )
    .set((
        music_folders::added_in_app.eq(false),
        music_folders::enabled.eq(false),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

/// Marks folders that are no longer configured (nor added in the app) as disabled (their tracks
/// stay, hidden). A folder added in the app while a scan was starting with the list before it
/// is not in `roots`, but stays enabled.
pub fn set_enabled_folders(conn: &mut SqliteConnection, roots: &[String]) -> DbResult<()> {
    diesel::update(
        music_folders::table
            .filter(music_folders::path.ne_all(roots))
            .filter(music_folders::added_in_app.eq(false)),
    )
    .set(music_folders::enabled.eq(false))
    .execute(conn)?;
    Ok(())
}

pub fn present_tracks_in_folder(conn: &mut SqliteConnection, folder: i64) -> DbResult<i64> {
    tracks::table
        .filter(tracks::folder_id.eq(folder))
        .filter(tracks::missing_since.is_null())
        .count()
        .get_result(conn)
}

fn known_columns() -> (
    tracks::id,
    tracks::path,
    tracks::size,
    tracks::mtime,
    tracks::album_id,
    tracks::missing_since,
) {
    (
        tracks::id,
        tracks::path,
        tracks::size,
        tracks::mtime,
        tracks::album_id,
        tracks::missing_since,
    )
}

/// Tracks under a directory tree (or the one file at that path).
pub fn known_in_tree(conn: &mut SqliteConnection, dir: &str) -> DbResult<Vec<KnownTrack>> {
    let (lo, hi) = subtree_bounds(dir);
    tracks::table
        .select(known_columns())
        .filter(
            tracks::path
                .eq(dir)
                .or(tracks::path.ge(lo).and(tracks::path.lt(hi))),
        )
        .load(conn)
}

/// Tracks whose file sits directly in `dir`.
pub fn known_in_dir(conn: &mut SqliteConnection, dir: &str) -> DbResult<Vec<KnownTrack>> {
    let dir_id = directories::table
        .select(directories::id)
        .filter(directories::path.eq(dir))
        .first::<i64>(conn)
        .optional()?;
    match dir_id {
        None => Ok(Vec::new()),
        Some(id) => tracks::table
            .select(known_columns())
            .filter(tracks::directory_id.eq(id))
            .load(conn),
    }
}

/// Recorded problems by path: (kind, size, mtime). An unchanged broken file is not read (and
/// logged) again; a file whose problem went away has its record cleared.
pub fn known_problems(
    conn: &mut SqliteConnection,
) -> DbResult<HashMap<String, (String, i64, i64)>> {
    let rows: Vec<(String, String, Option<i64>, Option<i64>)> = scan_errors::table
        .select((
            scan_errors::path,
            scan_errors::kind,
            scan_errors::size,
            scan_errors::mtime,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(p, k, s, m)| (p, (k, s.unwrap_or(-1), m.unwrap_or(-1))))
        .collect())
}

pub fn error_reason(conn: &mut SqliteConnection, path: &str) -> DbResult<Option<String>> {
    scan_errors::table
        .filter(scan_errors::path.eq(path))
        .select(scan_errors::reason)
        .first(conn)
        .optional()
}

/// Candidates for "this new file is that old track, moved": tracks already missing plus the
/// given ids (vanished in this scan). Returns (id, recording id, match key).
pub fn move_candidates(
    conn: &mut SqliteConnection,
    vanished: &[i64],
) -> DbResult<Vec<(i64, Option<String>, String)>> {
    let mut out: Vec<(i64, Option<String>, String)> = tracks::table
        .filter(tracks::missing_since.is_not_null())
        .select((tracks::id, tracks::mbz_recording_id, tracks::match_key))
        .load(conn)?;
    for chunk in vanished.chunks(500) {
        out.extend(
            tracks::table
                .filter(tracks::id.eq_any(chunk))
                .filter(tracks::missing_since.is_null())
                .select((tracks::id, tracks::mbz_recording_id, tracks::match_key))
                .load::<(i64, Option<String>, String)>(conn)?,
        );
    }
    Ok(out)
}

pub fn album_of(conn: &mut SqliteConnection, track: i64) -> DbResult<i64> {
    tracks::table
        .find(track)
        .select(tracks::album_id)
        .first(conn)
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = tracks, treat_none_as_null = true)]
pub struct TrackRow<'a> {
    pub folder_id: i64,
    pub directory_id: i64,
    pub album_id: i64,
    pub path: &'a str,
    pub size: i64,
    pub mtime: i64,
    pub suffix: &'a str,
    pub content_type: &'a str,
    pub format: &'a str,
    pub duration_ms: i64,
    pub bit_rate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub bit_depth: Option<i32>,
    pub channels: Option<i32>,
    pub title: &'a str,
    pub sort_title: Option<&'a str>,
    pub artist_display: &'a str,
    pub artist_sort: Option<&'a str>,
    pub album_name: &'a str,
    pub album_sort: Option<&'a str>,
    pub album_artist_display: &'a str,
    pub album_artist_sort: Option<&'a str>,
    pub genre_display: Option<String>,
    pub moods: Option<String>,
    pub track_number: Option<i32>,
    pub track_total: Option<i32>,
    pub disc_number: Option<i32>,
    pub disc_total: Option<i32>,
    pub disc_subtitle: Option<&'a str>,
    pub year: Option<i32>,
    pub date: Option<&'a str>,
    pub original_date: Option<&'a str>,
    pub release_date: Option<&'a str>,
    pub bpm: Option<i32>,
    pub comment: Option<&'a str>,
    pub isrc: Option<&'a str>,
    pub label: Option<&'a str>,
    pub release_types: Option<&'a str>,
    pub compilation: bool,
    pub explicit: Option<bool>,
    pub rg_track_gain: Option<f64>,
    pub rg_track_peak: Option<f64>,
    pub rg_album_gain: Option<f64>,
    pub rg_album_peak: Option<f64>,
    pub mbz_recording_id: Option<&'a str>,
    pub mbz_release_track_id: Option<&'a str>,
    pub mbz_album_id: Option<&'a str>,
    pub mbz_artist_ids: Option<String>,
    pub mbz_album_artist_ids: Option<String>,
    pub mbz_release_group_id: Option<&'a str>,
    pub lyrics: Option<&'a str>,
    pub lrc_path: Option<&'a str>,
    pub has_cover: bool,
    pub match_key: &'a str,
    pub missing_since: Option<i64>,
    pub updated_at: i64,
}

impl<'a> TrackRow<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rec: &'a TrackRecord,
        facts: &'a FileFacts,
        path: &'a str,
        folder_id: i64,
        directory_id: i64,
        album_id: i64,
        lrc_path: Option<&'a str>,
        match_key: &'a str,
    ) -> TrackRow<'a> {
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(";"));
        TrackRow {
            folder_id,
            directory_id,
            album_id,
            path,
            size: facts.size,
            mtime: facts.mtime,
            suffix: &rec.suffix,
            content_type: &rec.content_type,
            format: &rec.format,
            duration_ms: rec.duration_ms,
            bit_rate: rec.bit_rate,
            sample_rate: rec.sample_rate,
            bit_depth: rec.bit_depth,
            channels: rec.channels,
            title: &rec.title,
            sort_title: rec.sort_title.as_deref(),
            artist_display: &rec.artist_display,
            artist_sort: rec.artist_sort.as_deref(),
            album_name: &rec.album,
            album_sort: rec.album_sort.as_deref(),
            album_artist_display: &rec.album_artist_display,
            album_artist_sort: rec.album_artist_sort.as_deref(),
            genre_display: (!rec.genres.is_empty()).then(|| rec.genres.join("; ")),
            moods: joined(&rec.moods),
            track_number: rec.track_number,
            track_total: rec.track_total,
            disc_number: rec.disc_number,
            disc_total: rec.disc_total,
            disc_subtitle: rec.disc_subtitle.as_deref(),
            year: rec.year,
            date: rec.date.as_deref(),
            original_date: rec.original_date.as_deref(),
            release_date: rec.release_date.as_deref(),
            bpm: rec.bpm,
            comment: rec.comment.as_deref(),
            isrc: rec.isrc.as_deref(),
            label: rec.label.as_deref(),
            release_types: rec.release_types.as_deref(),
            compilation: rec.compilation,
            explicit: rec.explicit,
            rg_track_gain: rec.rg_track_gain,
            rg_track_peak: rec.rg_track_peak,
            rg_album_gain: rec.rg_album_gain,
            rg_album_peak: rec.rg_album_peak,
            mbz_recording_id: rec.mbz_recording_id.as_deref(),
            mbz_release_track_id: rec.mbz_release_track_id.as_deref(),
            mbz_album_id: rec.mbz_album_id.as_deref(),
            mbz_artist_ids: joined(&rec.mbz_artist_ids),
            mbz_album_artist_ids: joined(&rec.mbz_album_artist_ids),
            mbz_release_group_id: rec.mbz_release_group_id.as_deref(),
            lyrics: rec.lyrics.as_deref(),
            lrc_path,
            has_cover: rec.has_cover,
            match_key,
            missing_since: None,
            updated_at: now(),
        }
    }
}

pub fn insert_track(conn: &mut SqliteConnection, row: &TrackRow<'_>) -> DbResult<i64> {
    diesel::insert_into(tracks::table)
        .values((row, tracks::created_at.eq(now())))
        .returning(tracks::id)
        .get_result(conn)
}

pub fn update_track(conn: &mut SqliteConnection, id: i64, row: &TrackRow<'_>) -> DbResult<()> {
    diesel::update(tracks::table.find(id))
        .set(row)
        .execute(conn)?;
    diesel::delete(track_artists::table.filter(track_artists::track_id.eq(id))).execute(conn)?;
    diesel::delete(track_genres::table.filter(track_genres::track_id.eq(id))).execute(conn)?;
    Ok(())
}

pub fn link_artist(
    conn: &mut SqliteConnection,
    track: i64,
    artist: i64,
    role: &str,
    sub_role: Option<&str>,
    position: i32,
) -> DbResult<()> {
    diesel::insert_into(track_artists::table)
        .values((
            track_artists::track_id.eq(track),
            track_artists::artist_id.eq(artist),
            track_artists::role.eq(role),
            track_artists::sub_role.eq(sub_role),
            track_artists::position.eq(position),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn link_genre(
    conn: &mut SqliteConnection,
    track: i64,
    genre: i64,
    position: i32,
) -> DbResult<()> {
    diesel::insert_into(track_genres::table)
        .values((
            track_genres::track_id.eq(track),
            track_genres::genre_id.eq(genre),
            track_genres::position.eq(position),
        ))
        .execute(conn)?;
    Ok(())
}

/// Id caches for artists, albums, genres and directories, filled from the database once per scan
/// so that a big scan asks SQLite only about names it has not seen yet.
#[derive(Default)]
pub struct Ids {
    artists: HashMap<String, i64>,
    albums: HashMap<String, i64>,
    genres: HashMap<String, i64>,
    pub dirs: HashMap<String, i64>,
}

impl Ids {
    pub fn load(conn: &mut SqliteConnection) -> DbResult<Ids> {
        Ok(Ids {
            artists: artists::table
                .select((artists::key, artists::id))
                .load::<(String, i64)>(conn)?
                .into_iter()
                .collect(),
            albums: albums::table
                .select((albums::key, albums::id))
                .load::<(String, i64)>(conn)?
                .into_iter()
                .collect(),
            genres: genres::table
                .select((genres::name, genres::id))
                .load::<(String, i64)>(conn)?
                .into_iter()
                .map(|(n, id)| (n.to_lowercase(), id))
                .collect(),
            dirs: HashMap::new(),
        })
    }

    pub fn artist(
        &mut self,
        conn: &mut SqliteConnection,
        name: &str,
        sort: Option<&str>,
        mbid: Option<&str>,
    ) -> DbResult<i64> {
        let key = fold(name);
        if let Some(id) = self.artists.get(&key) {
            if mbid.is_some() {
                diesel::update(artists::table.find(*id).filter(artists::mbid.is_null()))
                    .set(artists::mbid.eq(mbid))
                    .execute(conn)?;
            }
            return Ok(*id);
        }
        let t = now();
        let id = diesel::insert_into(artists::table)
            .values((
                artists::key.eq(&key),
                artists::name.eq(name),
                artists::sort_name.eq(sort),
                artists::search_name.eq(&key),
                artists::mbid.eq(mbid),
                artists::created_at.eq(t),
                artists::updated_at.eq(t),
            ))
            .returning(artists::id)
            .get_result(conn)?;
        self.artists.insert(key, id);
        Ok(id)
    }

    /// The album a track belongs to: one per album artist and title (a compilation: one per title,
    /// whatever its track artists), created from this track's album-level tags if new.
    pub fn album(
        &mut self,
        conn: &mut SqliteConnection,
        rec: &TrackRecord,
        folder: i64,
    ) -> DbResult<i64> {
        let key = album_key(rec);
        if let Some(id) = self.albums.get(&key) {
            return Ok(*id);
        }
        let t = now();
        let artist_display = if rec.compilation && rec.names(role::ALBUM_ARTIST).count() == 0 {
            VARIOUS_ARTISTS
        } else {
            &rec.album_artist_display
        };
        let id = diesel::insert_into(albums::table)
            .values((
                albums::key.eq(&key),
                albums::name.eq(&rec.album),
                albums::sort_name.eq(&rec.album_sort),
                albums::search_name.eq(fold(&rec.album)),
                albums::artist_display.eq(artist_display),
                albums::artist_sort.eq(&rec.album_artist_sort),
                albums::year.eq(rec.year),
                albums::date.eq(&rec.date),
                albums::compilation.eq(rec.compilation),
                albums::folder_id.eq(folder),
                albums::created_at.eq(t),
                albums::updated_at.eq(t),
            ))
            .returning(albums::id)
            .get_result(conn)?;
        self.albums.insert(key, id);
        Ok(id)
    }

    pub fn genre(&mut self, conn: &mut SqliteConnection, name: &str) -> DbResult<i64> {
        let key = name.to_lowercase();
        if let Some(id) = self.genres.get(&key) {
            return Ok(*id);
        }
        let id = diesel::insert_into(genres::table)
            .values(genres::name.eq(name))
            .returning(genres::id)
            .get_result(conn)?;
        self.genres.insert(key, id);
        Ok(id)
    }
}

/// Album identity. Compilations group by title alone, so "Various Artists" albums whose tracks
/// carry different artists stay one album.
pub fn album_key(rec: &TrackRecord) -> String {
    let title = fold(&rec.album);
    if rec.compilation {
        return format!("va\u{1f}{title}");
    }
    let artist = rec
        .names(role::ALBUM_ARTIST)
        .next()
        .map(|c| fold(&c.name))
        .unwrap_or_else(|| fold(&rec.album_artist_display));
    format!("{artist}\u{1f}{title}")
}

/// Upserts one directory and returns its id. Parents must be upserted first.
pub fn upsert_dir(
    conn: &mut SqliteConnection,
    folder: i64,
    parent: Option<i64>,
    path: &str,
    mtime: i64,
    cover: Option<&str>,
    artist_image: Option<&str>,
) -> DbResult<i64> {
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let t = now();
    diesel::insert_into(directories::table)
        .values((
            directories::folder_id.eq(folder),
            directories::parent_id.eq(parent),
            directories::path.eq(path),
            directories::name.eq(&name),
            directories::mtime.eq(mtime),
            directories::cover_path.eq(cover),
            directories::artist_image_path.eq(artist_image),
            directories::created_at.eq(t),
            directories::updated_at.eq(t),
        ))
        .on_conflict(directories::path)
        .do_update()
        .set((
            directories::folder_id.eq(folder),
            directories::parent_id.eq(parent),
            directories::mtime.eq(mtime),
            directories::cover_path.eq(cover),
            directories::artist_image_path.eq(artist_image),
            directories::missing_since.eq(None::<i64>),
            directories::updated_at.eq(t),
        ))
        .returning(directories::id)
        .get_result(conn)
}

pub fn dir_id(conn: &mut SqliteConnection, path: &str) -> DbResult<Option<i64>> {
    directories::table
        .filter(directories::path.eq(path))
        .select(directories::id)
        .first(conn)
        .optional()
}

/// Marks directories in a scanned tree that were not seen as missing.
pub fn mark_dirs_missing(
    conn: &mut SqliteConnection,
    tree: &str,
    still_there: impl Fn(&str) -> bool,
) -> DbResult<usize> {
    let (lo, hi) = subtree_bounds(tree);
    let rows: Vec<(i64, String)> = directories::table
        .filter(directories::missing_since.is_null())
        .filter(directories::path.ge(lo).and(directories::path.lt(hi)))
        .select((directories::id, directories::path))
        .load(conn)?;
    let gone: Vec<i64> = rows
        .into_iter()
        .filter(|(_, p)| !still_there(p))
        .map(|(id, _)| id)
        .collect();
    for chunk in gone.chunks(500) {
        diesel::update(directories::table.filter(directories::id.eq_any(chunk)))
            .set(directories::missing_since.eq(now()))
            .execute(conn)?;
    }
    Ok(gone.len())
}

pub fn mark_missing(conn: &mut SqliteConnection, ids: &[i64]) -> DbResult<usize> {
    let mut n = 0;
    for chunk in ids.chunks(500) {
        n += diesel::update(
            tracks::table
                .filter(tracks::id.eq_any(chunk))
                .filter(tracks::missing_since.is_null()),
        )
        .set(tracks::missing_since.eq(now()))
        .execute(conn)?;
    }
    Ok(n)
}

pub fn record_problem(
    conn: &mut SqliteConnection,
    path: &str,
    kind: &str,
    reason: &str,
    facts: Option<&FileFacts>,
) -> DbResult<()> {
    let t = now();
    diesel::insert_into(scan_errors::table)
        .values((
            scan_errors::path.eq(path),
            scan_errors::kind.eq(kind),
            scan_errors::reason.eq(reason),
            scan_errors::size.eq(facts.map(|f| f.size)),
            scan_errors::mtime.eq(facts.map(|f| f.mtime)),
            scan_errors::first_seen.eq(t),
            scan_errors::last_seen.eq(t),
        ))
        .on_conflict(scan_errors::path)
        .do_update()
        .set((
            scan_errors::kind.eq(kind),
            scan_errors::reason.eq(reason),
            scan_errors::size.eq(facts.map(|f| f.size)),
            scan_errors::mtime.eq(facts.map(|f| f.mtime)),
            scan_errors::last_seen.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn clear_problem(conn: &mut SqliteConnection, path: &str) -> DbResult<()> {
    diesel::delete(scan_errors::table.filter(scan_errors::path.eq(path))).execute(conn)?;
    Ok(())
}

/// Forgets recorded problems of files under a scanned tree that no longer exist.
pub fn clear_problems_not_in(
    conn: &mut SqliteConnection,
    tree: &str,
    still_there: impl Fn(&str) -> bool,
) -> DbResult<()> {
    let (lo, hi) = subtree_bounds(tree);
    let rows: Vec<(i64, String)> = scan_errors::table
        .filter(
            scan_errors::path
                .eq(tree)
                .or(scan_errors::path.ge(lo).and(scan_errors::path.lt(hi))),
        )
        .select((scan_errors::id, scan_errors::path))
        .load(conn)?;
    let gone: Vec<i64> = rows
        .into_iter()
        .filter(|(_, p)| !still_there(p))
        .map(|(id, _)| id)
        .collect();
    for chunk in gone.chunks(500) {
        diesel::delete(scan_errors::table.filter(scan_errors::id.eq_any(chunk))).execute(conn)?;
    }
    Ok(())
}

pub fn set_state(conn: &mut SqliteConnection, key: &str, value: &str) -> DbResult<()> {
    diesel::insert_into(scan_state::table)
        .values((scan_state::key.eq(key), scan_state::value.eq(value)))
        .on_conflict(scan_state::key)
        .do_update()
        .set(scan_state::value.eq(value))
        .execute(conn)?;
    Ok(())
}

pub fn get_state(conn: &mut SqliteConnection, key: &str) -> DbResult<Option<String>> {
    scan_state::table
        .find(key)
        .select(scan_state::value)
        .first(conn)
        .optional()
}

pub fn clear_state(conn: &mut SqliteConnection, key: &str) -> DbResult<()> {
    diesel::delete(scan_state::table.find(key)).execute(conn)?;
    Ok(())
}

/// Deletes what has been missing for longer than the grace period. Tracks go with their credits;
/// user data that names them stays (it has no foreign key, on purpose).
pub fn purge_missing(conn: &mut SqliteConnection, cutoff: i64) -> DbResult<usize> {
    let n = diesel::delete(tracks::table.filter(tracks::missing_since.lt(cutoff))).execute(conn)?;
    diesel::delete(directories::table.filter(directories::missing_since.lt(cutoff)))
        .execute(conn)?;
    if n > 0 {
        conn.batch_execute(
            "DELETE FROM albums WHERE NOT EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = albums.id);
             DELETE FROM artists WHERE NOT EXISTS (SELECT 1 FROM track_artists ta WHERE ta.artist_id = artists.id)
                                   AND NOT EXISTS (SELECT 1 FROM album_artists aa WHERE aa.artist_id = artists.id);
             DELETE FROM genres WHERE NOT EXISTS (SELECT 1 FROM track_genres tg WHERE tg.genre_id = genres.id)
                                  AND NOT EXISTS (SELECT 1 FROM album_genres ag WHERE ag.genre_id = genres.id);",
        )?;
    }
    Ok(n)
}

/// Brings the tracks' search index up to date for the given tracks (inserted or changed).
pub fn index_tracks(conn: &mut SqliteConnection, ids: &[i64]) -> DbResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    conn.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS touched_tracks (id INTEGER PRIMARY KEY); DELETE FROM touched_tracks;",
    )?;
    for chunk in ids.chunks(500) {
        let values = chunk
            .iter()
            .map(|id| format!("({id})"))
            .collect::<Vec<_>>()
            .join(",");
        conn.batch_execute(&format!(
            "INSERT OR IGNORE INTO touched_tracks (id) VALUES {values};"
        ))?;
    }
    conn.batch_execute(
        "DELETE FROM tracks_fts WHERE rowid IN (SELECT id FROM touched_tracks);
         INSERT INTO tracks_fts (rowid, title, artist, album)
           SELECT id, title, artist_display, album_name FROM tracks WHERE id IN (SELECT id FROM touched_tracks);",
    )
}

/// Recomputes album, artist and genre summaries. `albums = None` means every album.
pub fn refresh_summaries(conn: &mut SqliteConnection, albums: Option<&[i64]>) -> DbResult<()> {
    conn.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS dirty_albums (id INTEGER PRIMARY KEY); DELETE FROM dirty_albums;",
    )?;
    match albums {
        None => conn.batch_execute("INSERT INTO dirty_albums SELECT id FROM albums;")?,
        Some(ids) => {
            for id in ids {
                diesel::sql_query("INSERT OR IGNORE INTO dirty_albums (id) VALUES (?)")
                    .bind::<BigInt, _>(*id)
                    .execute(conn)?;
            }
        }
    }
    let t = now();
    diesel::sql_query(
        "UPDATE albums SET track_count = 0, disc_count = 0, duration_ms = 0, size = 0, updated_at = ?
         WHERE id IN (SELECT id FROM dirty_albums);",
    )
    .bind::<BigInt, _>(t)
    .execute(conn)?;
    conn.batch_execute(
        "UPDATE albums SET track_count = a.n, disc_count = a.discs, duration_ms = a.d, size = a.s,
                explicit = a.explicit
         FROM (SELECT album_id, COUNT(*) AS n, COUNT(DISTINCT COALESCE(disc_number, 1)) AS discs,
                      SUM(duration_ms) AS d, SUM(size) AS s, MAX(explicit) AS explicit
               FROM tracks WHERE missing_since IS NULL AND album_id IN (SELECT id FROM dirty_albums)
               GROUP BY album_id) AS a
         WHERE albums.id = a.album_id;

         UPDATE albums SET name = f.album_name, sort_name = f.album_sort,
                artist_display = CASE WHEN albums.compilation AND f.album_artist_display = '' THEN albums.artist_display
                                      ELSE f.album_artist_display END,
                artist_sort = f.album_artist_sort, year = f.year, date = f.date,
                original_date = f.original_date, release_date = f.release_date,
                release_types = f.release_types, label = f.label, mbz_album_id = f.mbz_album_id,
                mbz_release_group_id = f.mbz_release_group_id,
                mbz_album_artist_id = f.mbz_album_artist_ids, folder_id = f.folder_id
         FROM (SELECT * FROM (SELECT t.*, ROW_NUMBER() OVER (PARTITION BY t.album_id
                    ORDER BY COALESCE(t.disc_number, 1), COALESCE(t.track_number, 0), t.path) AS rn
               FROM tracks t WHERE t.missing_since IS NULL AND t.album_id IN (SELECT id FROM dirty_albums))
               WHERE rn = 1) AS f
         WHERE albums.id = f.album_id;

         UPDATE albums SET
           cover_path = (SELECT COALESCE(d.cover_path, p.cover_path) FROM tracks t
                         JOIN directories d ON d.id = t.directory_id
                         LEFT JOIN directories p ON p.id = d.parent_id
                         WHERE t.album_id = albums.id AND t.missing_since IS NULL
                           AND COALESCE(d.cover_path, p.cover_path) IS NOT NULL
                         ORDER BY COALESCE(t.disc_number, 1), COALESCE(t.track_number, 0) LIMIT 1),
           cover_track_id = (SELECT t.id FROM tracks t WHERE t.album_id = albums.id
                             AND t.missing_since IS NULL AND t.has_cover
                             ORDER BY COALESCE(t.disc_number, 1), COALESCE(t.track_number, 0) LIMIT 1)
         WHERE id IN (SELECT id FROM dirty_albums);

         DELETE FROM album_artists WHERE album_id IN (SELECT id FROM dirty_albums);
         INSERT INTO album_artists (album_id, artist_id, position)
           SELECT album_id, artist_id, ROW_NUMBER() OVER (PARTITION BY album_id ORDER BY first_pos, artist_id) - 1
           FROM (SELECT t.album_id, ta.artist_id, MIN(ta.position) AS first_pos
                 FROM tracks t JOIN track_artists ta ON ta.track_id = t.id AND ta.role = 'albumartist'
                 WHERE t.missing_since IS NULL AND t.album_id IN (SELECT id FROM dirty_albums)
                 GROUP BY t.album_id, ta.artist_id);

         DELETE FROM album_genres WHERE album_id IN (SELECT id FROM dirty_albums);
         INSERT INTO album_genres (album_id, genre_id, position)
           SELECT album_id, genre_id, ROW_NUMBER() OVER (PARTITION BY album_id ORDER BY n DESC, first_pos, genre_id) - 1
           FROM (SELECT t.album_id, tg.genre_id, COUNT(*) AS n, MIN(tg.position) AS first_pos
                 FROM tracks t JOIN track_genres tg ON tg.track_id = t.id
                 WHERE t.missing_since IS NULL AND t.album_id IN (SELECT id FROM dirty_albums)
                 GROUP BY t.album_id, tg.genre_id);

         UPDATE artists SET album_count = 0, track_count = 0;
         UPDATE artists SET track_count = c.n FROM (
             SELECT ta.artist_id, COUNT(DISTINCT ta.track_id) AS n FROM track_artists ta
             JOIN tracks t ON t.id = ta.track_id WHERE t.missing_since IS NULL GROUP BY ta.artist_id) AS c
           WHERE artists.id = c.artist_id;
         UPDATE artists SET album_count = c.n FROM (
             SELECT aa.artist_id, COUNT(*) AS n FROM album_artists aa
             JOIN albums a ON a.id = aa.album_id WHERE a.track_count > 0 GROUP BY aa.artist_id) AS c
           WHERE artists.id = c.artist_id;

         UPDATE genres SET track_count = 0, album_count = 0;
         UPDATE genres SET track_count = c.n FROM (
             SELECT tg.genre_id, COUNT(*) AS n FROM track_genres tg
             JOIN tracks t ON t.id = tg.track_id WHERE t.missing_since IS NULL GROUP BY tg.genre_id) AS c
           WHERE genres.id = c.genre_id;
         UPDATE genres SET album_count = c.n FROM (
             SELECT ag.genre_id, COUNT(*) AS n FROM album_genres ag
             JOIN albums a ON a.id = ag.album_id WHERE a.track_count > 0 GROUP BY ag.genre_id) AS c
           WHERE genres.id = c.genre_id;

         DELETE FROM albums_fts WHERE rowid IN (SELECT id FROM dirty_albums);
         INSERT INTO albums_fts (rowid, name, artist)
           SELECT id, name, artist_display FROM albums WHERE id IN (SELECT id FROM dirty_albums);
         -- An artist's name never changes (it is its identity): index the new ones.
         INSERT INTO artists_fts (rowid, name)
           SELECT id, name FROM artists WHERE id > (SELECT COALESCE(MAX(rowid), 0) FROM artists_fts);",
    )?;
    refresh_artist_images(conn)
}

#[derive(QueryableByName)]
struct DirImage {
    #[diesel(sql_type = Text)]
    path: String,
    #[diesel(sql_type = Text)]
    image: String,
}

/// `artist.jpg` in an artist's folder: the image goes to the album artist most of the tracks
/// below that folder are credited to.
fn refresh_artist_images(conn: &mut SqliteConnection) -> DbResult<()> {
    let dirs: Vec<DirImage> = diesel::sql_query(
        "SELECT path, artist_image_path AS image FROM directories
         WHERE artist_image_path IS NOT NULL AND missing_since IS NULL",
    )
    .load(conn)?;
    for dir in dirs {
        let (lo, hi) = subtree_bounds(&dir.path);
        diesel::sql_query(
            "UPDATE artists SET image_path = ? WHERE id = (
                SELECT ta.artist_id FROM tracks t JOIN track_artists ta ON ta.track_id = t.id
                WHERE ta.role = 'albumartist' AND t.missing_since IS NULL AND t.path >= ? AND t.path < ?
                GROUP BY ta.artist_id ORDER BY COUNT(*) DESC LIMIT 1)",
        )
        .bind::<Text, _>(&dir.image)
        .bind::<Text, _>(&lo)
        .bind::<Text, _>(&hi)
        .execute(conn)?;
    }
    Ok(())
}

/// Present tracks in enabled folders: the figure `/api/health` reports.
pub fn count_tracks(conn: &mut SqliteConnection) -> DbResult<i64> {
    tracks::table
        .inner_join(music_folders::table)
        .filter(music_folders::enabled.eq(true))
        .filter(tracks::missing_since.is_null())
        .count()
        .get_result(conn)
}

pub fn explain(e: diesel::result::Error, what: &str) -> anyhow::Error {
    db::explain(e, what)
}
