//! Bookmarks and the saved play queue (also in the OpenSubsonic index-based form, where the
//! current entry is a position, so a song queued twice is not ambiguous).

use super::browsing::{conn, db, song_nodes};
use super::error::ApiError;
use super::ids;
use super::nodes::iso8601;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse;

pub fn get_bookmarks(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    let marks = ctx.app.bookmarks.list(ctx.user.id)?;
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let mut nodes = Vec::new();
    for b in marks {
        // A bookmark on a song that is missing right now stays stored, but is not shown.
        let Some(song) = db(browse::song(&mut c, b.track_id, &scope))? else {
            continue;
        };
        let entry = song_nodes(ctx, &mut c, std::slice::from_ref(&song))?
            .pop()
            .expect("one song in, one out");
        nodes.push(
            Node::new()
                .attr("position", b.position_ms)
                .attr("username", &ctx.user.name)
                .opt("comment", b.comment.as_deref())
                .attr("created", iso8601(b.created_at))
                .attr("changed", iso8601(b.updated_at))
                .child("entry", entry),
        );
    }
    Ok(Envelope::ok(
        "bookmarks",
        Node::new().list("bookmark", nodes),
    ))
}

fn existing_song(ctx: &Ctx<'_>, raw: &str) -> Result<i64, ApiError> {
    let id = ids::parse(ids::TRACK, raw)?;
    db(browse::song(&mut *conn(ctx)?, id, &ctx.scope()))?
        .ok_or_else(|| ApiError::not_found("song"))?;
    Ok(id)
}

pub fn create_bookmark(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = existing_song(ctx, params.required("id")?)?;
    let position = params
        .number::<i64>("position")?
        .ok_or_else(|| ApiError::missing("position"))?;
    if position < 0 {
        return Err(ApiError::invalid("position"));
    }
    let comment = params
        .get("comment")
        .map(|c| c.chars().take(1000).collect::<String>());
    ctx.app
        .bookmarks
        .set(ctx.user.id, id, position, comment.as_deref())?;
    Ok(Envelope::empty())
}

pub fn delete_bookmark(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let id = ids::parse(ids::TRACK, params.required("id")?)?;
    if !ctx.app.bookmarks.delete(ctx.user.id, id)? {
        return Err(ApiError::not_found("bookmark"));
    }
    Ok(Envelope::empty())
}

/// The current entry of a saved queue: its index among the shown entries, and its song.
type Current = (usize, i64);

/// The saved queue and its current entry (index among the shown entries, song id); entries
/// whose song is missing right now are skipped and the index follows.
fn saved(ctx: &Ctx<'_>) -> Result<Option<(Node, Option<Current>)>, ApiError> {
    let Some(q) = ctx.app.bookmarks.queue(ctx.user.id)? else {
        return Ok(None);
    };
    let mut c = conn(ctx)?;
    let songs = db(browse::songs_by_ids(&mut c, &q.tracks, &ctx.scope()))?;
    let present: std::collections::HashSet<i64> = songs.iter().map(|s| s.id).collect();
    let current = q.current.and_then(|i| {
        let track = q.tracks[i];
        present.contains(&track).then(|| {
            (
                q.tracks[..i].iter().filter(|t| present.contains(t)).count(),
                track,
            )
        })
    });
    let node = Node::new()
        .attr("position", q.position_ms)
        .attr("username", &ctx.user.name)
        .attr("changed", iso8601(q.updated_at))
        .attr("changedBy", q.changed_by.unwrap_or_default())
        .list("entry", song_nodes(ctx, &mut c, &songs)?);
    Ok(Some((node, current)))
}

/// What a user with no saved queue gets: an empty queue, never changed (the schemas want the
/// element, with its owner and a time).
fn empty_queue(ctx: &Ctx<'_>) -> Node {
    Node::new()
        .attr("username", &ctx.user.name)
        .attr("changed", iso8601(0))
        .attr("changedBy", "")
        .list("entry", Vec::new())
}

pub fn get_play_queue(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    let Some((node, current)) = saved(ctx)? else {
        return Ok(Envelope::ok("playQueue", empty_queue(ctx)));
    };
    let current = current.map(|(_, track)| ids::id(ids::TRACK, track));
    Ok(Envelope::ok("playQueue", node.opt("current", current)))
}

pub fn get_play_queue_by_index(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    let Some((node, current)) = saved(ctx)? else {
        return Ok(Envelope::ok("playQueueByIndex", empty_queue(ctx)));
    };
    Ok(Envelope::ok(
        "playQueueByIndex",
        node.opt("currentIndex", current.map(|(i, _)| i)),
    ))
}

fn queue_tracks(ctx: &Ctx<'_>, params: &Params) -> Result<Vec<i64>, ApiError> {
    params
        .all("id")
        .into_iter()
        .filter(|v| !v.is_empty())
        .map(|v| existing_song(ctx, v))
        .collect()
}

/// Stores the queue; the client (`c`) is recorded as the one that changed it.
fn save(
    ctx: &Ctx<'_>,
    params: &Params,
    tracks: &[i64],
    current: Option<usize>,
) -> Result<Envelope, ApiError> {
    let position = position(params)?;
    ctx.app
        .bookmarks
        .save(ctx.user.id, tracks, current, position, params.get("c"))?;
    Ok(Envelope::empty())
}

fn position(params: &Params) -> Result<i64, ApiError> {
    let p = params.number::<i64>("position")?.unwrap_or(0);
    if p < 0 {
        return Err(ApiError::invalid("position"));
    }
    Ok(p)
}

pub fn save_play_queue(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let tracks = queue_tracks(ctx, params)?;
    let current = match params.get("current").filter(|c| !c.is_empty()) {
        Some(raw) => {
            let id = ids::parse(ids::TRACK, raw)?;
            Some(
                tracks
                    .iter()
                    .position(|t| *t == id)
                    .ok_or_else(|| ApiError::invalid("current"))?,
            )
        }
        None => None,
    };
    save(ctx, params, &tracks, current)
}

pub fn save_play_queue_by_index(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let tracks = queue_tracks(ctx, params)?;
    let current = match params.number::<usize>("currentIndex")? {
        Some(i) if i < tracks.len() => Some(i),
        Some(_) => return Err(ApiError::invalid("currentIndex")),
        None => None,
    };
    save(ctx, params, &tracks, current)
}
