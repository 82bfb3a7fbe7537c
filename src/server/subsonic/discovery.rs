//! Discovery from local data: songs by genre, an artist's top songs (by the household's plays),
//! similar songs and artists and the OpenSubsonic sonic similarity (from `app::reco`), artist
//! and album info, and lyrics (embedded and `.lrc`, synced or not).

use super::browsing::{artist_nodes, artist_plain_nodes, conn, db, song_nodes};
use super::error::ApiError;
use super::ids;
use super::media;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse::{self, ArtistRow, LyricsSource};
use crate::app::library::lyrics::{self, Lyrics};
use crate::app::reco::Seed;

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

/// What "similar" starts from: a song, an album or an artist the user can see.
fn seed(ctx: &Ctx<'_>, raw: &str) -> Result<Seed, ApiError> {
    let not_found = || ApiError::not_found("item");
    let (kind, n) = ids::split(raw).ok_or_else(not_found)?;
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let seed = match kind {
        ids::TRACK => db(browse::song(&mut c, n, &scope))?.map(|_| Seed::Song(n)),
        ids::ALBUM => db(browse::album(&mut c, n, &scope))?.map(|_| Seed::Album(n)),
        ids::ARTIST => db(browse::artist(&mut c, n, &scope))?.map(|_| Seed::Artist(n)),
        _ => None,
    };
    seed.ok_or_else(not_found)
}

/// The library's songs for these ids, in their order.
fn songs_of(ctx: &Ctx<'_>, ids: &[i64]) -> Result<Vec<Node>, ApiError> {
    let mut c = conn(ctx)?;
    let songs = db(browse::songs_by_ids(&mut c, ids, &ctx.scope()))?;
    song_nodes(ctx, &mut c, &songs)
}

fn similar(ctx: &Ctx<'_>, params: &Params) -> Result<Vec<Node>, ApiError> {
    let seed = seed(ctx, params.required("id")?)?;
    let n = count(params, "count", 50)? as usize;
    let picks = ctx
        .app
        .reco
        .similar_songs(Some(ctx.user.id), &seed, n, &ctx.scope())?;
    songs_of(ctx, &picks.iter().map(|p| p.song).collect::<Vec<_>>())
}

/// `sonicMatch` entries: each song with its likeness.
fn sonic_matches(ctx: &Ctx<'_>, found: &[(i64, f32)]) -> Result<Envelope, ApiError> {
    let ids: Vec<i64> = found.iter().map(|f| f.0).collect();
    let mut c = conn(ctx)?;
    let songs = db(browse::songs_by_ids(&mut c, &ids, &ctx.scope()))?;
    let nodes = song_nodes(ctx, &mut c, &songs)?;
    let likeness: std::collections::HashMap<i64, f32> = found.iter().copied().collect();
    let matches = songs
        .iter()
        .zip(nodes)
        .map(|(s, node)| {
            let like = likeness.get(&s.id).copied().unwrap_or(0.0).clamp(0.0, 1.0);
            // Two decimals: more would pretend to a precision the summaries do not have.
            Node::new()
                .child("entry", node)
                .attr("similarity", (like as f64 * 100.0).round() / 100.0)
        })
        .collect();
    Ok(Envelope::list("sonicMatch", matches))
}

/// OpenSubsonic sonicSimilarity: songs that sound like a song.
pub fn get_sonic_similar_tracks(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = ids::parse(ids::TRACK, params.required("id")?)?;
    let n = count(params, "count", 10)? as usize;
    let mut c = conn(ctx)?;
    db(browse::song(&mut c, id, &ctx.scope()))?.ok_or_else(|| ApiError::not_found("song"))?;
    drop(c);
    let found = ctx.app.reco.sonic_similar(id, n, &ctx.scope())?;
    sonic_matches(ctx, &found)
}

/// OpenSubsonic sonicSimilarity: a path of songs from one sound to another.
pub fn find_sonic_path(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let from = ids::parse(ids::TRACK, params.required("startSongId")?)?;
    let to = ids::parse(ids::TRACK, params.required("endSongId")?)?;
    let n = count(params, "count", 25)?.max(2) as usize;
    let mut c = conn(ctx)?;
    for id in [from, to] {
        db(browse::song(&mut c, id, &ctx.scope()))?.ok_or_else(|| ApiError::not_found("song"))?;
    }
    drop(c);
    let found = ctx.app.reco.sonic_path(from, to, n, &ctx.scope())?;
    sonic_matches(ctx, &found)
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
    let related = ctx
        .app
        .reco
        .similar_artists(Some(ctx.user.id), id, n as usize, &scope)?;
    let ids: Vec<i64> = related.iter().map(|r| r.id).collect();
    let similar = db(browse::artists_by_ids(&mut c, &ids, &scope))?;
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
        artist_plain_nodes(
            ctx,
            &mut *super::browsing::conn(ctx)?,
            &similar.iter().collect::<Vec<_>>(),
        )?,
    );
    Ok(Envelope::ok("artistInfo", node))
}

pub fn get_artist_info2(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let (artist, similar) = artist_info(ctx, params)?;
    let item = ids::id(ids::ARTIST, artist.id);
    let node = info_base(ctx, &item, artist.mbid.as_deref())?.list(
        "similarArtist",
        artist_nodes(
            ctx,
            &mut *super::browsing::conn(ctx)?,
            &similar.iter().collect::<Vec<_>>(),
        )?,
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

/// The song's lyrics, its `.lrc` file read only when it is inside the song's music folder (a
/// symlink could otherwise show any text file the server can read).
fn lyrics_of(ctx: &Ctx<'_>, source: &LyricsSource) -> Vec<Lyrics> {
    let lrc = source.lrc_path.as_deref().and_then(|p| {
        ctx.app.media.inside_folder(
            std::path::Path::new(p),
            std::path::Path::new(&source.folder_path),
        )
    });
    let lrc = lrc.as_deref().and_then(|p| p.to_str());
    lyrics::for_track(source.lyrics.as_deref(), lrc)
}

/// OpenSubsonic `songLyrics`: every version of a song's lyrics, with timings when synced.
pub fn get_lyrics_by_song_id(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = ids::parse(ids::TRACK, params.required("id")?)?;
    let source = db(browse::lyrics_of(&mut *conn(ctx)?, id, &ctx.scope()))?
        .ok_or_else(|| ApiError::not_found("song"))?;
    let all = lyrics_of(ctx, &source);
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
            let text = lyrics_of(ctx, &source)
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
