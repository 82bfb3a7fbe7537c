//! Searching and lists: search3 (including the empty query that clients use to sync a whole
//! library), getAlbumList2 and getRandomSongs.

use super::browsing::{album_child_nodes, album_nodes, conn, db, song_nodes, Items, Songs};
use super::error::ApiError;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse::{self, AlbumOrder, AlbumRow};
use crate::app::library::Library;
use diesel::sqlite::SqliteConnection;

/// The largest page a client may ask for.
const MAX_PAGE: i64 = 500;

pub(super) fn page(
    params: &Params,
    count: &str,
    offset: &str,
    default: i64,
) -> Result<(i64, i64), ApiError> {
    let n = params.number::<i64>(count)?.unwrap_or(default);
    let o = params.number::<i64>(offset)?.unwrap_or(0);
    if n < 0 {
        return Err(ApiError::invalid(count));
    }
    if o < 0 {
        return Err(ApiError::invalid(offset));
    }
    Ok((n.min(MAX_PAGE), o))
}

fn find(ctx: &Ctx<'_>, params: &Params, c: &mut SqliteConnection) -> Result<Items, ApiError> {
    let scope = ctx.scope_in(params)?;
    let raw = params
        .get("query")
        .ok_or_else(|| ApiError::missing("query"))?;
    // `""` (two quote characters) is how several clients spell "everything".
    let text = raw.trim().trim_matches('"');
    let query = browse::fts_query(text);
    let (artists_n, artists_o) = page(params, "artistCount", "artistOffset", 20)?;
    let (albums_n, albums_o) = page(params, "albumCount", "albumOffset", 20)?;
    let (songs_n, songs_o) = page(params, "songCount", "songOffset", 20)?;
    if query.is_none() && !text.is_empty() {
        // Only punctuation: nothing can match.
        return Ok(Items {
            artists: Vec::new(),
            albums: Vec::new(),
            songs: Songs::Ids(Vec::new()),
        });
    }
    let q = query.as_deref();
    let songs = match q {
        // Everything, for a user who sees every folder: the page's ids straight from the
        // library's id list.
        None if scope.is_all() => {
            let ids = ctx.app.library.song_ids(c)?;
            let from = usize::try_from(songs_o)
                .unwrap_or(usize::MAX)
                .min(ids.len());
            let to = from.saturating_add(songs_n as usize).min(ids.len());
            Songs::Ids(db(browse::present_among(c, &ids[from..to], &scope))?)
        }
        _ => Songs::Rows(db(browse::search_songs(c, q, &scope, songs_n, songs_o))?),
    };
    Ok(Items {
        artists: db(browse::search_artists(c, q, &scope, artists_n, artists_o))?,
        albums: db(browse::search_albums(c, q, &scope, albums_n, albums_o))?,
        songs,
    })
}

pub fn search3(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let mut c = conn(ctx)?;
    let found = find(ctx, params, &mut c)?;
    Ok(Envelope::ok("searchResult3", found.id3(ctx, &mut c)?))
}

/// The folder-style search: artists as `Artist`, albums as folders.
pub fn search2(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let mut c = conn(ctx)?;
    let found = find(ctx, params, &mut c)?;
    Ok(Envelope::ok("searchResult2", found.folders(ctx, &mut c)?))
}

/// The albums getAlbumList and getAlbumList2 list.
fn album_page(
    ctx: &Ctx<'_>,
    params: &Params,
    c: &mut SqliteConnection,
) -> Result<Vec<AlbumRow>, ApiError> {
    let order = match params.required("type")? {
        "random" => AlbumOrder::Random,
        "newest" => AlbumOrder::Newest,
        "highest" => AlbumOrder::Highest,
        "frequent" => AlbumOrder::Frequent,
        "recent" => AlbumOrder::Recent,
        "alphabeticalByName" => AlbumOrder::ByName,
        "alphabeticalByArtist" => AlbumOrder::ByArtist,
        "starred" => AlbumOrder::Starred,
        "byYear" => {
            let from = params
                .number::<i32>("fromYear")?
                .ok_or_else(|| ApiError::missing("fromYear"))?;
            let to = params
                .number::<i32>("toYear")?
                .ok_or_else(|| ApiError::missing("toYear"))?;
            AlbumOrder::ByYear(from, to)
        }
        "byGenre" => AlbumOrder::ByGenre(params.required("genre")?.to_string()),
        _ => return Err(ApiError::invalid("type")),
    };
    let (size, offset) = page(params, "size", "offset", 10)?;
    let scope = ctx.scope_in(params)?;
    if order == AlbumOrder::Random && scope.is_all() {
        // Picked from the library's album list, without SQLite shuffling every album.
        let picked = Library::pick_random(&ctx.app.library.album_ids(c)?, size as usize);
        return db(browse::albums_by_ids(c, &picked, &scope));
    }
    db(browse::album_list(
        c,
        &order,
        ctx.user.id,
        &scope,
        size,
        offset,
    ))
}

pub fn get_album_list2(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let mut c = conn(ctx)?;
    let albums = album_page(ctx, params, &mut c)?;
    Ok(Envelope::ok(
        "albumList2",
        Node::new().list("album", album_nodes(ctx, &mut c, &albums)?),
    ))
}

pub fn get_album_list(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let mut c = conn(ctx)?;
    let albums = album_page(ctx, params, &mut c)?;
    Ok(Envelope::ok(
        "albumList",
        Node::new().list("album", album_child_nodes(ctx, &mut c, &albums)?),
    ))
}

pub fn get_random_songs(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let (size, _) = page(params, "size", "offset", 10)?;
    let genre = params.get("genre").filter(|g| !g.is_empty());
    let from = params.number::<i32>("fromYear")?;
    let to = params.number::<i32>("toYear")?;
    let scope = ctx.scope_in(params)?;
    let mut c = conn(ctx)?;
    let songs = if genre.is_none() && from.is_none() && to.is_none() && scope.is_all() {
        let picked = Library::pick_random(&ctx.app.library.song_ids(&mut c)?, size as usize);
        db(browse::songs_by_ids(&mut c, &picked, &scope))?
    } else {
        db(browse::random_songs(&mut c, size, genre, from, to, &scope))?
    };
    Ok(Envelope::ok(
        "randomSongs",
        Node::new().list("song", song_nodes(ctx, &mut c, &songs)?),
    ))
}

/// The first Subsonic search: words from `any`, `artist`, `album` and `title` together, songs
/// only, `count`/`offset` paging, `totalHits` as the number of songs on this page and before.
pub fn search1(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let text: Vec<&str> = ["any", "artist", "album", "title"]
        .iter()
        .filter_map(|k| params.get(k))
        .collect();
    let (count, offset) = page(params, "count", "offset", 20)?;
    let mut c = conn(ctx)?;
    let songs = match browse::fts_query(&text.join(" ")) {
        Some(q) => db(browse::search_songs(
            &mut c,
            Some(&q),
            &ctx.scope(),
            count,
            offset,
        ))?,
        None => Vec::new(),
    };
    let total = if songs.is_empty() {
        0
    } else {
        offset + songs.len() as i64
    };
    Ok(Envelope::ok(
        "searchResult",
        Node::new()
            .attr("offset", offset)
            .attr("totalHits", total)
            .list("match", song_nodes(ctx, &mut c, &songs)?),
    ))
}
