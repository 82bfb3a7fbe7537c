//! Browsing by folders: getIndexes and getMusicDirectory, for clients that show the file tree
//! (DSub's folder mode, for example). Directory ids are `dir-N`; for clients that pass ID3 ids
//! here, an artist (`ar-`) lists its albums and an album (`al-`) its songs.

use super::browsing::{conn, db, group_indexes, song_nodes};
use super::error::ApiError;
use super::ids;
use super::nodes::iso8601;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse::{self, DirRow};
use crate::app::library::index;

fn dir_child(d: &DirRow, parent: i64) -> Node {
    Node::new()
        .attr("id", ids::id(ids::DIRECTORY, d.id))
        .attr("parent", ids::id(ids::DIRECTORY, parent))
        .attr("isDir", true)
        .attr("title", &d.name)
        .opt(
            "coverArt",
            d.has_cover.then(|| ids::id(ids::DIRECTORY, d.id)),
        )
        .attr("created", iso8601(d.created_at))
}

pub fn get_indexes(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let scope = ctx.scope_in(params)?;
    let since = params.number::<i64>("ifModifiedSince")?;
    let articles = ctx.app.library.ignored_articles();
    let mut c = conn(ctx)?;
    // A change to the user's folders changes their index as much as a scan does.
    let last_modified = db(browse::last_modified(&mut c))?.max(ctx.user.updated_at) * 1000;
    let mut node = Node::new()
        .attr("lastModified", last_modified)
        .attr("ignoredArticles", articles.join(" "));
    if since.is_some_and(|s| s >= last_modified) {
        return Ok(Envelope::ok("indexes", node));
    }
    let mut dirs = Vec::new();
    let mut songs = Vec::new();
    for root in db(browse::root_dirs(&mut c, &scope))? {
        dirs.extend(db(browse::child_dirs(&mut c, root.id))?);
        songs.extend(db(browse::songs_in_dir(&mut c, root.id, &scope))?);
    }
    let dirs = index::sorted(dirs, |d| (&d.name, None), articles);
    let indexes = group_indexes(dirs.iter().map(|d| {
        let entry = Node::new()
            .attr("id", ids::id(ids::DIRECTORY, d.item.id))
            .attr("name", &d.item.name);
        (d.key.as_str(), entry)
    }));
    node = node
        .list("shortcut", Vec::new())
        .list("index", indexes)
        .list("child", song_nodes(ctx, &mut c, &songs)?);
    Ok(Envelope::ok("indexes", node))
}

pub fn get_music_directory(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let raw = params.required("id")?;
    let not_found = || ApiError::not_found("directory");
    let (kind, n) = ids::split(raw).ok_or_else(not_found)?;
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let node = match kind {
        ids::DIRECTORY => {
            let d = db(browse::dir(&mut c, n, &scope))?.ok_or_else(not_found)?;
            let subdirs: Vec<Node> = db(browse::child_dirs(&mut c, d.id))?
                .iter()
                .map(|s| dir_child(s, d.id))
                .collect();
            let rows = db(browse::songs_in_dir(&mut c, d.id, &scope))?;
            let songs = song_nodes(ctx, &mut c, &rows)?;
            let parent = d.parent_id.filter(|_| !d.is_root && !d.parent_is_root);
            Node::new()
                .attr("id", ids::id(ids::DIRECTORY, d.id))
                .opt("parent", parent.map(|p| ids::id(ids::DIRECTORY, p)))
                .attr("name", &d.name)
                .list("child", subdirs.into_iter().chain(songs).collect())
        }
        ids::ARTIST => {
            let a = db(browse::artist(&mut c, n, &scope))?.ok_or_else(not_found)?;
            let albums = db(browse::albums_of_artist(&mut c, n, &scope))?;
            let children = albums
                .iter()
                .map(|al| {
                    Node::new()
                        .attr("id", ids::id(ids::ALBUM, al.id))
                        .attr("parent", ids::id(ids::ARTIST, a.id))
                        .attr("isDir", true)
                        .attr("title", &al.name)
                        .attr("album", &al.name)
                        .attr("artist", &al.artist_display)
                        .opt("year", al.year)
                        .opt("coverArt", al.has_cover.then(|| ids::id(ids::ALBUM, al.id)))
                        .attr("created", iso8601(al.created_at))
                })
                .collect();
            Node::new()
                .attr("id", ids::id(ids::ARTIST, a.id))
                .attr("name", &a.name)
                .list("child", children)
        }
        ids::ALBUM => {
            let al = db(browse::album(&mut c, n, &scope))?.ok_or_else(not_found)?;
            let songs = db(browse::songs_of_album(&mut c, n, &scope))?;
            Node::new()
                .attr("id", ids::id(ids::ALBUM, al.id))
                .opt("parent", al.artist_id.map(|a| ids::id(ids::ARTIST, a)))
                .attr("name", &al.name)
                .list("child", song_nodes(ctx, &mut c, &songs)?)
        }
        _ => return Err(not_found()),
    };
    Ok(Envelope::ok("directory", node))
}
