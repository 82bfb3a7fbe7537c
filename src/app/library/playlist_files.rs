//! Playlists kept as `.m3u`/`.m3u8` files in the music folders (made by other players, or by
//! hand). Each scan imports the files it walks as public playlists, read-only through the API,
//! and keeps them in step: a changed file changes its playlist, a deleted file deletes it. A
//! playlist file in a folder that cannot be read right now is left alone, like its tracks.
//!
//! Entries are paths, relative to the playlist's own folder or absolute, with `/` or `\`, or
//! `file://` URLs. Entries that name no track in the library (another machine's paths, web
//! streams) are skipped and counted in the log; the rest keep their order and repeats.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::store::{path_str, DbResult};
use crate::app::db::now;
use crate::app::db::schema::{playlist_entries, playlists, tracks, users};

/// The largest playlist file read; bigger ones are skipped with a warning (a real playlist of
/// 100k entries is a few MB).
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// A playlist file as read: its name and the absolute paths it lists, in order.
#[derive(Debug, PartialEq)]
pub struct PlaylistFile {
    pub name: String,
    pub entries: Vec<PathBuf>,
}

/// Reads a playlist file. UTF-8 (with or without a byte order mark); anything that is not valid
/// UTF-8 is taken as Latin-1, which old `.m3u` files use.
pub fn read(path: &Path) -> Result<PlaylistFile, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE {
        return Err(format!(
            "too big for a playlist ({} MB; at most {} MB)",
            meta.len() / 1_000_000,
            MAX_FILE / 1_000_000
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    Ok(from_bytes(&bytes, path))
}

/// A playlist file's bytes, found at `path` (which names the playlist and anchors its relative
/// entries).
pub fn from_bytes(bytes: &[u8], path: &Path) -> PlaylistFile {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&text, dir, &stem)
}

/// Parses playlist text whose relative entries are relative to `dir`.
pub fn parse(text: &str, dir: &Path, default_name: &str) -> PlaylistFile {
    let mut name = None;
    let mut entries = Vec::new();
    for line in text.trim_start_matches('\u{feff}').lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(directive) = line.strip_prefix('#') {
            if let Some(n) = directive.strip_prefix("PLAYLIST:") {
                let n = n.trim();
                if !n.is_empty() {
                    name = Some(n.chars().take(200).collect());
                }
            }
            continue;
        }
        if let Some(p) = entry_path(line, dir) {
            entries.push(p);
        }
    }
    PlaylistFile {
        name: name.unwrap_or_else(|| default_name.to_string()),
        entries,
    }
}

/// The absolute, lexically normalised path an entry names; `None` for web URLs.
fn entry_path(line: &str, dir: &Path) -> Option<PathBuf> {
    let raw: String = if let Some(rest) = line.strip_prefix("file://") {
        // file:///music/a%20b.mp3 (or file://localhost/...).
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        percent_decode(rest)?
    } else if line.contains("://") {
        return None;
    } else {
        line.to_string()
    };
    let raw = raw.replace('\\', "/");
    let p = Path::new(&raw);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    Some(normalise(&joined))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `a/./b/../c` as `a/c`, without touching the disk (`..` above the root stays at the root).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What a sync did, for the scan's log.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SyncReport {
    pub imported: usize,
    pub updated: usize,
    pub removed: usize,
    /// Entries that name nothing in the library.
    pub unmatched: usize,
    /// Files that could not be read, with why.
    pub errors: Vec<(String, String)>,
}

/// Imports or refreshes the playlist files found by a walk (each with its music folder), and
/// deletes the imported playlists whose file is gone from the walked `trees` (directories walked
/// whole) or `dirs` (directories walked without their subdirectories). `kept` says whether a
/// path lies under a folder that could not be read (its playlist stays as it is).
pub fn sync(
    c: &mut SqliteConnection,
    found: &[(PathBuf, i64)],
    trees: &[String],
    dirs: &[String],
    kept: impl Fn(&str) -> bool,
) -> DbResult<SyncReport> {
    let mut report = SyncReport::default();
    let existing: Vec<(i64, String)> = playlists::table
        .filter(playlists::source_path.is_not_null())
        .select((playlists::id, playlists::source_path.assume_not_null()))
        .load(c)?;
    let found_paths: HashSet<String> = found.iter().map(|(p, _)| path_str(p)).collect();
    for (id, source) in &existing {
        let p = Path::new(source);
        let walked = trees.iter().any(|t| p.starts_with(t))
            || p.parent()
                .is_some_and(|d| dirs.iter().any(|w| Path::new(w) == d));
        if walked && !found_paths.contains(source) && !kept(source) {
            diesel::delete(playlists::table.find(id)).execute(c)?;
            report.removed += 1;
        }
    }
    if found.is_empty() {
        return Ok(report);
    }
    // Imported playlists belong to the first admin; with no admin yet they wait for a later scan.
    let owner: Option<i64> = users::table
        .filter(users::is_admin.eq(true))
        .order(users::id)
        .select(users::id)
        .first(c)
        .optional()?;
    let Some(owner) = owner else {
        tracing::info!(
            files = found.len(),
            "playlist files found; they will be imported once an admin user exists"
        );
        return Ok(report);
    };
    for (path, folder) in found {
        let source = path_str(path);
        let file = match read(path) {
            Ok(f) => f,
            Err(reason) => {
                report.errors.push((source, reason));
                continue;
            }
        };
        let mut songs = Vec::with_capacity(file.entries.len());
        for entry in &file.entries {
            let id: Option<i64> = tracks::table
                .filter(tracks::path.eq(path_str(entry)))
                .filter(tracks::missing_since.is_null())
                .select(tracks::id)
                .first(c)
                .optional()?;
            match id {
                Some(id) => songs.push(id),
                None => report.unmatched += 1,
            }
        }
        store(c, &source, *folder, owner, &file.name, &songs, &mut report)?;
    }
    Ok(report)
}

/// Creates or updates one imported playlist; entries are rewritten only when they changed.
fn store(
    c: &mut SqliteConnection,
    source: &str,
    folder: i64,
    owner: i64,
    name: &str,
    songs: &[i64],
    report: &mut SyncReport,
) -> DbResult<()> {
    let t = now();
    let current: Option<(i64, String)> = playlists::table
        .filter(playlists::source_path.eq(source))
        .select((playlists::id, playlists::name))
        .first(c)
        .optional()?;
    let id = match current {
        Some((id, old_name)) => {
            let old: Vec<i64> = playlist_entries::table
                .filter(playlist_entries::playlist_id.eq(id))
                .order(playlist_entries::position)
                .select(playlist_entries::track_id)
                .load(c)?;
            if old == songs && old_name == name {
                return Ok(());
            }
            diesel::update(playlists::table.find(id))
                .set((
                    playlists::name.eq(name),
                    playlists::updated_at.eq(t),
                    playlists::folder_id.eq(folder),
                ))
                .execute(c)?;
            report.updated += 1;
            id
        }
        None => {
            report.imported += 1;
            diesel::insert_into(playlists::table)
                .values((
                    playlists::owner_id.eq(owner),
                    playlists::name.eq(name),
                    playlists::comment.eq(format!("Imported from {source}")),
                    playlists::public.eq(true),
                    playlists::created_at.eq(t),
                    playlists::updated_at.eq(t),
                    playlists::source_path.eq(source),
                    playlists::folder_id.eq(folder),
                ))
                .returning(playlists::id)
                .get_result(c)?
        }
    };
    crate::app::playlists::set_entries(c, id, songs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_every_spelling() {
        let text = "\u{feff}#EXTM3U\r\n#PLAYLIST:Road Trip\r\n#EXTINF:123,Artist - Title\r\n\
                    01 - One.mp3\r\n\r\nsub\\02 - Two.flac\r\n../other/03.ogg\r\n\
                    /abs/04.mp3\r\nfile:///abs/a%20b.mp3\r\nhttp://radio.example/stream\r\n\
                    ./01 - One.mp3\r\n";
        let got = parse(text, Path::new("/music/lists"), "lists");
        assert_eq!(got.name, "Road Trip");
        let want: Vec<PathBuf> = [
            "/music/lists/01 - One.mp3",
            "/music/lists/sub/02 - Two.flac",
            "/music/other/03.ogg",
            "/abs/04.mp3",
            "/abs/a b.mp3",
            "/music/lists/01 - One.mp3",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got.entries, want);
    }

    #[test]
    fn the_name_defaults_to_the_file_name_and_junk_is_harmless() {
        let got = parse(
            "#EXTM3U\n%zz\n\0\n../../../../etc/passwd\n",
            Path::new("/m"),
            "Mix",
        );
        assert_eq!(got.name, "Mix");
        // Paths are only ever looked up among the library's tracks, never opened.
        assert_eq!(got.entries[2], PathBuf::from("/etc/passwd"));
        assert_eq!(percent_decode("a%2"), Some("a%2".into()));
        assert_eq!(percent_decode("%C3%A9"), Some("é".into()));
        assert_eq!(percent_decode("%FF"), None);
    }
}
