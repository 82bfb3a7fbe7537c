//! Playlists: a user's own and the household's public ones. Only the owner (or an admin) changes
//! or deletes a playlist; a private playlist of someone else is "not found", never shown.

use super::browsing::{conn, db, song_nodes_by_id};
use super::error::ApiError;
use super::ids;
use super::nodes::iso8601;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse;
use crate::app::playlists::{Changes, Playlist};

/// A playlist's songs as its element shows them: how many, how long, the first one's album.
struct Totals {
    songs: i64,
    seconds: i64,
    cover_album: Option<i64>,
}

impl Totals {
    /// From (song id, length in ms, album id) in playlist order.
    fn of(songs: impl Iterator<Item = (i64, i64, i64)>) -> Totals {
        let mut t = Totals {
            songs: 0,
            seconds: 0,
            cover_album: None,
        };
        for (_, duration_ms, album) in songs {
            t.songs += 1;
            t.seconds += (duration_ms + 500) / 1000;
            t.cover_album = t.cover_album.or(Some(album));
        }
        t
    }
}

fn playlist_node(ctx: &Ctx<'_>, p: &Playlist, totals: &Totals) -> Node {
    Node::new()
        .attr("id", ids::id(ids::PLAYLIST, p.id))
        .attr("name", &p.name)
        .opt("comment", p.comment.as_deref())
        .attr("owner", &p.owner)
        .attr("public", p.public)
        .attr("songCount", totals.songs)
        .attr("duration", totals.seconds)
        .attr("created", iso8601(p.created_at))
        .attr("changed", iso8601(p.updated_at))
        .attr("readonly", !may_change(ctx, p))
        // The playlist's own id: its picture is a mosaic of its first albums' covers.
        .opt(
            "coverArt",
            totals.cover_album.map(|_| ids::id(ids::PLAYLIST, p.id)),
        )
}

/// Whether the user may see a playlist: their own, a public one, anything for an admin; never
/// one imported from a music folder they may not see.
pub(crate) fn may_see(ctx: &Ctx<'_>, p: &Playlist) -> bool {
    (p.public || p.owner_id == ctx.user.id || ctx.user.is_admin)
        && p.folder_id.is_none_or(|f| ctx.scope().allows(f))
}

/// Whether the user may change a playlist: their own or, for an admin, anyone's, unless it is
/// imported from a file (the file is what to change).
fn may_change(ctx: &Ctx<'_>, p: &Playlist) -> bool {
    p.source_path.is_none()
        && (p.owner_id == ctx.user.id || ctx.user.is_admin)
        && ctx.user.has_role("playlist")
}

/// A playlist the user may see, by the id in `param`.
fn visible(ctx: &Ctx<'_>, params: &Params, param: &str) -> Result<Playlist, ApiError> {
    let id = ids::parse(ids::PLAYLIST, params.required(param)?)?;
    match ctx.app.playlists.get(id)? {
        Some(p) if may_see(ctx, &p) => Ok(p),
        _ => Err(ApiError::not_found("playlist")),
    }
}

/// A playlist the user may change.
fn editable(ctx: &Ctx<'_>, params: &Params, param: &str) -> Result<Playlist, ApiError> {
    require_playlist_role(ctx)?;
    let p = visible(ctx, params, param)?;
    if let Some(file) = &p.source_path {
        return Err(ApiError::not_authorized(&format!(
            "change a playlist imported from a file (edit {file} instead)"
        )));
    }
    if p.owner_id != ctx.user.id && !ctx.user.is_admin {
        return Err(ApiError::not_authorized("change another user's playlist"));
    }
    Ok(p)
}

fn require_playlist_role(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.user.has_role("playlist") {
        Ok(())
    } else {
        Err(ApiError::not_authorized("manage playlists"))
    }
}

/// Song ids from a repeated parameter; each must name an existing song.
fn song_ids(ctx: &Ctx<'_>, params: &Params, name: &str) -> Result<Vec<i64>, ApiError> {
    let ids: Vec<i64> = params
        .all(name)
        .into_iter()
        .filter(|v| !v.is_empty())
        .map(|v| ids::parse(ids::TRACK, v))
        .collect::<Result<_, _>>()?;
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    let found = db(browse::songs_by_ids(
        &mut *conn(ctx)?,
        &unique,
        &ctx.scope(),
    ))?;
    if found.len() != unique.len() {
        return Err(ApiError::not_found("song"));
    }
    Ok(ids)
}

/// A playlist with its songs. The songs' rows are read only for those the song cache lacks: a
/// playlist of 1,000 kept songs is its entries, the user's annotations and a copy.
fn with_songs(ctx: &Ctx<'_>, p: &Playlist) -> Result<Node, ApiError> {
    let mut c = conn(ctx)?;
    let entries = db(browse::playlist_song_ids(&mut c, p.id, &ctx.scope()))?;
    let ids: Vec<i64> = entries.iter().map(|e| e.0).collect();
    let songs = song_nodes_by_id(ctx, &mut c, &ids)?;
    // A song a scan removed between the two reads is in neither the entries nor the totals.
    let totals = if songs.len() == entries.len() {
        Totals::of(entries.into_iter())
    } else {
        let kept: std::collections::HashSet<i64> = songs.iter().map(|s| s.0).collect();
        Totals::of(entries.into_iter().filter(|e| kept.contains(&e.0)))
    };
    let entries = songs.into_iter().map(|(_, node)| node).collect();
    Ok(playlist_node(ctx, p, &totals).list("entry", entries))
}

pub fn get_playlists(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let list = match params.get("username").filter(|u| !u.is_empty()) {
        Some(name) if name != ctx.user.name => {
            if !ctx.user.is_admin {
                return Err(ApiError::not_authorized("see another user's playlists"));
            }
            let user = ctx
                .app
                .users
                .find(name)?
                .ok_or_else(|| ApiError::not_found("user"))?;
            ctx.app.playlists.owned_by(user.id)?
        }
        _ => ctx
            .app
            .playlists
            .visible_to(ctx.user.id)?
            .into_iter()
            .filter(|p| may_see(ctx, p))
            .collect(),
    };
    // Counts, lengths and covers of all of them in one query, not a song list per playlist.
    let ids: Vec<i64> = list.iter().map(|p| p.id).collect();
    let summaries = db(browse::playlist_summaries(
        &mut *conn(ctx)?,
        &ids,
        &ctx.scope(),
    ))?;
    let nodes = list
        .iter()
        .map(|p| {
            let totals = summaries.get(&p.id).map_or(
                Totals {
                    songs: 0,
                    seconds: 0,
                    cover_album: None,
                },
                |s| Totals {
                    songs: s.songs,
                    seconds: s.seconds,
                    cover_album: s.first_album,
                },
            );
            playlist_node(ctx, p, &totals)
        })
        .collect();
    Ok(Envelope::ok(
        "playlists",
        Node::new().list("playlist", nodes),
    ))
}

pub fn get_playlist(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let p = visible(ctx, params, "id")?;
    Ok(Envelope::ok("playlist", with_songs(ctx, &p)?))
}

/// New (`name`) or replacing the songs of an existing one (`playlistId`).
pub fn create_playlist(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let songs = song_ids(ctx, params, "songId")?;
    let id = if params.get("playlistId").is_some() {
        let p = editable(ctx, params, "playlistId")?;
        ctx.app.playlists.replace_songs(p.id, &songs)?;
        if let Some(name) = params.get("name").filter(|n| !n.is_empty()) {
            ctx.app.playlists.update(
                p.id,
                Changes {
                    name: Some(name.to_string()),
                    ..Changes::default()
                },
            )?;
        }
        p.id
    } else {
        require_playlist_role(ctx)?;
        let name = params.required("name")?;
        if name.chars().count() > 1000 {
            return Err(ApiError::invalid("name"));
        }
        ctx.app.playlists.create(ctx.user.id, name, &songs)?
    };
    let p = ctx
        .app
        .playlists
        .get(id)?
        .ok_or_else(|| ApiError::not_found("playlist"))?;
    Ok(Envelope::ok("playlist", with_songs(ctx, &p)?))
}

pub fn update_playlist(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let p = editable(ctx, params, "playlistId")?;
    let remove = params
        .all("songIndexToRemove")
        .into_iter()
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| ApiError::invalid("songIndexToRemove"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let changes = Changes {
        name: params
            .get("name")
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        comment: params.get("comment").map(str::to_string),
        public: params.bool("public")?,
        add: song_ids(ctx, params, "songIdToAdd")?,
        remove,
    };
    ctx.app.playlists.update(p.id, changes)?;
    Ok(Envelope::empty())
}

pub fn delete_playlist(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let p = editable(ctx, params, "id")?;
    ctx.app.playlists.delete(p.id)?;
    Ok(Envelope::empty())
}
