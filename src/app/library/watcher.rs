//! Live updates: watches every music folder with notify and rescans just the paths that changed.
//!
//! Events are debounced (a copy of an album is one burst, not hundreds of scans) and handed to
//! [`Library::scan`] as a scoped request, which also re-walks new directories as a whole: inotify
//! misses files created inside a directory before its watch is added. Folders on network shares
//! (NFS, SMB) send no events at all; the periodic scan covers them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify_debouncer_full::notify::{self, RecursiveMode};
use notify_debouncer_full::{new_debouncer_opt, DebounceEventResult, NoCache};

use super::{Library, ScanRequest};

/// Keeps the watch alive; dropping it stops watching.
pub struct Watcher {
    debouncer: notify_debouncer_full::Debouncer<notify::RecommendedWatcher, NoCache>,
    /// Folders that could not be watched (missing, unmounted), tried again by [`Watcher::retry`].
    unwatched: Vec<PathBuf>,
}

impl Watcher {
    /// Watches a music folder added while the server runs.
    pub fn watch(&mut self, root: &Path) {
        if let Err(e) = self.debouncer.watch(root, RecursiveMode::Recursive) {
            tracing::warn!(folder = %root.display(), "cannot watch folder ({e}); the periodic scan will cover it");
            self.unwatched.push(root.to_path_buf());
        }
    }

    /// Stops watching a music folder that was taken away.
    pub fn unwatch(&mut self, root: &Path) {
        self.unwatched.retain(|r| r != root);
        let _ = self.debouncer.unwatch(root);
    }

    /// Tries again to watch folders that could not be watched before (a share mounted late).
    pub fn retry(&mut self) {
        let debouncer = &mut self.debouncer;
        self.unwatched.retain(
            |root| match debouncer.watch(root, RecursiveMode::Recursive) {
                Ok(()) => {
                    tracing::info!(folder = %root.display(), "now watching folder");
                    false
                }
                Err(_) => true,
            },
        );
    }
}

pub fn start(library: Arc<Library>, debounce: Duration) -> Result<Watcher> {
    let (tx, rx) = crossbeam_channel::unbounded::<DebounceEventResult>();
    let mut debouncer = new_debouncer_opt::<_, notify::RecommendedWatcher, NoCache>(
        debounce,
        Some(debounce / 4),
        move |result: DebounceEventResult| {
            // The receiving thread lives as long as the process; nothing to do if it is gone.
            let _ = tx.send(result);
        },
        NoCache,
        notify::Config::default(),
    )
    .context("cannot start watching the music folders")?;
    let mut unwatched = Vec::new();
    for root in library.roots() {
        if let Err(e) = debouncer.watch(&root, RecursiveMode::Recursive) {
            tracing::warn!(folder = %root.display(), "cannot watch folder ({e}); the periodic scan will cover it");
            unwatched.push(root);
        }
    }
    std::thread::Builder::new()
        .name("library-watch".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                // Gather everything that arrived while the previous batch was being scanned.
                let mut paths = BTreeSet::new();
                for result in std::iter::once(first).chain(rx.try_iter()) {
                    match result {
                        Ok(events) => {
                            for e in events {
                                if e.kind.is_access() {
                                    continue;
                                }
                                paths.extend(e.event.paths.iter().cloned());
                            }
                        }
                        Err(errors) => {
                            for e in errors {
                                tracing::warn!("watch error: {e}");
                            }
                        }
                    }
                }
                if paths.is_empty() {
                    continue;
                }
                let paths: Vec<PathBuf> = paths.into_iter().collect();
                tracing::debug!(count = paths.len(), "changes seen; rescanning them");
                let request = ScanRequest {
                    full: false,
                    paths: Some(paths),
                };
                if let Err(e) = library.scan(&request) {
                    tracing::error!("live update failed: {e:#}");
                }
            }
        })
        .context("cannot start the watcher thread")?;
    Ok(Watcher {
        debouncer,
        unwatched,
    })
}
