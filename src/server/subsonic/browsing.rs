//! Browsing by tags (ID3): music folders, artists, albums, songs, genres.

use super::error::ApiError;
use super::ids;
use super::nodes::{self, Extras};
use super::params::Params;
use super::response::{Envelope, Format, Node, Written};
use super::Ctx;
use crate::app::annotations::{Annotations, Kind};
use diesel::sqlite::SqliteConnection;
use std::collections::HashMap;
use std::sync::Arc;

use crate::app::library::browse::{self, AlbumRow, ArtistRow, SongRow};

pub(super) fn conn(ctx: &Ctx<'_>) -> Result<crate::app::db::ReadConn, ApiError> {
    Ok(ctx.app.db.read()?)
}

pub(super) fn db<T>(r: Result<T, diesel::result::Error>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::internal(&e.into()))
}

/// Album elements for a list of albums, with their artists, genres, disc titles and what the
/// calling user said about them.
pub(super) fn album_nodes(
    ctx: &Ctx<'_>,
    c: &mut SqliteConnection,
    albums: &[AlbumRow],
) -> Result<Vec<Node>, ApiError> {
    let ids: Vec<i64> = albums.iter().map(|a| a.id).collect();
    let extras = Extras {
        credits: db(browse::album_credits(c, &ids))?,
        genres: db(browse::album_genres(c, &ids))?,
        disc_titles: db(browse::disc_titles(c, &ids))?,
        annotations: Annotations::of_in(c, ctx.user.id, Kind::Album, &ids)?,
    };
    Ok(albums.iter().map(|a| nodes::album(a, &extras)).collect())
}

/// Song elements for a list of songs, with their credits, genres and the user's annotations.
pub(super) fn song_nodes(
    ctx: &Ctx<'_>,
    c: &mut SqliteConnection,
    songs: &[SongRow],
) -> Result<Vec<Node>, ApiError> {
    let ids: Vec<i64> = songs.iter().map(|s| s.id).collect();
    Ok(song_elements(ctx, c, &ids, Some(songs))?
        .into_iter()
        .map(|(_, node)| node)
        .collect())
}

/// Song elements for songs known by id (present and in the caller's scope), in that order,
/// each with its id; the songs' rows are read only for those the song cache lacks. A song gone
/// since the caller's read is left out.
pub(super) fn song_nodes_by_id(
    ctx: &Ctx<'_>,
    c: &mut SqliteConnection,
    ids: &[i64],
) -> Result<Vec<(i64, Node)>, ApiError> {
    song_elements(ctx, c, ids, None)
}

/// What only a scan changes comes written out from the song cache where it can (see
/// `song_cache`), else is made from `rows` (or the rows read by id) with the songs' credits and
/// genres; the user's stars, rating and plays are read every time.
fn song_elements(
    ctx: &Ctx<'_>,
    c: &mut SqliteConnection,
    ids: &[i64],
    rows: Option<&[SongRow]>,
) -> Result<Vec<(i64, Node)>, ApiError> {
    let annotations = Annotations::of_in(c, ctx.user.id, Kind::Track, ids)?;
    let Some(version) = ctx.library_version.filter(|_| !ctx.songs.is_off()) else {
        // Nothing is kept (the cache is off, or a scan runs): the elements are made to be
        // written out once, straight into the answer.
        let rows = rows_of(c, rows, ids)?;
        let extras = Extras {
            annotations,
            ..song_extras(c, ids)?
        };
        return Ok(rows
            .iter()
            .map(|r| (r.id, nodes::song(r, &extras)))
            .collect());
    };
    let json = ctx.format != Format::Xml;
    let mut written = ctx.songs.get(version, json, ids);
    let mut missing: Vec<i64> = (ids.iter().zip(&written))
        .filter(|(_, w)| w.is_none())
        .map(|(id, _)| *id)
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        let rows = rows_of(c, rows, &missing)?;
        let extras = song_extras(c, &missing)?;
        let mut made: HashMap<i64, Arc<Written>> = HashMap::with_capacity(missing.len());
        for row in rows.iter() {
            if missing.binary_search(&row.id).is_ok() && !made.contains_key(&row.id) {
                let text = nodes::song(row, &extras).write_out(&ctx.format);
                made.insert(row.id, Arc::new(text));
            }
        }
        for (id, w) in ids.iter().zip(written.iter_mut()) {
            if w.is_none() {
                *w = made.get(id).cloned();
            }
        }
        // Kept only if no scan started (or ran) since this request began reading.
        if ctx.app.library.version() == Some(version) {
            ctx.songs.put(version, json, made.into_iter().collect());
        }
    }
    Ok(ids
        .iter()
        .zip(written)
        .filter_map(|(id, w)| {
            let node = nodes::annotate(Node::from_written(w?), annotations.get(id));
            Some((*id, node))
        })
        .collect())
}

/// The songs' rows: the caller's, or those of `ids` read (present songs, in their order).
fn rows_of<'r>(
    c: &mut SqliteConnection,
    rows: Option<&'r [SongRow]>,
    ids: &[i64],
) -> Result<std::borrow::Cow<'r, [SongRow]>, ApiError> {
    Ok(match rows {
        Some(rows) => std::borrow::Cow::Borrowed(rows),
        None => std::borrow::Cow::Owned(db(browse::songs_by_ids(c, ids, &browse::Scope::all()))?),
    })
}

/// The credits and genres of songs, which their elements need besides their rows.
fn song_extras(c: &mut SqliteConnection, ids: &[i64]) -> Result<Extras, ApiError> {
    Ok(Extras {
        credits: db(browse::track_credits(c, ids))?,
        genres: db(browse::track_genres(c, ids))?,
        ..Extras::default()
    })
}

/// Albums as folder-style children, with the user's annotations.
pub(super) fn album_child_nodes(
    ctx: &Ctx<'_>,
    c: &mut SqliteConnection,
    albums: &[AlbumRow],
) -> Result<Vec<Node>, ApiError> {
    let ids: Vec<i64> = albums.iter().map(|a| a.id).collect();
    let extras = Extras {
        genres: db(browse::album_genres(c, &ids))?,
        annotations: Annotations::of_in(c, ctx.user.id, Kind::Album, &ids)?,
        ..Extras::default()
    };
    Ok(albums
        .iter()
        .map(|a| nodes::album_as_child(a, &extras))
        .collect())
}

/// Artists in the older `Artist` form, with the user's annotations.
pub(super) fn artist_plain_nodes(
    ctx: &Ctx<'_>,
    c: &mut SqliteConnection,
    artists: &[&ArtistRow],
) -> Result<Vec<Node>, ApiError> {
    let ids: Vec<i64> = artists.iter().map(|a| a.id).collect();
    let notes = Annotations::of_in(c, ctx.user.id, Kind::Artist, &ids)?;
    Ok(artists
        .iter()
        .map(|a| nodes::artist_plain(a, notes.get(&a.id)))
        .collect())
}

/// Artists, albums and songs found together (search results, starred lists).
pub(super) struct Items {
    pub artists: Vec<ArtistRow>,
    pub albums: Vec<AlbumRow>,
    pub songs: Songs,
}

/// Songs found: their rows, or only their ids (present and in scope) where the rows are worth
/// reading only for songs the song cache lacks.
pub(super) enum Songs {
    Rows(Vec<SongRow>),
    Ids(Vec<i64>),
}

impl Songs {
    fn nodes(&self, ctx: &Ctx<'_>, c: &mut SqliteConnection) -> Result<Vec<Node>, ApiError> {
        match self {
            Songs::Rows(rows) => song_nodes(ctx, c, rows),
            Songs::Ids(ids) => Ok(song_nodes_by_id(ctx, c, ids)?
                .into_iter()
                .map(|(_, node)| node)
                .collect()),
        }
    }
}

impl Items {
    /// The ID3 form (search3, getStarred2): `ArtistID3`, `AlbumID3`, `Child`.
    pub(super) fn id3(&self, ctx: &Ctx<'_>, c: &mut SqliteConnection) -> Result<Node, ApiError> {
        Ok(Node::new()
            .list(
                "artist",
                artist_nodes(ctx, c, &self.artists.iter().collect::<Vec<_>>())?,
            )
            .list("album", album_nodes(ctx, c, &self.albums)?)
            .list("song", self.songs.nodes(ctx, c)?))
    }

    /// The folder form (search2, getStarred): `Artist`, albums as folder `Child`ren.
    pub(super) fn folders(
        &self,
        ctx: &Ctx<'_>,
        c: &mut SqliteConnection,
    ) -> Result<Node, ApiError> {
        Ok(Node::new()
            .list(
                "artist",
                artist_plain_nodes(ctx, c, &self.artists.iter().collect::<Vec<_>>())?,
            )
            .list("album", album_child_nodes(ctx, c, &self.albums)?)
            .list("song", self.songs.nodes(ctx, c)?))
    }
}

/// Artist elements with the user's annotations.
pub(super) fn artist_nodes(
    ctx: &Ctx<'_>,
    c: &mut SqliteConnection,
    artists: &[&ArtistRow],
) -> Result<Vec<Node>, ApiError> {
    let ids: Vec<i64> = artists.iter().map(|a| a.id).collect();
    let notes = Annotations::of_in(c, ctx.user.id, Kind::Artist, &ids)?;
    Ok(artists
        .iter()
        .map(|a| nodes::artist(a, notes.get(&a.id)))
        .collect())
}

pub fn get_music_folders(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    let folders = db(browse::folders(&mut *conn(ctx)?, &ctx.scope()))?;
    Ok(Envelope::ok(
        "musicFolders",
        Node::new().list(
            "musicFolder",
            folders
                .iter()
                .map(|f| Node::new().attr("id", f.id).attr("name", &f.name))
                .collect(),
        ),
    ))
}

/// Index entries (already in index order) as `index` elements, one per letter.
pub(super) fn group_indexes<'a>(entries: impl IntoIterator<Item = (&'a str, Node)>) -> Vec<Node> {
    let mut indexes: Vec<Node> = Vec::new();
    let mut current: Option<(&str, Vec<Node>)> = None;
    for (key, node) in entries {
        if current.as_ref().is_some_and(|(k, _)| *k != key) {
            let (k, list) = current.take().expect("checked above");
            indexes.push(Node::new().attr("name", k).list("artist", list));
        }
        current
            .get_or_insert_with(|| (key, Vec::new()))
            .1
            .push(node);
    }
    if let Some((k, list)) = current {
        indexes.push(Node::new().attr("name", k).list("artist", list));
    }
    indexes
}

pub fn get_artists(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let scope = ctx.scope_in(params)?;
    let library = &ctx.app.library;
    // Across all folders the index is made once per scan; otherwise it is a query.
    let mut c = conn(ctx)?;
    let artists = if scope.is_all() {
        library.album_artists(&mut c)?
    } else {
        let rows = db(browse::album_artists(&mut c, &scope))?;
        std::sync::Arc::new(library.index_artists(rows))
    };
    let articles = library.ignored_articles();
    let ids: Vec<i64> = artists.iter().map(|a| a.item.id).collect();
    let notes = Annotations::of_in(&mut c, ctx.user.id, Kind::Artist, &ids)?;
    let indexes = group_indexes(artists.iter().map(|a| {
        (
            a.key.as_str(),
            nodes::artist(&a.item, notes.get(&a.item.id)),
        )
    }));
    Ok(Envelope::ok(
        "artists",
        Node::new()
            .attr("ignoredArticles", articles.join(" "))
            .list("index", indexes),
    ))
}

pub fn get_artist(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = ids::parse(ids::ARTIST, params.required("id")?)?;
    let mut c = conn(ctx)?;
    let scope = ctx.scope();
    let artist =
        db(browse::artist(&mut c, id, &scope))?.ok_or_else(|| ApiError::not_found("artist"))?;
    let albums = db(browse::albums_of_artist(&mut c, id, &scope))?;
    let node = artist_nodes(ctx, &mut c, &[&artist])?
        .pop()
        .expect("one artist in, one out")
        .list("album", album_nodes(ctx, &mut c, &albums)?);
    Ok(Envelope::ok("artist", node))
}

pub fn get_album(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = ids::parse(ids::ALBUM, params.required("id")?)?;
    let mut c = conn(ctx)?;
    let scope = ctx.scope();
    let album =
        db(browse::album(&mut c, id, &scope))?.ok_or_else(|| ApiError::not_found("album"))?;
    let songs = db(browse::songs_of_album(&mut c, id, &scope))?;
    let node = album_nodes(ctx, &mut c, std::slice::from_ref(&album))?
        .pop()
        .expect("one album in, one out")
        .list("song", song_nodes(ctx, &mut c, &songs)?);
    Ok(Envelope::ok("album", node))
}

pub fn get_song(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = ids::parse(ids::TRACK, params.required("id")?)?;
    let mut c = conn(ctx)?;
    let song =
        db(browse::song(&mut c, id, &ctx.scope()))?.ok_or_else(|| ApiError::not_found("song"))?;
    let node = song_nodes(ctx, &mut c, std::slice::from_ref(&song))?
        .pop()
        .expect("one song in, one out");
    Ok(Envelope::ok("song", node))
}

pub fn get_genres(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    let genres = db(browse::genres(&mut *conn(ctx)?, &ctx.scope()))?;
    Ok(Envelope::ok(
        "genres",
        Node::new().list(
            "genre",
            genres
                .iter()
                .map(|g| {
                    Node::new()
                        .attr("songCount", g.track_count)
                        .attr("albumCount", g.album_count)
                        .text(&g.name)
                })
                .collect(),
        ),
    ))
}
