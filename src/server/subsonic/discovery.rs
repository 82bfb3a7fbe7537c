//! Discovery from local data: songs by genre, an artist's top songs (by the household's plays),
//! similar songs and artists (shared genres, until the recommendations work), artist and album
//! info, and lyrics (embedded and `.lrc`, synced or not).

use super::browsing::{artist_nodes, artist_plain_nodes, conn, db, song_nodes};
use super::error::ApiError;
use super::ids;
use super::media;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse::{self, ArtistRow, LyricsSource};
use crate::app::library::lyrics::{self, Lyrics};

fn count(params: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    let n = params.number::<i64>(name)?.unwrap_or(default);
    if n < 0 {
        return Err(ApiError::invalid(name));
    }
    Ok(n.min(500))
}

pub fn get_songs_by_genre(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let genre = params.required("genre")?;
    let n = count(params, "count", 10)?;
    let offset = count(params, "offset", 0)?;
    let scope = ctx.scope_in(params)?;
    let mut c = conn(ctx)?;
    let songs = db(browse::songs_by_genre(&mut c, genre, n, offset, &scope))?;
    Ok(Envelope::ok(
        "songsByGenre",
        Node::new().list("song", song_nodes(ctx, &mut c, &songs)?),
    ))
}

pub fn get_top_songs(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let artist = params.required("artist")?;
    let n = count(params, "count", 50)?;
    let mut c = conn(ctx)?;
    let songs = db(browse::top_songs(&mut c, artist, n, &ctx.scope()))?;
    Ok(Envelope::ok(
        "topSongs",
        Node::new().list("song", song_nodes(ctx, &mut c, &songs)?),
    ))
}

/// Seed songs for "similar": a song, an album's songs or an artist's songs.
fn seeds(ctx: &Ctx<'_>, raw: &str) -> Result<Vec<i64>, ApiError> {
    let not_found = || ApiError::not_found("item");
    let (kind, n) = ids::split(raw).ok_or_else(not_found)?;
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let seeds = match kind {
        ids::TRACK => {
            db(browse::song(&mut c, n, &scope))?.ok_or_else(not_found)?;
            vec![n]
        }
        ids::ALBUM => db(browse::song_ids_of(&mut c, Some(n), None, &scope))?,
        ids::ARTIST => db(browse::song_ids_of(&mut c, None, Some(n), &scope))?,
        _ => Vec::new(),
    };
    if seeds.is_empty() {
        return Err(not_found());
    }
    Ok(seeds)
}

fn similar(ctx: &Ctx<'_>, params: &Params) -> Result<Vec<Node>, ApiError> {
    let seeds = seeds(ctx, params.required("id")?)?;
    let n = count(params, "count", 50)?;
    let mut c = conn(ctx)?;
    let songs = db(browse::similar_songs(&mut c, &seeds, n, &ctx.scope()))?;
    song_nodes(ctx, &mut c, &songs)
}

pub fn get_similar_songs2(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    Ok(Envelope::ok(
        "similarSongs2",
        Node::new().list("song", similar(ctx, params)?),
    ))
}

pub fn get_similar_songs(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    Ok(Envelope::ok(
        "similarSongs",
        Node::new().list("song", similar(ctx, params)?),
    ))
}

/// The artist and its similar artists, for getArtistInfo and getArtistInfo2.
fn artist_info(ctx: &Ctx<'_>, params: &Params) -> Result<(ArtistRow, Vec<ArtistRow>), ApiError> {
    let id = ids::parse(ids::ARTIST, params.required("id")?)?;
    let n = count(params, "count", 20)?;
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let artist =
        db(browse::artist(&mut c, id, &scope))?.ok_or_else(|| ApiError::not_found("artist"))?;
    let similar = db(browse::similar_artists(&mut c, id, n, &scope))?;
    Ok((artist, similar))
}

/// Biographies come from the internet in other servers; Houseband has none. Images are the
/// library's own, through signed public links (clients load them without logging in).
fn info_base(ctx: &Ctx<'_>, item: &str, mbid: Option<&str>) -> Result<Node, ApiError> {
    let node = Node::new().text_child("biography", "");
    let node = match mbid {
        Some(m) => node.text_child("musicBrainzId", m),
        None => node,
    };
    with_images(ctx, item, node)
}

/// `smallImageUrl`, `mediumImageUrl` and `largeImageUrl` when the item has a picture.
fn with_images(ctx: &Ctx<'_>, item: &str, mut node: Node) -> Result<Node, ApiError> {
    for (name, size) in [
        ("smallImageUrl", 150),
        ("mediumImageUrl", 300),
        ("largeImageUrl", 600),
    ] {
        if let Some(url) = media::image_url(ctx, item, size)? {
            node = node.text_child(name, url);
        }
    }
    Ok(node)
}

pub fn get_artist_info(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let (artist, similar) = artist_info(ctx, params)?;
    let item = ids::id(ids::ARTIST, artist.id);
    let node = info_base(ctx, &item, artist.mbid.as_deref())?.list(
        "similarArtist",
        artist_plain_nodes(ctx, &similar.iter().collect::<Vec<_>>())?,
    );
    Ok(Envelope::ok("artistInfo", node))
}

pub fn get_artist_info2(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let (artist, similar) = artist_info(ctx, params)?;
    let item = ids::id(ids::ARTIST, artist.id);
    let node = info_base(ctx, &item, artist.mbid.as_deref())?.list(
        "similarArtist",
        artist_nodes(ctx, &similar.iter().collect::<Vec<_>>())?,
    );
    Ok(Envelope::ok("artistInfo2", node))
}

pub fn get_album_info2(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = ids::parse(ids::ALBUM, params.required("id")?)?;
    let album = db(browse::album(&mut *conn(ctx)?, id, &ctx.scope()))?
        .ok_or_else(|| ApiError::not_found("album"))?;
    let mut node = Node::new().text_child("notes", "");
    if let Some(mbid) = &album.mbz_album_id {
        node = node.text_child("musicBrainzId", mbid);
    }
    let node = with_images(ctx, &ids::id(ids::ALBUM, album.id), node)?;
    Ok(Envelope::ok("albumInfo", node))
}

fn structured(l: &Lyrics, source: &LyricsSource) -> Node {
    let lines = l
        .lines
        .iter()
        .map(|(start, text)| Node::new().opt("start", *start).text(text))
        .collect();
    Node::new()
        .attr("displayArtist", &source.artist)
        .attr("displayTitle", &source.title)
        .attr("lang", &l.lang)
        .opt("offset", (l.offset_ms != 0).then_some(l.offset_ms))
        .attr("synced", l.synced)
        .list("line", lines)
}

/// OpenSubsonic `songLyrics`: every version of a song's lyrics, with timings when synced.
pub fn get_lyrics_by_song_id(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = ids::parse(ids::TRACK, params.required("id")?)?;
    let source = db(browse::lyrics_of(&mut *conn(ctx)?, id, &ctx.scope()))?
        .ok_or_else(|| ApiError::not_found("song"))?;
    let all = lyrics::for_track(source.lyrics.as_deref(), source.lrc_path.as_deref());
    Ok(Envelope::ok(
        "lyricsList",
        Node::new().list(
            "structuredLyrics",
            all.iter().map(|l| structured(l, &source)).collect(),
        ),
    ))
}

/// Plain lyrics by artist and title (timings dropped).
pub fn get_lyrics(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let artist = params.get("artist").filter(|a| !a.is_empty());
    // Nothing found is empty lyrics (the schema wants the text, even when there is none).
    let Some(title) = params.get("title").filter(|t| !t.is_empty()) else {
        return Ok(Envelope::ok("lyrics", Node::new().text("")));
    };
    let found = db(browse::lyrics_by_name(
        &mut *conn(ctx)?,
        artist,
        title,
        &ctx.scope(),
    ))?;
    let node = match found {
        Some(source) => {
            let text = lyrics::for_track(source.lyrics.as_deref(), source.lrc_path.as_deref())
                .first()
                .map(Lyrics::plain_text)
                .unwrap_or_default();
            Node::new()
                .attr("artist", &source.artist)
                .attr("title", &source.title)
                .text(text)
        }
        None => Node::new().text(""),
    };
    Ok(Envelope::ok("lyrics", node))
}
