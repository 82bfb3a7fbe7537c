//! Browsing by tags (ID3): music folders, artists, albums, songs, genres.

use super::error::ApiError;
use super::ids;
use super::nodes::{self, Extras};
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::annotations::{Annotations, Kind};
use diesel::sqlite::SqliteConnection;

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
    let extras = Extras {
        credits: db(browse::track_credits(c, &ids))?,
        genres: db(browse::track_genres(c, &ids))?,
        disc_titles: Default::default(),
        annotations: Annotations::of_in(c, ctx.user.id, Kind::Track, &ids)?,
    };
    Ok(songs.iter().map(|s| nodes::song(s, &extras)).collect())
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
    pub songs: Vec<SongRow>,
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
            .list("song", song_nodes(ctx, c, &self.songs)?))
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
            .list("song", song_nodes(ctx, c, &self.songs)?))
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
