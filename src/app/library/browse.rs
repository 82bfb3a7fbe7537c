//! Read-only queries for browsing the library: folders, artists, albums, songs, genres. Plain
//! records out, no HTTP in: the Subsonic handlers and the native API shape them for the wire.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text};
use diesel::sqlite::SqliteConnection;

use super::store::DbResult;

/// The music folders a request may see: those its user is allowed (all, or a list), narrowed to
/// the one a client asked for with `musicFolderId`. Every query that returns library items takes
/// one, so a user never sees a song, album, artist or directory outside their folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `None`: every enabled folder.
    folders: Option<Vec<i64>>,
}

impl Scope {
    pub fn all() -> Scope {
        Scope { folders: None }
    }

    /// What a user with these allowed folders (`None`: all) sees, narrowed to `requested`.
    pub fn new(allowed: Option<Vec<i64>>, requested: Option<i64>) -> Scope {
        let folders = match (allowed, requested) {
            (None, None) => None,
            (None, Some(r)) => Some(vec![r]),
            (Some(a), None) => Some(a),
            (Some(a), Some(r)) => Some(a.into_iter().filter(|f| *f == r).collect()),
        };
        Scope { folders }
    }

    pub fn is_all(&self) -> bool {
        self.folders.is_none()
    }

    pub fn allows(&self, folder: i64) -> bool {
        self.folders.as_ref().is_none_or(|f| f.contains(&folder))
    }

    /// An SQL condition on a folder id column (ids are numbers, so inlining them is safe).
    fn on(&self, column: &str) -> String {
        match &self.folders {
            None => "1".into(),
            Some(f) if f.is_empty() => "0".into(),
            Some(f) => format!("{column} IN ({})", id_list(f)),
        }
    }

    /// The condition that an artist has a present song in scope (always true for all folders,
    /// where `track_count` already says it).
    fn has_artist(&self, artist: &str) -> String {
        if self.is_all() {
            return "1".into();
        }
        format!(
            "EXISTS (SELECT 1 FROM track_artists sa JOIN tracks st ON st.id = sa.track_id
                     WHERE sa.artist_id = {artist} AND st.missing_since IS NULL AND {})",
            self.on("st.folder_id")
        )
    }

    /// An artist's album count within scope, as an SQL expression.
    fn album_count(&self, artist: &str) -> String {
        format!(
            "(SELECT COUNT(DISTINCT al.id) FROM album_artists aa JOIN albums al ON al.id = aa.album_id
              WHERE aa.artist_id = {artist} AND al.track_count > 0 AND {})",
            self.on("al.folder_id")
        )
    }
}

#[derive(Debug, Clone, QueryableByName)]
pub struct FolderRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct ArtistRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub sort_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub mbid: Option<String>,
    #[diesel(sql_type = Bool)]
    pub has_image: bool,
    #[diesel(sql_type = BigInt)]
    pub album_count: i64,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct AlbumRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub sort_name: Option<String>,
    #[diesel(sql_type = Text)]
    pub artist_display: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub artist_id: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub year: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub original_date: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub release_date: Option<String>,
    #[diesel(sql_type = Bool)]
    pub compilation: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub release_types: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub label: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub explicit: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    pub mbz_album_id: Option<String>,
    #[diesel(sql_type = Bool)]
    pub has_cover: bool,
    #[diesel(sql_type = Integer)]
    pub track_count: i32,
    #[diesel(sql_type = BigInt)]
    pub duration_ms: i64,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
}

/// A song as the APIs show it. Read by name from hand-written queries, or by position (faster:
/// no column is looked up by name) from [`song_select`] for the big lists.
#[derive(Debug, Clone, QueryableByName, Queryable)]
pub struct SongRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub album_id: i64,
    #[diesel(sql_type = BigInt)]
    pub directory_id: i64,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Text)]
    pub folder_path: String,
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    #[diesel(sql_type = Text)]
    pub suffix: String,
    #[diesel(sql_type = Text)]
    pub content_type: String,
    #[diesel(sql_type = BigInt)]
    pub duration_ms: i64,
    #[diesel(sql_type = Nullable<Integer>)]
    pub bit_rate: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub sample_rate: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub bit_depth: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub channels: Option<i32>,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub sort_title: Option<String>,
    #[diesel(sql_type = Text)]
    pub artist_display: String,
    #[diesel(sql_type = Text)]
    pub album_name: String,
    #[diesel(sql_type = Text)]
    pub album_artist_display: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub moods: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub track_number: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub disc_number: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub disc_subtitle: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub year: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub bpm: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub comment: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub isrc: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub explicit: Option<bool>,
    #[diesel(sql_type = Nullable<Double>)]
    pub rg_track_gain: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub rg_track_peak: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub rg_album_gain: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub rg_album_peak: Option<f64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub mbz_recording_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
}

impl SongRow {
    /// Where the song's file is, for the media code to check and read.
    pub fn file(&self) -> crate::app::media::SongFile {
        crate::app::media::SongFile {
            id: self.id,
            path: self.path.clone().into(),
            folder: self.folder_path.clone().into(),
            suffix: self.suffix.clone(),
            content_type: self.content_type.clone(),
            duration: self.duration_ms as f64 / 1000.0,
        }
    }

    /// The ReplayGain (dB, and the peak that limits it) `mode` asks for, if the tags have it.
    /// Album mode falls back to the track's gain.
    pub fn gain(&self, mode: crate::config::ReplayGain) -> Option<(f32, Option<f32>)> {
        use crate::config::ReplayGain;
        let track = || {
            self.rg_track_gain
                .map(|g| (g as f32, self.rg_track_peak.map(|p| p as f32)))
        };
        match mode {
            ReplayGain::Off => None,
            ReplayGain::Track => track(),
            ReplayGain::Album => self
                .rg_album_gain
                .map(|g| (g as f32, self.rg_album_peak.map(|p| p as f32)))
                .or_else(track),
        }
    }
}

/// A credited artist of a track or album.
#[derive(Debug, Clone, QueryableByName, Queryable)]
pub struct CreditRow {
    #[diesel(sql_type = BigInt)]
    pub item_id: i64,
    #[diesel(sql_type = BigInt)]
    pub artist_id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub role: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub sub_role: Option<String>,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct GenreRow {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Integer)]
    pub track_count: i32,
    #[diesel(sql_type = Integer)]
    pub album_count: i32,
}

#[derive(Debug, Clone, QueryableByName)]
struct ItemName {
    #[diesel(sql_type = BigInt)]
    item_id: i64,
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(Debug, Clone, QueryableByName)]
struct DiscTitle {
    #[diesel(sql_type = BigInt)]
    album_id: i64,
    #[diesel(sql_type = Integer)]
    disc: i32,
    #[diesel(sql_type = Text)]
    title: String,
}

const ALBUM_COLUMNS: &str = "al.id, al.name, al.sort_name, al.artist_display,
    (SELECT artist_id FROM album_artists WHERE album_id = al.id ORDER BY position LIMIT 1) AS artist_id,
    al.year, al.original_date, al.release_date, al.compilation, al.release_types, al.label, al.explicit,
    al.mbz_album_id, (al.cover_path IS NOT NULL OR al.cover_track_id IS NOT NULL) AS has_cover,
    al.track_count, al.duration_ms, al.created_at";

const SONG_COLUMNS: &str = "t.id, t.album_id, t.directory_id, t.path, f.path AS folder_path, t.size,
    t.suffix, t.content_type, t.duration_ms, t.bit_rate, t.sample_rate, t.bit_depth, t.channels, t.title,
    t.sort_title, t.artist_display, t.album_name, t.album_artist_display, t.moods, t.track_number,
    t.disc_number, t.disc_subtitle, t.year, t.bpm, t.comment, t.isrc, t.explicit, t.rg_track_gain,
    t.rg_track_peak, t.rg_album_gain, t.rg_album_peak, t.mbz_recording_id, t.created_at";

/// Songs visible to clients: present, in an enabled folder.
const SONG_FROM: &str = "FROM tracks t JOIN music_folders f ON f.id = t.folder_id
    WHERE t.missing_since IS NULL AND f.enabled";

/// One id per row, for the queries that pick ids first.
#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `SONG_FROM` narrowed to a scope.
fn song_from(scope: &Scope) -> String {
    format!("{SONG_FROM} AND {}", scope.on("t.folder_id"))
}

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

pub fn folders(conn: &mut SqliteConnection, scope: &Scope) -> DbResult<Vec<FolderRow>> {
    diesel::sql_query(format!(
        "SELECT id, name FROM music_folders WHERE enabled AND {} ORDER BY id",
        scope.on("id")
    ))
    .load(conn)
}

/// Album artists that have albums in scope, by sort name.
pub fn album_artists(conn: &mut SqliteConnection, scope: &Scope) -> DbResult<Vec<ArtistRow>> {
    if scope.is_all() {
        // Across all folders the scan's precomputed album counts answer without a join.
        return diesel::sql_query(
            "SELECT a.id, a.name, a.sort_name, a.mbid, a.image_path IS NOT NULL AS has_image,
                    CAST(a.album_count AS BIGINT) AS album_count
             FROM artists a WHERE a.album_count > 0
             ORDER BY COALESCE(a.sort_name, a.name) COLLATE NOCASE, a.id",
        )
        .load(conn);
    }
    diesel::sql_query(format!(
        "SELECT a.id, a.name, a.sort_name, a.mbid, a.image_path IS NOT NULL AS has_image,
                COUNT(DISTINCT al.id) AS album_count
         FROM artists a JOIN album_artists aa ON aa.artist_id = a.id JOIN albums al ON al.id = aa.album_id
         JOIN music_folders f ON f.id = al.folder_id
         WHERE al.track_count > 0 AND f.enabled AND {}
         GROUP BY a.id ORDER BY COALESCE(a.sort_name, a.name) COLLATE NOCASE, a.id",
        scope.on("al.folder_id")
    ))
    .load(conn)
}

/// An artist with songs in scope.
pub fn artist(conn: &mut SqliteConnection, id: i64, scope: &Scope) -> DbResult<Option<ArtistRow>> {
    let rows: Vec<ArtistRow> = diesel::sql_query(format!(
        "SELECT a.id, a.name, a.sort_name, a.mbid, a.image_path IS NOT NULL AS has_image,
                {} AS album_count
         FROM artists a WHERE a.id = ? AND a.track_count > 0 AND {}",
        scope.album_count("a.id"),
        scope.has_artist("a.id")
    ))
    .bind::<BigInt, _>(id)
    .load(conn)?;
    Ok(rows.into_iter().next())
}

pub fn albums_of_artist(
    conn: &mut SqliteConnection,
    artist: i64,
    scope: &Scope,
) -> DbResult<Vec<AlbumRow>> {
    diesel::sql_query(format!(
        "SELECT {ALBUM_COLUMNS} FROM albums al JOIN album_artists aa ON aa.album_id = al.id
         WHERE aa.artist_id = ? AND al.track_count > 0 AND {}
         ORDER BY COALESCE(al.year, 0), COALESCE(al.sort_name, al.name) COLLATE NOCASE, al.id",
        scope.on("al.folder_id")
    ))
    .bind::<BigInt, _>(artist)
    .load(conn)
}

pub fn album(conn: &mut SqliteConnection, id: i64, scope: &Scope) -> DbResult<Option<AlbumRow>> {
    let rows: Vec<AlbumRow> = diesel::sql_query(format!(
        "SELECT {ALBUM_COLUMNS} FROM albums al WHERE al.id = ? AND al.track_count > 0 AND {}",
        scope.on("al.folder_id")
    ))
    .bind::<BigInt, _>(id)
    .load(conn)?;
    Ok(rows.into_iter().next())
}

pub fn songs_of_album(
    conn: &mut SqliteConnection,
    album: i64,
    scope: &Scope,
) -> DbResult<Vec<SongRow>> {
    let from = song_from(scope);
    diesel::sql_query(format!(
        "SELECT {SONG_COLUMNS} {from} AND t.album_id = ?
         ORDER BY COALESCE(t.disc_number, 1), COALESCE(t.track_number, 0), t.path"
    ))
    .bind::<BigInt, _>(album)
    .load(conn)
}

pub fn song(conn: &mut SqliteConnection, id: i64, scope: &Scope) -> DbResult<Option<SongRow>> {
    let from = song_from(scope);
    let rows: Vec<SongRow> =
        diesel::sql_query(format!("SELECT {SONG_COLUMNS} {from} AND t.id = ?"))
            .bind::<BigInt, _>(id)
            .load(conn)?;
    Ok(rows.into_iter().next())
}

pub fn genres(conn: &mut SqliteConnection, scope: &Scope) -> DbResult<Vec<GenreRow>> {
    if scope.is_all() {
        // The scan keeps the counts of the whole library.
        return diesel::sql_query(
            "SELECT name, track_count, album_count FROM genres WHERE track_count > 0 ORDER BY name COLLATE NOCASE",
        )
        .load(conn);
    }
    let from = song_from(scope);
    diesel::sql_query(format!(
        "SELECT g.name, COUNT(DISTINCT t.id) AS track_count, COUNT(DISTINCT t.album_id) AS album_count
         FROM genres g JOIN track_genres tg ON tg.genre_id = g.id
         JOIN (SELECT t.id, t.album_id {from}) t ON t.id = tg.track_id
         GROUP BY g.id ORDER BY g.name COLLATE NOCASE"
    ))
    .load(conn)
}

/// Credits of many tracks at once, in credit order.
pub fn track_credits(
    conn: &mut SqliteConnection,
    tracks: &[i64],
) -> DbResult<HashMap<i64, Vec<CreditRow>>> {
    use crate::app::db::schema::{artists, track_artists as ta};
    // A typed query: columns are read by position, not looked up by name for every row.
    let mut rows: Vec<CreditRow> = Vec::new();
    for chunk in tracks.chunks(500) {
        rows.extend(
            ta::table
                .inner_join(artists::table)
                .filter(ta::track_id.eq_any(chunk))
                .order((ta::track_id, ta::role, ta::position))
                .select((
                    ta::track_id,
                    ta::artist_id,
                    artists::name,
                    ta::role,
                    ta::sub_role,
                ))
                .load::<CreditRow>(conn)?,
        );
    }
    Ok(group(rows, |r| r.item_id, |r| r))
}

/// Album artists of many albums at once.
pub fn album_credits(
    conn: &mut SqliteConnection,
    albums: &[i64],
) -> DbResult<HashMap<i64, Vec<CreditRow>>> {
    let rows: Vec<CreditRow> = load_for_ids(
        conn,
        "SELECT aa.album_id AS item_id, aa.artist_id, a.name, 'albumartist' AS role, NULL AS sub_role
         FROM album_artists aa JOIN artists a ON a.id = aa.artist_id
         WHERE aa.album_id IN ({ids}) ORDER BY aa.album_id, aa.position",
        albums,
    )?;
    Ok(group(rows, |r| r.item_id, |r| r))
}

/// Runs `sql`, in which `{ids}` stands for a list of ids, over `ids` 500 at a time (so a page of
/// thousands stays within SQLite's statement limits) and returns every row.
fn load_for_ids<T: QueryableByName<diesel::sqlite::Sqlite> + 'static>(
    conn: &mut SqliteConnection,
    sql: &str,
    ids: &[i64],
) -> DbResult<Vec<T>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(diesel::sql_query(sql.replace("{ids}", &id_list(chunk))).load::<T>(conn)?);
    }
    Ok(out)
}

/// Rows grouped by the item they belong to, in row order.
fn group<T, V>(
    rows: Vec<T>,
    key: impl Fn(&T) -> i64,
    value: impl Fn(T) -> V,
) -> HashMap<i64, Vec<V>> {
    let mut out: HashMap<i64, Vec<V>> = HashMap::new();
    for r in rows {
        out.entry(key(&r)).or_default().push(value(r));
    }
    out
}

fn names(
    conn: &mut SqliteConnection,
    sql: &str,
    ids: &[i64],
) -> DbResult<HashMap<i64, Vec<String>>> {
    let rows: Vec<ItemName> = load_for_ids(conn, sql, ids)?;
    Ok(group(rows, |r| r.item_id, |r| r.name))
}

pub fn track_genres(
    conn: &mut SqliteConnection,
    tracks: &[i64],
) -> DbResult<HashMap<i64, Vec<String>>> {
    use crate::app::db::schema::{genres, track_genres as tg};
    let mut rows: Vec<(i64, String)> = Vec::new();
    for chunk in tracks.chunks(500) {
        rows.extend(
            tg::table
                .inner_join(genres::table)
                .filter(tg::track_id.eq_any(chunk))
                .order((tg::track_id, tg::position))
                .select((tg::track_id, genres::name))
                .load::<(i64, String)>(conn)?,
        );
    }
    Ok(group(rows, |r| r.0, |r| r.1))
}

pub fn album_genres(
    conn: &mut SqliteConnection,
    albums: &[i64],
) -> DbResult<HashMap<i64, Vec<String>>> {
    names(
        conn,
        "SELECT ag.album_id AS item_id, g.name FROM album_genres ag JOIN genres g ON g.id = ag.genre_id
         WHERE ag.album_id IN ({ids}) ORDER BY ag.album_id, ag.position",
        albums,
    )
}

/// Disc subtitles per album: (disc number, title).
pub fn disc_titles(
    conn: &mut SqliteConnection,
    albums: &[i64],
) -> DbResult<HashMap<i64, Vec<(i32, String)>>> {
    let rows: Vec<DiscTitle> = load_for_ids(
        conn,
        "SELECT album_id, COALESCE(disc_number, 1) AS disc, MIN(disc_subtitle) AS title FROM tracks
         WHERE album_id IN ({ids}) AND disc_subtitle IS NOT NULL AND missing_since IS NULL
         GROUP BY album_id, COALESCE(disc_number, 1) ORDER BY album_id, disc",
        albums,
    )?;
    Ok(group(rows, |r| r.album_id, |r| (r.disc, r.title)))
}

/// Turns what a user typed into an FTS5 query: every word must match as a prefix ("beyon tri"
/// finds "Beyoncé Tribute Band"). Punctuation is dropped, so nothing the user types can reach FTS5's
/// query syntax. `None` when nothing searchable is left.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Above this many matches a search is too broad for relevance to mean much, and ranking every
/// match (FTS5's bm25 reads a row per match: 90 ms for 100k) would cost more than the answer is
/// worth: such matches come in library order instead, at once.
const RANK_AT_MOST: i64 = 2000;

/// Whether more than [`RANK_AT_MOST`] items of an FTS table match (costs at most that many
/// steps, and nothing like ranking them).
fn too_broad_to_rank(conn: &mut SqliteConnection, fts: &str, query: &str) -> DbResult<bool> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<N> = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM {fts} WHERE {fts} MATCH ? LIMIT {})",
        RANK_AT_MOST + 1
    ))
    .bind::<Text, _>(query)
    .load(conn)?;
    Ok(rows.first().is_some_and(|r| r.n > RANK_AT_MOST))
}

/// One page of a search: with a query, the FTS statement over table `fts` (its one `?` before
/// LIMIT is the query; `{order}` becomes "rank, <id_column>", or id order when the query is too
/// broad to rank); without one, the statement that lists everything in id order.
fn search_page<T: QueryableByName<diesel::sqlite::Sqlite> + 'static>(
    conn: &mut SqliteConnection,
    query: Option<&str>,
    (fts, id_column): (&str, &str),
    matching: String,
    everything: String,
    count: i64,
    offset: i64,
) -> DbResult<Vec<T>> {
    match query {
        Some(q) => {
            let order = if too_broad_to_rank(conn, fts, q)? {
                // The FTS table's own rowid order (the item id) needs no sort, so the page stops
                // as soon as it is full.
                format!("{fts}.rowid")
            } else {
                format!("rank, {id_column}")
            };
            diesel::sql_query(matching.replace("{order}", &order))
                .bind::<Text, _>(q)
                .bind::<BigInt, _>(count)
                .bind::<BigInt, _>(offset)
                .load(conn)
        }
        None => diesel::sql_query(everything)
            .bind::<BigInt, _>(count)
            .bind::<BigInt, _>(offset)
            .load(conn),
    }
}

/// Artists that have songs: matching `query` (best first), or all of them by id when `query` is
/// `None` (clients page through everything to sync a library).
pub fn search_artists(
    conn: &mut SqliteConnection,
    query: Option<&str>,
    scope: &Scope,
    count: i64,
    offset: i64,
) -> DbResult<Vec<ArtistRow>> {
    let base = format!(
        "SELECT a.id, a.name, a.sort_name, a.mbid, a.image_path IS NOT NULL AS has_image,
                {} AS album_count",
        scope.album_count("a.id")
    );
    let visible = format!("a.track_count > 0 AND {}", scope.has_artist("a.id"));
    search_page(
        conn,
        query,
        ("artists_fts", "a.id"),
        format!(
            "{base} FROM artists_fts JOIN artists a ON a.id = artists_fts.rowid
             WHERE artists_fts MATCH ? AND {visible} ORDER BY {{order}} LIMIT ? OFFSET ?"
        ),
        format!("{base} FROM artists a WHERE {visible} ORDER BY a.id LIMIT ? OFFSET ?"),
        count,
        offset,
    )
}

pub fn search_albums(
    conn: &mut SqliteConnection,
    query: Option<&str>,
    scope: &Scope,
    count: i64,
    offset: i64,
) -> DbResult<Vec<AlbumRow>> {
    let visible = format!("al.track_count > 0 AND {}", scope.on("al.folder_id"));
    search_page(
        conn,
        query,
        ("albums_fts", "al.id"),
        format!(
            "SELECT {ALBUM_COLUMNS} FROM albums_fts JOIN albums al ON al.id = albums_fts.rowid
             WHERE albums_fts MATCH ? AND {visible} ORDER BY {{order}} LIMIT ? OFFSET ?"
        ),
        format!(
            "SELECT {ALBUM_COLUMNS} FROM albums al WHERE {visible} ORDER BY al.id LIMIT ? OFFSET ?"
        ),
        count,
        offset,
    )
}

pub fn search_songs(
    conn: &mut SqliteConnection,
    query: Option<&str>,
    scope: &Scope,
    count: i64,
    offset: i64,
) -> DbResult<Vec<SongRow>> {
    let from = song_from(scope);
    let in_scope = scope.on("folder_id");
    search_page(
        conn,
        query,
        ("tracks_fts", "t.id"),
        format!(
            "SELECT {SONG_COLUMNS} FROM tracks_fts JOIN tracks t ON t.id = tracks_fts.rowid
             JOIN music_folders f ON f.id = t.folder_id
             WHERE tracks_fts MATCH ? AND t.missing_since IS NULL AND f.enabled
               AND {}
             ORDER BY {{order}} LIMIT ? OFFSET ?",
            scope.on("t.folder_id")
        ),
        // The page's ids come from the covering paging index first: no track row is read for the
        // rows an offset skips.
        format!(
            "SELECT {SONG_COLUMNS} {from} AND t.id IN (
                SELECT id FROM tracks INDEXED BY tracks_present_paging
                WHERE missing_since IS NULL
                  AND folder_id IN (SELECT id FROM music_folders WHERE enabled) AND {in_scope}
                ORDER BY id LIMIT ? OFFSET ?)
             ORDER BY t.id"
        ),
        count,
        offset,
    )
}

/// The orders of `getAlbumList2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlbumOrder {
    Random,
    Newest,
    Highest,
    Frequent,
    Recent,
    ByName,
    ByArtist,
    Starred,
    /// Years from..=to; reversed when from > to.
    ByYear(i32, i32),
    ByGenre(String),
}

/// A page of albums in the given order; user-specific orders use `user`'s annotations.
pub fn album_list(
    conn: &mut SqliteConnection,
    order: &AlbumOrder,
    user: i64,
    scope: &Scope,
    size: i64,
    offset: i64,
) -> DbResult<Vec<AlbumRow>> {
    let ann = "LEFT JOIN annotations an ON an.user_id = ? AND an.item_kind = 'album' AND an.item_id = al.id";
    let (join, filter, order_by) = match order {
        AlbumOrder::Random => ("", String::new(), "RANDOM()".to_string()),
        AlbumOrder::Newest => ("", String::new(), "al.created_at DESC, al.id DESC".into()),
        AlbumOrder::Highest => (ann, "AND an.rating > 0".into(), "an.rating DESC, al.id".into()),
        AlbumOrder::Frequent => (ann, "AND an.play_count > 0".into(), "an.play_count DESC, al.id".into()),
        AlbumOrder::Recent => (ann, "AND an.last_played_at IS NOT NULL".into(), "an.last_played_at DESC, al.id".into()),
        AlbumOrder::ByName => ("", String::new(), "COALESCE(al.sort_name, al.name) COLLATE NOCASE, al.id".into()),
        AlbumOrder::ByArtist => ("", String::new(), "COALESCE(al.artist_sort, al.artist_display) COLLATE NOCASE, al.year, al.id".into()),
        AlbumOrder::Starred => (ann, "AND an.starred_at IS NOT NULL".into(), "an.starred_at DESC, al.id".into()),
        AlbumOrder::ByYear(from, to) => {
            let (lo, hi) = (from.min(to), from.max(to));
            let dir = if from > to { "DESC" } else { "ASC" };
            ("", format!("AND al.year BETWEEN {lo} AND {hi}"), format!("al.year {dir}, al.id"))
        }
        AlbumOrder::ByGenre(_) => (
            "",
            "AND al.id IN (SELECT ag.album_id FROM album_genres ag JOIN genres g ON g.id = ag.genre_id WHERE g.name = ?)".into(),
            "COALESCE(al.sort_name, al.name) COLLATE NOCASE, al.id".into(),
        ),
    };
    // The page's ids first (from an index in the list's order), then the albums: the full
    // columns, with their per-album subquery, are read for 50 albums, not for all of them.
    let in_scope = scope.on("al.folder_id");
    let sql = format!(
        "SELECT al.id FROM albums al {join}
         WHERE al.track_count > 0 AND {in_scope} {filter}
         ORDER BY {order_by} LIMIT ? OFFSET ?"
    );
    let mut q = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
    if !join.is_empty() {
        q = q.bind::<BigInt, _>(user);
    }
    if let AlbumOrder::ByGenre(g) = order {
        q = q.bind::<Text, _>(g.clone());
    }
    let ids: Vec<i64> = q
        .bind::<BigInt, _>(size)
        .bind::<BigInt, _>(offset)
        .load::<IdRow>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    albums_by_ids(conn, &ids, scope)
}

/// Random songs in scope, optionally of a genre, within years.
pub fn random_songs(
    conn: &mut SqliteConnection,
    size: i64,
    genre: Option<&str>,
    from_year: Option<i32>,
    to_year: Option<i32>,
    scope: &Scope,
) -> DbResult<Vec<SongRow>> {
    // Ids first (narrow rows to shuffle), then the songs.
    let from = song_from(scope);
    let ids: Vec<IdRow> = diesel::sql_query(format!(
        "SELECT t.id {from}
           AND (? IS NULL OR t.id IN (SELECT tg.track_id FROM track_genres tg JOIN genres g ON g.id = tg.genre_id WHERE g.name = ?))
           AND (? IS NULL OR t.year >= ?) AND (? IS NULL OR t.year <= ?)
         ORDER BY RANDOM() LIMIT ?"
    ))
    .bind::<Nullable<Text>, _>(genre)
    .bind::<Nullable<Text>, _>(genre)
    .bind::<Nullable<Integer>, _>(from_year)
    .bind::<Nullable<Integer>, _>(from_year)
    .bind::<Nullable<Integer>, _>(to_year)
    .bind::<Nullable<Integer>, _>(to_year)
    .bind::<BigInt, _>(size)
    .load(conn)?;
    let ids: Vec<i64> = ids.into_iter().map(|r| r.id).collect();
    songs_by_ids(conn, &ids, scope)
}

/// The columns of [`SongRow`] in its field order, for typed queries.
macro_rules! song_select {
    () => {{
        use crate::app::db::schema::{music_folders as f, tracks as t};
        (
            t::id,
            t::album_id,
            t::directory_id,
            t::path,
            f::path,
            t::size,
            t::suffix,
            t::content_type,
            t::duration_ms,
            t::bit_rate,
            t::sample_rate,
            t::bit_depth,
            t::channels,
            t::title,
            t::sort_title,
            t::artist_display,
            t::album_name,
            t::album_artist_display,
            t::moods,
            t::track_number,
            t::disc_number,
            t::disc_subtitle,
            t::year,
            t::bpm,
            t::comment,
            t::isrc,
            t::explicit,
            t::rg_track_gain,
            t::rg_track_peak,
            t::rg_album_gain,
            t::rg_album_peak,
            t::mbz_recording_id,
            t::created_at,
        )
    }};
}

/// The present songs in scope among `$ids` (at most a few hundred: one SQL parameter each), in
/// no particular order, as `$select` picks their columns.
macro_rules! present_rows {
    ($conn:expr, $ids:expr, $scope:expr, $select:expr) => {{
        use crate::app::db::schema::{music_folders, tracks};
        let mut q = tracks::table
            .inner_join(music_folders::table)
            .filter(tracks::id.eq_any($ids))
            .filter(tracks::missing_since.is_null())
            .filter(music_folders::enabled.eq(true))
            .select($select)
            .into_boxed();
        if let Some(allowed) = &$scope.folders {
            q = q.filter(tracks::folder_id.eq_any(allowed));
        }
        q.load($conn)
    }};
}

/// Songs by id, in the order given, repeats kept (unknown, missing or out-of-scope ids are left
/// out).
pub fn songs_by_ids(
    conn: &mut SqliteConnection,
    ids: &[i64],
    scope: &Scope,
) -> DbResult<Vec<SongRow>> {
    let mut rows: Vec<SongRow> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let found: Vec<SongRow> = present_rows!(conn, chunk, scope, song_select!())?;
        rows.extend(found);
    }
    // Moved out at an id's last place, cloned only for the places before it (repeats are rare).
    let mut left: HashMap<i64, usize> = HashMap::with_capacity(ids.len());
    for id in ids {
        *left.entry(*id).or_default() += 1;
    }
    let mut found: HashMap<i64, SongRow> = rows.into_iter().map(|r| (r.id, r)).collect();
    Ok(ids
        .iter()
        .filter_map(|id| {
            let n = left.get_mut(id)?;
            *n -= 1;
            if *n == 0 {
                found.remove(id)
            } else {
                found.get(id).cloned()
            }
        })
        .collect())
}

/// A playlist's present songs in scope, in its order with repeats, as `$select` picks their
/// columns.
macro_rules! playlist_rows {
    ($conn:expr, $playlist:expr, $scope:expr, $select:expr) => {{
        use crate::app::db::schema::{music_folders, playlist_entries as pe, tracks};
        let mut q = pe::table
            .inner_join(tracks::table.on(tracks::id.eq(pe::track_id)))
            .inner_join(music_folders::table.on(music_folders::id.eq(tracks::folder_id)))
            .filter(pe::playlist_id.eq($playlist))
            .filter(tracks::missing_since.is_null())
            .filter(music_folders::enabled.eq(true))
            .order(pe::position)
            .select($select)
            .into_boxed();
        if let Some(allowed) = &$scope.folders {
            q = q.filter(tracks::folder_id.eq_any(allowed));
        }
        q.load($conn)
    }};
}

/// A playlist's songs in its order, repeats kept, in one query (songs missing or out of scope
/// are left out).
pub fn playlist_songs(
    conn: &mut SqliteConnection,
    playlist: i64,
    scope: &Scope,
) -> DbResult<Vec<SongRow>> {
    playlist_rows!(conn, playlist, scope, song_select!())
}

/// A playlist's songs as (id, length in ms, album id), as `playlist_songs` lists them: for
/// callers that have the songs' other columns written out already.
pub fn playlist_song_ids(
    conn: &mut SqliteConnection,
    playlist: i64,
    scope: &Scope,
) -> DbResult<Vec<(i64, i64, i64)>> {
    // `tracks` is the table the macro brings in.
    playlist_rows!(
        conn,
        playlist,
        scope,
        (tracks::id, tracks::duration_ms, tracks::album_id)
    )
}

/// The ids among `ids` that are present songs in scope, in the order given, repeats kept: what
/// `songs_by_ids` would return, as ids.
pub fn present_among(
    conn: &mut SqliteConnection,
    ids: &[i64],
    scope: &Scope,
) -> DbResult<Vec<i64>> {
    let mut present = std::collections::HashSet::<i64>::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        // `tracks` is the table the macro brings in.
        let found: Vec<i64> = present_rows!(conn, chunk, scope, tracks::id)?;
        present.extend(found);
    }
    Ok(ids
        .iter()
        .copied()
        .filter(|id| present.contains(id))
        .collect())
}

/// Albums by id, in the order given (unknown ids are left out).
pub fn albums_by_ids(
    conn: &mut SqliteConnection,
    ids: &[i64],
    scope: &Scope,
) -> DbResult<Vec<AlbumRow>> {
    let in_scope = scope.on("al.folder_id");
    let rows: Vec<AlbumRow> = load_for_ids(
        conn,
        &format!(
            "SELECT {ALBUM_COLUMNS} FROM albums al
             WHERE al.track_count > 0 AND {in_scope} AND al.id IN ({{ids}})"
        ),
        ids,
    )?;
    let mut found: HashMap<i64, AlbumRow> = rows.into_iter().map(|r| (r.id, r)).collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// Artists by id, in the order given (unknown ids are left out).
pub fn artists_by_ids(
    conn: &mut SqliteConnection,
    ids: &[i64],
    scope: &Scope,
) -> DbResult<Vec<ArtistRow>> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(a) = artist(conn, *id, scope)? {
            out.push(a);
        }
    }
    Ok(out)
}

/// Artist ids credited as artist on a track.
pub fn track_artist_ids(conn: &mut SqliteConnection, track: i64) -> DbResult<Vec<i64>> {
    Ok(track_credits(conn, &[track])?
        .remove(&track)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.role == "artist")
        .map(|c| c.artist_id)
        .collect())
}

/// A folder of the music library, for browsing by files.
#[derive(Debug, Clone, QueryableByName)]
pub struct DirRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub parent_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub folder_id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub has_cover: bool,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
    /// True for a music folder's own top directory.
    #[diesel(sql_type = Bool)]
    pub is_root: bool,
    /// True when the parent is a music folder's top directory (clients go up to the index).
    #[diesel(sql_type = Bool)]
    pub parent_is_root: bool,
}

const DIR_COLUMNS: &str =
    "d.id, d.parent_id, d.folder_id, d.name, d.cover_path IS NOT NULL AS has_cover,
    d.created_at, EXISTS (SELECT 1 FROM music_folders mf WHERE mf.path = d.path) AS is_root,
    EXISTS (SELECT 1 FROM directories p JOIN music_folders mf ON mf.path = p.path
            WHERE p.id = d.parent_id) AS parent_is_root";

/// Directories that hold present songs somewhere below them.
const DIR_HAS_SONGS: &str = "EXISTS (SELECT 1 FROM tracks t WHERE t.path >= d.path || '/'
    AND t.path < d.path || '0' AND t.missing_since IS NULL)";

pub fn dir(conn: &mut SqliteConnection, id: i64, scope: &Scope) -> DbResult<Option<DirRow>> {
    let rows: Vec<DirRow> = diesel::sql_query(format!(
        "SELECT {DIR_COLUMNS} FROM directories d JOIN music_folders f ON f.id = d.folder_id
         WHERE d.id = ? AND d.missing_since IS NULL AND f.enabled AND {}",
        scope.on("f.id")
    ))
    .bind::<BigInt, _>(id)
    .load(conn)?;
    Ok(rows.into_iter().next())
}

/// The top directories of the enabled music folders in scope.
pub fn root_dirs(conn: &mut SqliteConnection, scope: &Scope) -> DbResult<Vec<DirRow>> {
    diesel::sql_query(format!(
        "SELECT {DIR_COLUMNS} FROM directories d JOIN music_folders f ON f.path = d.path
         WHERE f.enabled AND {} ORDER BY f.id",
        scope.on("f.id")
    ))
    .load(conn)
}

pub fn child_dirs(conn: &mut SqliteConnection, parent: i64) -> DbResult<Vec<DirRow>> {
    diesel::sql_query(format!(
        "SELECT {DIR_COLUMNS} FROM directories d
         WHERE d.parent_id = ? AND d.missing_since IS NULL AND {DIR_HAS_SONGS}
         ORDER BY d.name COLLATE NOCASE, d.id"
    ))
    .bind::<BigInt, _>(parent)
    .load(conn)
}

pub fn songs_in_dir(
    conn: &mut SqliteConnection,
    dir: i64,
    scope: &Scope,
) -> DbResult<Vec<SongRow>> {
    let from = song_from(scope);
    diesel::sql_query(format!(
        "SELECT {SONG_COLUMNS} {from} AND t.directory_id = ?
         ORDER BY COALESCE(t.disc_number, 1), COALESCE(t.track_number, 0), t.path"
    ))
    .bind::<BigInt, _>(dir)
    .load(conn)
}

/// When the library last changed (the newest folder scan), in seconds.
pub fn last_modified(conn: &mut SqliteConnection) -> DbResult<i64> {
    #[derive(QueryableByName)]
    struct T {
        #[diesel(sql_type = BigInt)]
        t: i64,
    }
    let rows: Vec<T> = diesel::sql_query(
        "SELECT COALESCE(MAX(last_scan_at), 0) AS t FROM music_folders WHERE enabled",
    )
    .load(conn)?;
    Ok(rows.first().map_or(0, |r| r.t))
}

/// Songs of a genre, by album and track.
pub fn songs_by_genre(
    conn: &mut SqliteConnection,
    genre: &str,
    count: i64,
    offset: i64,
    scope: &Scope,
) -> DbResult<Vec<SongRow>> {
    let from = song_from(scope);
    diesel::sql_query(format!(
        "SELECT {SONG_COLUMNS} {from}
           AND t.id IN (SELECT tg.track_id FROM track_genres tg JOIN genres g ON g.id = tg.genre_id WHERE g.name = ?)
         ORDER BY t.album_id, COALESCE(t.disc_number, 1), COALESCE(t.track_number, 0), t.id LIMIT ? OFFSET ?"
    ))
    .bind::<Text, _>(genre)
    .bind::<BigInt, _>(count)
    .bind::<BigInt, _>(offset)
    .load(conn)
}

/// An artist's songs, most played by the household first (then by album year and track), for
/// "top songs". `name` is matched case- and accent-insensitively.
pub fn top_songs(
    conn: &mut SqliteConnection,
    name: &str,
    count: i64,
    scope: &Scope,
) -> DbResult<Vec<SongRow>> {
    let from = song_from(scope);
    diesel::sql_query(format!(
        "SELECT {SONG_COLUMNS} {from}
           AND t.id IN (SELECT ta.track_id FROM track_artists ta JOIN artists a ON a.id = ta.artist_id
                        WHERE a.key = ? AND ta.role IN ('artist', 'albumartist'))
         ORDER BY (SELECT COALESCE(SUM(an.play_count), 0) FROM annotations an
                   WHERE an.item_kind = 'track' AND an.item_id = t.id) DESC,
                  COALESCE(t.year, 0), t.album_id, COALESCE(t.disc_number, 1), COALESCE(t.track_number, 0)
         LIMIT ?"
    ))
    .bind::<Text, _>(super::fold::fold(name))
    .bind::<BigInt, _>(count)
    .load(conn)
}

/// Ids of the present songs in scope of an album or of an artist (as credited artist or album
/// artist).
pub fn song_ids_of(
    conn: &mut SqliteConnection,
    album: Option<i64>,
    artist: Option<i64>,
    scope: &Scope,
) -> DbResult<Vec<i64>> {
    let rows: Vec<IdRow> = diesel::sql_query(format!(
        "SELECT t.id FROM tracks t WHERE t.missing_since IS NULL AND {}
           AND (? IS NULL OR t.album_id = ?)
           AND (? IS NULL OR t.id IN (SELECT track_id FROM track_artists WHERE artist_id = ?))
         LIMIT 500",
        scope.on("t.folder_id")
    ))
    .bind::<Nullable<BigInt>, _>(album)
    .bind::<Nullable<BigInt>, _>(album)
    .bind::<Nullable<BigInt>, _>(artist)
    .bind::<Nullable<BigInt>, _>(artist)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Where a track's lyrics are: (title, artist, embedded lyrics, .lrc path and the music folder
/// it must stay inside).
#[derive(Debug, Clone, QueryableByName)]
pub struct LyricsSource {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub artist: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub lyrics: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub lrc_path: Option<String>,
    #[diesel(sql_type = Text)]
    pub folder_path: String,
}

pub fn lyrics_of(
    conn: &mut SqliteConnection,
    track: i64,
    scope: &Scope,
) -> DbResult<Option<LyricsSource>> {
    let rows: Vec<LyricsSource> = diesel::sql_query(format!(
        "SELECT t.id, t.title, t.artist_display AS artist, t.lyrics, t.lrc_path,
                f.path AS folder_path
         FROM tracks t JOIN music_folders f ON f.id = t.folder_id
         WHERE t.id = ? AND t.missing_since IS NULL AND {}",
        scope.on("folder_id")
    ))
    .bind::<BigInt, _>(track)
    .load(conn)?;
    Ok(rows.into_iter().next())
}

/// A track with lyrics by title (and artist, if given), case-insensitively.
pub fn lyrics_by_name(
    conn: &mut SqliteConnection,
    artist: Option<&str>,
    title: &str,
    scope: &Scope,
) -> DbResult<Option<LyricsSource>> {
    let rows: Vec<LyricsSource> = diesel::sql_query(format!(
        "SELECT t.id, t.title, t.artist_display AS artist, t.lyrics, t.lrc_path,
                f.path AS folder_path
         FROM tracks t JOIN music_folders f ON f.id = t.folder_id
         WHERE t.missing_since IS NULL AND {} AND t.title = ? COLLATE NOCASE
           AND (? IS NULL OR t.artist_display = ? COLLATE NOCASE)
           AND (t.lyrics IS NOT NULL OR t.lrc_path IS NOT NULL)
         ORDER BY t.id LIMIT 1",
        scope.on("folder_id")
    ))
    .bind::<Text, _>(title)
    .bind::<Nullable<Text>, _>(artist)
    .bind::<Nullable<Text>, _>(artist)
    .load(conn)?;
    Ok(rows.into_iter().next())
}

/// What a playlist list shows of each playlist: its visible songs, their length, and the album
/// of the first (for the cover).
#[derive(Debug, Clone, QueryableByName)]
pub struct PlaylistSummary {
    #[diesel(sql_type = BigInt)]
    pub playlist_id: i64,
    #[diesel(sql_type = BigInt)]
    pub songs: i64,
    #[diesel(sql_type = BigInt)]
    pub seconds: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub first_album: Option<i64>,
}

/// Summaries of many playlists in one query, counting only songs present and in scope (as
/// `songs_by_ids` shows them); playlists with none are absent from the map.
pub fn playlist_summaries(
    conn: &mut SqliteConnection,
    playlists: &[i64],
    scope: &Scope,
) -> DbResult<HashMap<i64, PlaylistSummary>> {
    let from = song_from(scope);
    // SQLite takes a bare column (album_id) from the row that gives MIN(position).
    let rows: Vec<PlaylistSummary> = load_for_ids(
        conn,
        &format!(
            "SELECT e.playlist_id, COUNT(*) AS songs,
                    CAST(SUM((t.duration_ms + 500) / 1000) AS BIGINT) AS seconds,
                    t.album_id AS first_album, MIN(e.position) AS first_position
             FROM playlist_entries e JOIN (SELECT t.id, t.album_id, t.duration_ms {from}) t
               ON t.id = e.track_id
             WHERE e.playlist_id IN ({{ids}})
             GROUP BY e.playlist_id"
        ),
        playlists,
    )?;
    Ok(rows.into_iter().map(|r| (r.playlist_id, r)).collect())
}

/// Every album with present songs in an enabled folder, by id.
pub fn present_album_ids(conn: &mut SqliteConnection) -> DbResult<Vec<i64>> {
    let rows: Vec<IdRow> = diesel::sql_query(
        "SELECT id FROM albums INDEXED BY albums_present
         WHERE track_count > 0 AND folder_id IN (SELECT id FROM music_folders WHERE enabled)
         ORDER BY id",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Every present song in an enabled folder, by id.
pub fn present_song_ids(conn: &mut SqliteConnection) -> DbResult<Vec<i64>> {
    let rows: Vec<IdRow> = diesel::sql_query(
        "SELECT id FROM tracks INDEXED BY tracks_present_paging
         WHERE missing_since IS NULL AND folder_id IN (SELECT id FROM music_folders WHERE enabled)
         ORDER BY id",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Where an item's picture is: an image file, or a song with an embedded picture.
#[derive(Debug, Clone, QueryableByName)]
pub struct ArtRow {
    #[diesel(sql_type = Nullable<Text>)]
    pub file: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub embedded: Option<String>,
}

fn art_row(conn: &mut SqliteConnection, sql: &str, id: i64) -> DbResult<Option<ArtRow>> {
    let rows: Vec<ArtRow> = diesel::sql_query(sql).bind::<BigInt, _>(id).load(conn)?;
    Ok(rows
        .into_iter()
        .next()
        .filter(|r| r.file.is_some() || r.embedded.is_some()))
}

/// An album's picture: its folder image, else a song's embedded one.
pub fn album_art(conn: &mut SqliteConnection, id: i64, scope: &Scope) -> DbResult<Option<ArtRow>> {
    art_row(
        conn,
        &format!(
            "SELECT al.cover_path AS file, t.path AS embedded FROM albums al
             LEFT JOIN tracks t ON t.id = al.cover_track_id AND t.missing_since IS NULL
             WHERE al.id = ? AND al.track_count > 0 AND {}",
            scope.on("al.folder_id")
        ),
        id,
    )
}

/// A song's own embedded picture, else its album's.
pub fn track_art(conn: &mut SqliteConnection, id: i64, scope: &Scope) -> DbResult<Option<ArtRow>> {
    let own = art_row(
        conn,
        &format!(
            "SELECT NULL AS file, t.path AS embedded {} AND t.id = ? AND t.has_cover",
            song_from(scope)
        ),
        id,
    )?;
    if own.is_some() {
        return Ok(own);
    }
    let album: Vec<IdRow> = diesel::sql_query(format!(
        "SELECT t.album_id AS id {} AND t.id = ?",
        song_from(scope)
    ))
    .bind::<BigInt, _>(id)
    .load(conn)?;
    match album.first() {
        Some(a) => album_art(conn, a.id, scope),
        None => Ok(None),
    }
}

/// An artist's image (`artist.jpg`...), else the cover of their newest album.
pub fn artist_art(conn: &mut SqliteConnection, id: i64, scope: &Scope) -> DbResult<Option<ArtRow>> {
    let Some(artist) = artist(conn, id, scope)? else {
        return Ok(None);
    };
    let own = art_row(
        conn,
        "SELECT image_path AS file, NULL AS embedded FROM artists WHERE id = ?",
        artist.id,
    )?;
    if own.is_some() {
        return Ok(own);
    }
    let albums: Vec<IdRow> = diesel::sql_query(format!(
        "SELECT al.id FROM albums al JOIN album_artists aa ON aa.album_id = al.id
         WHERE aa.artist_id = ? AND al.track_count > 0 AND {}
           AND (al.cover_path IS NOT NULL OR al.cover_track_id IS NOT NULL)
         ORDER BY al.year DESC, al.id LIMIT 1",
        scope.on("al.folder_id")
    ))
    .bind::<BigInt, _>(id)
    .load(conn)?;
    match albums.first() {
        Some(a) => album_art(conn, a.id, scope),
        None => Ok(None),
    }
}

/// A folder's image.
pub fn directory_art(
    conn: &mut SqliteConnection,
    id: i64,
    scope: &Scope,
) -> DbResult<Option<ArtRow>> {
    art_row(
        conn,
        &format!(
            "SELECT d.cover_path AS file, NULL AS embedded FROM directories d
             WHERE d.id = ? AND d.missing_since IS NULL AND {}",
            scope.on("d.folder_id")
        ),
        id,
    )
}

/// The pictures of a playlist's first four albums that have one, in playlist order.
pub fn playlist_art(
    conn: &mut SqliteConnection,
    playlist: i64,
    scope: &Scope,
) -> DbResult<Vec<ArtRow>> {
    let mut albums: Vec<i64> = Vec::new();
    for song in playlist_songs(conn, playlist, scope)? {
        if !albums.contains(&song.album_id) {
            albums.push(song.album_id);
        }
    }
    let mut out = Vec::new();
    for album in albums {
        if let Some(art) = album_art(conn, album, scope)? {
            out.push(art);
            if out.len() == 4 {
                break;
            }
        }
    }
    Ok(out)
}

/// The paths of the enabled music folders.
pub fn folder_paths(conn: &mut SqliteConnection) -> DbResult<Vec<String>> {
    use crate::app::db::schema::music_folders as f;
    f::table
        .filter(f::enabled.eq(true))
        .select(f::path)
        .load(conn)
}

/// A music folder as the admin sees it: where it is and how many songs it holds now.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct FolderReport {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = BigInt)]
    pub songs: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_scan_at: Option<i64>,
    /// Added by an admin in the app (removable there), as opposed to named by the configuration.
    #[diesel(sql_type = Bool)]
    pub added_in_app: bool,
}

/// Every enabled music folder with its present songs.
pub fn folder_reports(conn: &mut SqliteConnection) -> DbResult<Vec<FolderReport>> {
    diesel::sql_query(
        "SELECT f.id, f.name, f.path, f.last_scan_at, f.added_in_app,
                (SELECT COUNT(*) FROM tracks t WHERE t.folder_id = f.id AND t.missing_since IS NULL) AS songs
         FROM music_folders f WHERE f.enabled ORDER BY f.id",
    )
    .load(conn)
}

/// A file the scanner could not read (`error`: left out of the library) or read with a problem
/// it worked around (`warning`).
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct ScanProblem {
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = BigInt)]
    pub first_seen: i64,
    #[diesel(sql_type = BigInt)]
    pub last_seen: i64,
}

/// The latest `limit` scan problems (errors first), and how many there are in all.
pub fn scan_problems(conn: &mut SqliteConnection, limit: i64) -> DbResult<(Vec<ScanProblem>, i64)> {
    let rows = diesel::sql_query(
        "SELECT path, kind, reason, first_seen, last_seen FROM scan_errors
         ORDER BY kind = 'error' DESC, last_seen DESC, path LIMIT ?",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    use crate::app::db::schema::scan_errors;
    let total = scan_errors::table.count().get_result(conn)?;
    Ok((rows, total))
}
