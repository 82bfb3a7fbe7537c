//! Walking music folders: which audio files, images and lyrics sidecars exist, and which
//! directories could not be read. Touches only file metadata; never opens an audio file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use walkdir::WalkDir;

use super::record::FileFacts;
use super::tags::is_audio_extension;

/// What part of a folder to walk.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A directory and everything below it; a path that no longer exists walks as empty.
    Tree(PathBuf),
    /// One directory's own files (not its subdirectories).
    Dir(PathBuf),
}

impl Scope {
    pub fn path(&self) -> &Path {
        match self {
            Scope::Tree(p) | Scope::Dir(p) => p,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DirFacts {
    pub mtime: i64,
    pub cover: Option<(u8, PathBuf)>,
    pub artist_image: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<FileFacts>,
    pub dirs: HashMap<PathBuf, DirFacts>,
    pub lrc: HashSet<PathBuf>,
    /// Playlist files (`.m3u`, `.m3u8`).
    pub playlists: Vec<PathBuf>,
    /// Directories (or files) that could not be read, with the reason. Nothing below them may be
    /// taken as deleted.
    pub errors: Vec<(PathBuf, String)>,
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];
/// Folder images in order of preference.
const COVER_NAMES: &[&str] = &["cover", "folder", "front", "album"];

fn hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.'))
}

impl Walked {
    pub fn walk(&mut self, scope: &Scope) {
        match scope {
            Scope::Tree(root) => {
                if !root.exists() {
                    return;
                }
                let walker = WalkDir::new(root)
                    .follow_links(true)
                    .into_iter()
                    .filter_entry(|e| e.depth() == 0 || !hidden(e.file_name()));
                for entry in walker {
                    match entry {
                        Ok(e) => self.visit(e.path(), e.file_type().is_dir(), e.metadata().ok()),
                        Err(err) => self.walk_error(err),
                    }
                }
            }
            Scope::Dir(dir) => {
                if !dir.exists() {
                    return;
                }
                let walker = WalkDir::new(dir)
                    .follow_links(true)
                    .max_depth(1)
                    .into_iter()
                    .filter_entry(|e| e.depth() == 0 || !hidden(e.file_name()));
                for entry in walker {
                    match entry {
                        Ok(e) if e.depth() == 1 && e.file_type().is_dir() => {}
                        Ok(e) => self.visit(e.path(), e.file_type().is_dir(), e.metadata().ok()),
                        Err(err) => self.walk_error(err),
                    }
                }
            }
        }
    }

    fn walk_error(&mut self, err: walkdir::Error) {
        let path = err.path().map(Path::to_path_buf).unwrap_or_default();
        let reason = if let Some(ancestor) = err.loop_ancestor() {
            format!("symbolic link loop back to {}", ancestor.display())
        } else if let Some(io) = err.io_error() {
            format!("cannot read: {io}")
        } else {
            err.to_string()
        };
        self.errors.push((path, reason));
    }

    fn visit(&mut self, path: &Path, is_dir: bool, meta: Option<std::fs::Metadata>) {
        if is_dir {
            let mtime = meta.as_ref().map(mtime_ns).unwrap_or(0);
            self.dirs.entry(path.to_path_buf()).or_default().mtime = mtime;
            return;
        }
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            return;
        };
        let ext = ext.to_ascii_lowercase();
        if is_audio_extension(&ext) {
            let Some(meta) = meta else {
                self.errors
                    .push((path.to_path_buf(), "cannot read file metadata".into()));
                return;
            };
            self.files.push(FileFacts {
                path: path.to_path_buf(),
                size: meta.len() as i64,
                mtime: mtime_ns(&meta),
            });
        } else if ext == "lrc" {
            self.lrc.insert(path.to_path_buf());
        } else if ext == "m3u" || ext == "m3u8" {
            self.playlists.push(path.to_path_buf());
        } else if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            let Some(parent) = path.parent() else { return };
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let facts = self.dirs.entry(parent.to_path_buf()).or_default();
            if let Some(rank) = COVER_NAMES.iter().position(|n| *n == stem) {
                let rank = rank as u8;
                // Ties (cover.jpg and cover.png) go to the smaller name, so the choice is stable.
                let better = match &facts.cover {
                    None => true,
                    Some((r, p)) => rank < *r || (rank == *r && path < p.as_path()),
                };
                if better {
                    facts.cover = Some((rank, path.to_path_buf()));
                }
            } else if stem == "artist" {
                facts.artist_image = Some(path.to_path_buf());
            }
        }
    }

    /// The `.lrc` file beside an audio file, if there is one.
    pub fn lrc_for(&self, audio: &Path) -> Option<PathBuf> {
        let candidate = audio.with_extension("lrc");
        if self.lrc.contains(&candidate) {
            return Some(candidate);
        }
        let upper = audio.with_extension("LRC");
        self.lrc.contains(&upper).then_some(upper)
    }
}
