//! The scan: find what changed in the music folders and bring the database in line, without ever
//! losing a track (or what users attached to it) to a mistake.
//!
//! 1. Walk the scope (whole folders, or the paths the watcher saw change). A folder that is
//!    missing, unreadable or suddenly empty while the library holds tracks there is left alone.
//! 2. Compare with the database: files with the same size and mtime are skipped unopened.
//! 3. Read new and changed files on all cores; one writer thread stores them in large
//!    transactions. A new file that is recognisably a track that vanished (same MusicBrainz
//!    recording id, or same size + duration + tags) takes over that track's id: a move.
//! 4. Tracks that vanished are marked missing, not deleted; they are purged after the grace
//!    period. Summaries (album counts, covers, artist images) are recomputed for what changed.
//!
//! Every step is its own transaction and a file is only marked done together with its data, so a
//! kill at any moment leaves a consistent database; a `scan_interrupted` marker makes the next
//! scan redo the summaries.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use diesel::connection::Connection;
use diesel::sqlite::SqliteConnection;
use rayon::prelude::*;
use serde::Serialize;

use super::fold::fold;
use super::record::{FileFacts, TrackRecord};
use super::store::{self, path_str, Ids, KnownTrack, TrackRow};
use super::tags::{read_track, TagOptions};
use super::walk::{Scope, Walked};
use crate::app::db::{now, Db};

/// Tracks written per transaction; a commit also happens at least every `COMMIT_EVERY`, so that
/// progress shows in `/api/health` while a big scan runs.
const BATCH: usize = 2_000;
const COMMIT_EVERY: Duration = Duration::from_millis(500);
const INTERRUPTED: &str = "scan_interrupted";
/// How often a running scan logs its progress.
const LOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub roots: Vec<PathBuf>,
    pub tags: TagOptions,
    pub threads: usize,
    pub missing_grace: Duration,
}

/// What to scan: everything, or only some paths (from the watcher).
#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Read every file again, even unchanged ones.
    pub full: bool,
    /// Only these paths (files or directories, existing or deleted); `None` means all folders.
    pub paths: Option<Vec<PathBuf>>,
}

/// Live progress, shared with `/api/health`.
#[derive(Debug, Default)]
pub struct Progress {
    pub scanning: AtomicBool,
    pub seen: AtomicU64,
    pub to_read: AtomicU64,
    pub processed: AtomicU64,
    pub errors: AtomicU64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgressView {
    pub files_seen: u64,
    pub files_to_read: u64,
    pub files_processed: u64,
    pub errors: u64,
}

impl Progress {
    pub fn view(&self) -> ProgressView {
        ProgressView {
            files_seen: self.seen.load(Ordering::Relaxed),
            files_to_read: self.to_read.load(Ordering::Relaxed),
            files_processed: self.processed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
    fn reset(&self) {
        for c in [&self.seen, &self.to_read, &self.processed, &self.errors] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub files: u64,
    pub added: u64,
    pub updated: u64,
    pub moved: u64,
    pub removed: u64,
    pub purged: u64,
    /// Files that could not be read (not in the library), with the reason.
    pub errors: Vec<(String, String)>,
    /// Files read with a problem worked around.
    pub warnings: Vec<(String, String)>,
    /// Folders left untouched because they could not be reached.
    pub skipped_folders: Vec<(String, String)>,
    /// Playlist files imported, updated or removed.
    pub playlists: super::playlist_files::SyncReport,
    pub seconds: f64,
}

impl ScanReport {
    pub fn summary(&self) -> String {
        format!(
            "scanned {} files: {} added, {} updated, {} removed, {} errors in {:.2} s",
            self.files,
            self.added,
            self.updated,
            self.removed,
            self.errors.len(),
            self.seconds
        )
    }
}

/// One root's part of a scan.
struct RootPlan {
    root: String,
    folder: i64,
    scopes: Vec<Scope>,
    /// False when the root could not be reached: nothing under it may be taken as deleted.
    reachable: bool,
}

enum Outcome {
    Read(Box<TrackRecord>),
    Failed(String),
}

struct Work {
    facts: FileFacts,
    existing: Option<KnownTrack>,
    root_idx: usize,
    /// The file has a recorded error or warning that a clean read must clear.
    had_problem: bool,
}

pub fn scan(
    db: &Db,
    config: &ScanConfig,
    progress: &Progress,
    request: &ScanRequest,
) -> Result<ScanReport> {
    let started = Instant::now();
    progress.reset();
    let mut report = ScanReport::default();
    let mut conn = db.write();

    let roots: Vec<String> = config
        .roots
        .iter()
        .map(|r| path_str(&absolute(r)))
        .collect();
    let interrupted = conn
        .transaction(|c| {
            store::set_enabled_folders(c, &roots)?;
            let was = store::get_state(c, INTERRUPTED)?.is_some();
            store::set_state(c, INTERRUPTED, &now().to_string())?;
            Ok::<_, diesel::result::Error>(was)
        })
        .map_err(|e| store::explain(e, "cannot start the scan"))?;

    // 1. Plan and walk.
    let mut plans = Vec::new();
    for root in &roots {
        let folder = store::folder_id(&mut conn, root)
            .map_err(|e| store::explain(e, "cannot record the music folder"))?;
        let scopes = scopes_for(root, request.paths.as_deref());
        if scopes.is_empty() {
            continue;
        }
        let reachable = match reachability(&mut conn, root, folder) {
            Ok(()) => true,
            Err(reason) => {
                tracing::warn!(folder = %root, %reason, "music folder unreachable: keeping its tracks, removing nothing");
                report.skipped_folders.push((root.clone(), reason));
                false
            }
        };
        plans.push(RootPlan {
            root: root.clone(),
            folder,
            scopes,
            reachable,
        });
    }
    // The writer is held only while writing: the walk (minutes on a slow share) and the tag
    // reading run without it, so API writes (stars, plays, playlists) never wait for a scan.
    drop(conn);
    let mut walked = Walked::default();
    for plan in plans.iter().filter(|p| p.reachable) {
        for scope in &plan.scopes {
            walked.walk(scope);
        }
    }
    let mut conn = db.write();
    progress
        .seen
        .store(walked.files.len() as u64, Ordering::Relaxed);
    report.files = walked.files.len() as u64;
    let known_problems = store::known_problems(&mut conn)
        .map_err(|e| store::explain(e, "cannot read the scan errors"))?;
    for (path, reason) in &walked.errors {
        let p = path_str(path);
        // Logged once: a folder that was already unreadable last time is only reported.
        if known_problems.contains_key(&p) {
            tracing::debug!(path = %p, %reason, "still cannot scan");
        } else {
            tracing::warn!(path = %p, %reason, "cannot scan");
        }
        report.errors.push((p, reason.clone()));
    }
    let unreadable: Vec<String> = walked.errors.iter().map(|(p, _)| path_str(p)).collect();
    let under_unreadable = |p: &str| unreadable.iter().any(|u| Path::new(p).starts_with(u));

    // 2. Compare with what the database knows.
    let mut work: Vec<Work> = Vec::new();
    let mut vanished: HashMap<i64, KnownTrack> = HashMap::new();
    let mut dirty_albums: HashSet<i64> = HashSet::new();
    for (root_idx, plan) in plans.iter().enumerate() {
        if !plan.reachable {
            continue;
        }
        let mut known: HashMap<String, KnownTrack> = HashMap::new();
        for scope in &plan.scopes {
            let p = path_str(scope.path());
            let rows = match scope {
                Scope::Tree(_) => store::known_in_tree(&mut conn, &p),
                Scope::Dir(_) => store::known_in_dir(&mut conn, &p),
            }
            .map_err(|e| store::explain(e, "cannot read the library"))?;
            known.extend(rows.into_iter().map(|k| (k.path.clone(), k)));
        }
        let in_root = |f: &&FileFacts| f.path.starts_with(&plan.root);
        for facts in walked.files.iter().filter(in_root) {
            let p = path_str(&facts.path);
            match known.remove(&p) {
                Some(k)
                    if !request.full
                        && k.missing_since.is_none()
                        && k.size == facts.size
                        && k.mtime == facts.mtime => {}
                Some(k) => work.push(Work {
                    had_problem: known_problems.contains_key(&p),
                    facts: facts.clone(),
                    existing: Some(k),
                    root_idx,
                }),
                None => {
                    let problem = known_problems.get(&p);
                    let unchanged_broken = problem.is_some_and(|(kind, s, m)| {
                        kind == "error" && *s == facts.size && *m == facts.mtime
                    });
                    if unchanged_broken && !request.full {
                        let reason = store::error_reason(&mut conn, &p)
                            .ok()
                            .flatten()
                            .unwrap_or_default();
                        report.errors.push((p, reason));
                    } else {
                        work.push(Work {
                            had_problem: problem.is_some(),
                            facts: facts.clone(),
                            existing: None,
                            root_idx,
                        });
                    }
                }
            }
        }
        for (path, k) in known {
            if k.missing_since.is_none() && !under_unreadable(&path) {
                vanished.insert(k.id, k);
            }
        }
    }
    progress.to_read.store(work.len() as u64, Ordering::Relaxed);
    progress
        .errors
        .store(report.errors.len() as u64, Ordering::Relaxed);
    tracing::info!(
        files = walked.files.len(),
        to_read = work.len(),
        vanished = vanished.len(),
        "scan planned"
    );

    // 3. Directories first (tracks point at them), then read and store files.
    let mut ids = Ids::load(&mut conn).map_err(|e| store::explain(e, "cannot read the library"))?;
    conn.transaction(|c| store_dirs(c, &plans, &walked, &mut ids))
        .map_err(|e| store::explain(e, "cannot store the folders"))?;

    let vanished_ids: Vec<i64> = vanished.keys().copied().collect();
    let mut moves = MoveIndex::new(
        store::move_candidates(&mut conn, &vanished_ids)
            .map_err(|e| store::explain(e, "cannot read the library"))?,
    );

    let threads = if config.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        config.threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("scan-read-{i}"))
        .build()?;
    let (tx, rx) = crossbeam_channel::bounded::<(usize, Outcome)>(512);
    let tag_options = &config.tags;
    let work_ref = &work;
    drop(conn);
    let mut writer = Writer {
        db,
        ids: &mut ids,
        plans: &plans,
        walked: &walked,
        moves: &mut moves,
        vanished: &mut vanished,
        dirty_albums: &mut dirty_albums,
        report: &mut report,
        progress,
        last_log: Instant::now(),
    };
    // Set when the writer fails, so the readers stop instead of reading files nobody will store.
    let stop = AtomicBool::new(false);
    let stop_ref = &stop;
    let write_result = std::thread::scope(|s| {
        s.spawn(move || {
            pool.install(|| {
                work_ref
                    .par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (i, w)| {
                        if stop_ref.load(Ordering::Relaxed) {
                            return;
                        }
                        let outcome = match read_track(&w.facts.path, tag_options) {
                            Ok(rec) => Outcome::Read(Box::new(rec)),
                            Err(reason) => Outcome::Failed(reason),
                        };
                        // A send fails only once the writer has given up; the scan ends with its error.
                        let _ = tx.send((i, outcome));
                    });
            });
        });
        // `run` owns the receiver: when it returns, blocked senders wake up and fail at once.
        let result = writer.run(rx, work_ref);
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        result
    });
    write_result?;
    let mut conn = db.write();
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "files read and stored"
    );

    // 4. What vanished, purges and summaries.
    let cutoff = now() - config.missing_grace.as_secs() as i64;
    let finish = conn.transaction(|c| {
        let gone: Vec<i64> = vanished.keys().copied().collect();
        for k in vanished.values() {
            dirty_albums.insert(k.album_id);
        }
        report.removed = store::mark_missing(c, &gone)? as u64;
        // What lies under an unreadable folder counts as still there: nothing is known about it.
        let seen_dirs: HashSet<String> = walked.dirs.keys().map(|p| path_str(p)).collect();
        let existing: HashSet<&str> = walked
            .files
            .iter()
            .filter_map(|f| f.path.to_str())
            .collect();
        for plan in plans.iter().filter(|p| p.reachable) {
            for scope in &plan.scopes {
                if let Scope::Tree(tree) = scope {
                    let t = path_str(tree);
                    store::mark_dirs_missing(c, &t, |d| {
                        seen_dirs.contains(d) || under_unreadable(d)
                    })?;
                    store::clear_problems_not_in(c, &t, |f| {
                        existing.contains(f) || under_unreadable(f)
                    })?;
                }
            }
        }
        for (path, reason) in &walked.errors {
            store::record_problem(c, &path_str(path), "error", reason, None)?;
        }
        report.purged = store::purge_missing(c, cutoff)? as u64;
        let changed = !dirty_albums.is_empty() || report.purged > 0;
        if interrupted || request.full || (request.paths.is_none() && changed) {
            store::refresh_summaries(c, None)?;
        } else if changed {
            let albums: Vec<i64> = dirty_albums.iter().copied().collect();
            store::refresh_summaries(c, Some(&albums))?;
        }
        report.playlists = sync_playlist_files(c, &plans, &walked, &under_unreadable)?;
        for plan in &plans {
            if plan.reachable {
                diesel::update(crate::app::db::schema::music_folders::table.find(plan.folder))
                    .set(crate::app::db::schema::music_folders::last_scan_at.eq(now()))
                    .execute(c)?;
            }
        }
        store::clear_state(c, INTERRUPTED)?;
        Ok::<_, diesel::result::Error>(())
    });
    finish.map_err(|e| store::explain(e, "cannot finish the scan"))?;
    for (path, reason) in &report.playlists.errors {
        tracing::warn!(%path, %reason, "cannot import playlist file");
        report.errors.push((path.clone(), reason.clone()));
    }
    let pl = &report.playlists;
    if pl.imported + pl.updated + pl.removed > 0 || pl.unmatched > 0 {
        tracing::info!(
            imported = pl.imported,
            updated = pl.updated,
            removed = pl.removed,
            entries_not_in_library = pl.unmatched,
            "playlist files"
        );
    }
    // The writer's page cache is only worth its memory while a scan writes: give it back.
    let _ =
        diesel::connection::SimpleConnection::batch_execute(&mut *conn, "PRAGMA shrink_memory;");
    report.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        files = report.files,
        added = report.added,
        updated = report.updated,
        moved = report.moved,
        removed = report.removed,
        purged = report.purged,
        errors = report.errors.len(),
        seconds = report.seconds,
        "scan finished"
    );
    Ok(report)
}

use diesel::prelude::*;

/// Makes a path absolute without resolving symlinks (a symlinked root keeps its name).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Brings the playlists imported from files in step with the files this scan walked.
fn sync_playlist_files(
    c: &mut SqliteConnection,
    plans: &[RootPlan],
    walked: &Walked,
    under_unreadable: &dyn Fn(&str) -> bool,
) -> diesel::QueryResult<super::playlist_files::SyncReport> {
    let mut trees = Vec::new();
    let mut dirs = Vec::new();
    for plan in plans.iter().filter(|p| p.reachable) {
        for scope in &plan.scopes {
            match scope {
                Scope::Tree(t) => trees.push(path_str(t)),
                Scope::Dir(d) => dirs.push(path_str(d)),
            }
        }
    }
    let found: Vec<(PathBuf, i64)> = walked
        .playlists
        .iter()
        .filter_map(|p| {
            plans
                .iter()
                .find(|plan| p.starts_with(&plan.root))
                .map(|plan| (p.clone(), plan.folder))
        })
        .collect();
    super::playlist_files::sync(c, &found, &trees, &dirs, under_unreadable)
}

/// The walk scopes of one root: the whole tree, or the requested paths that lie under it.
fn scopes_for(root: &str, paths: Option<&[PathBuf]>) -> Vec<Scope> {
    let Some(paths) = paths else {
        return vec![Scope::Tree(PathBuf::from(root))];
    };
    let mut scopes: Vec<Scope> = Vec::new();
    for p in paths {
        let p = absolute(p);
        if !p.starts_with(root) {
            continue;
        }
        if p.is_dir() {
            scopes.push(Scope::Tree(p));
        } else {
            // A file event rescans its directory's own files (covers and lyrics too); a path that
            // is gone may have been a file or a whole directory.
            if let Some(parent) = p.parent().filter(|d| d.starts_with(root)) {
                scopes.push(Scope::Dir(parent.to_path_buf()));
            }
            if !p.exists() {
                scopes.push(Scope::Tree(p));
            }
        }
    }
    scopes.sort();
    scopes.dedup();
    let trees: Vec<PathBuf> = scopes
        .iter()
        .filter_map(|s| match s {
            Scope::Tree(t) => Some(t.clone()),
            Scope::Dir(_) => None,
        })
        .collect();
    scopes.retain(|s| {
        !trees.iter().any(|t| {
            let inside = s.path().starts_with(t);
            match s {
                Scope::Tree(p) => inside && p != t,
                Scope::Dir(_) => inside,
            }
        })
    });
    scopes
}

/// Whether a root may be scanned, and why not. An empty root while the library holds tracks
/// there is taken as an unmounted disk, never as "everything was deleted".
fn reachability(conn: &mut SqliteConnection, root: &str, folder: i64) -> Result<(), String> {
    let mut entries = std::fs::read_dir(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "the folder does not exist (unmounted?)".to_string(),
        _ => format!("cannot read the folder: {e}"),
    })?;
    if entries.next().is_none() {
        let present = store::present_tracks_in_folder(conn, folder).unwrap_or(0);
        if present > 0 {
            return Err(format!(
                "the folder is empty but the library has {present} tracks there (unmounted disk?)"
            ));
        }
    }
    Ok(())
}

fn store_dirs(
    c: &mut SqliteConnection,
    plans: &[RootPlan],
    walked: &Walked,
    ids: &mut Ids,
) -> Result<(), diesel::result::Error> {
    // Directories that hold audio, with their ancestors up to the root, shallowest first.
    let mut wanted: HashSet<&Path> = HashSet::new();
    for f in &walked.files {
        let Some(plan) = plans.iter().find(|p| f.path.starts_with(&p.root)) else {
            continue;
        };
        let mut dir = f.path.parent();
        while let Some(d) = dir {
            if !wanted.insert(d) || d == Path::new(&plan.root) {
                break;
            }
            dir = d.parent();
        }
    }
    // Image-only folders (e.g. an artist folder with artist.jpg above its albums) count too.
    for (d, facts) in &walked.dirs {
        if facts.artist_image.is_some() || facts.cover.is_some() {
            wanted.insert(d);
        }
    }
    let mut dirs: Vec<&Path> = wanted.into_iter().collect();
    dirs.sort_by_key(|d| (d.components().count(), d.to_path_buf()));
    for d in dirs {
        let Some(plan) = plans.iter().find(|p| d.starts_with(&p.root)) else {
            continue;
        };
        let path = path_str(d);
        let parent = if d == Path::new(&plan.root) {
            None
        } else {
            match d.parent().map(path_str) {
                Some(pp) => match ids.dirs.get(&pp) {
                    Some(id) => Some(*id),
                    None => store::dir_id(c, &pp)?,
                },
                None => None,
            }
        };
        let facts = walked.dirs.get(d).cloned().unwrap_or_default();
        let cover = facts.cover.as_ref().map(|(_, p)| path_str(p));
        let artist_image = facts.artist_image.as_ref().map(|p| path_str(p));
        let id = store::upsert_dir(
            c,
            plan.folder,
            parent,
            &path,
            facts.mtime,
            cover.as_deref(),
            artist_image.as_deref(),
        )?;
        ids.dirs.insert(path, id);
    }
    Ok(())
}

/// Finds the vanished or missing track a new file is a move of.
struct MoveIndex {
    by_recording: HashMap<String, Vec<i64>>,
    by_key: HashMap<String, Vec<i64>>,
    taken: HashSet<i64>,
}

impl MoveIndex {
    fn new(candidates: Vec<(i64, Option<String>, String)>) -> MoveIndex {
        let mut by_recording: HashMap<String, Vec<i64>> = HashMap::new();
        let mut by_key: HashMap<String, Vec<i64>> = HashMap::new();
        for (id, rec, key) in candidates {
            if let Some(r) = rec {
                by_recording.entry(r).or_default().push(id);
            }
            by_key.entry(key).or_default().push(id);
        }
        MoveIndex {
            by_recording,
            by_key,
            taken: HashSet::new(),
        }
    }

    fn find(&mut self, recording: Option<&str>, key: &str) -> Option<i64> {
        let free = |ids: Option<&Vec<i64>>, taken: &HashSet<i64>| -> Vec<i64> {
            ids.map(|v| v.iter().copied().filter(|id| !taken.contains(id)).collect())
                .unwrap_or_default()
        };
        let same_key = free(self.by_key.get(key), &self.taken);
        let found = match recording {
            Some(r) => {
                let same_rec = free(self.by_recording.get(r), &self.taken);
                // Several copies of one recording: prefer the one that also matches size and tags.
                same_rec
                    .iter()
                    .find(|id| same_key.contains(id))
                    .or(same_rec.first())
                    .copied()
            }
            None => same_key.first().copied(),
        };
        if let Some(id) = found {
            self.taken.insert(id);
        }
        found
    }
}

/// size + duration + the tags that name a recording, hashed.
pub fn match_key(size: i64, rec: &TrackRecord) -> String {
    let text = format!(
        "{size}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1f}{:?}",
        rec.duration_ms,
        fold(&rec.title),
        fold(&rec.artist_display),
        fold(&rec.album),
        rec.track_number,
        rec.disc_number
    );
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

struct Writer<'a> {
    db: &'a Db,
    ids: &'a mut Ids,
    plans: &'a [RootPlan],
    walked: &'a Walked,
    moves: &'a mut MoveIndex,
    vanished: &'a mut HashMap<i64, KnownTrack>,
    dirty_albums: &'a mut HashSet<i64>,
    report: &'a mut ScanReport,
    progress: &'a Progress,
    last_log: Instant,
}

impl Writer<'_> {
    fn run(
        &mut self,
        rx: crossbeam_channel::Receiver<(usize, Outcome)>,
        work: &[Work],
    ) -> Result<()> {
        let mut batch: Vec<(usize, Outcome)> = Vec::with_capacity(BATCH);
        let mut last_commit = Instant::now();
        loop {
            let timeout = COMMIT_EVERY.saturating_sub(last_commit.elapsed());
            let item = match rx.recv_timeout(timeout) {
                Ok(item) => Some(item),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    self.commit(&mut batch, work)?;
                    return Ok(());
                }
            };
            if let Some(item) = item {
                batch.push(item);
            }
            if batch.len() >= BATCH || last_commit.elapsed() >= COMMIT_EVERY {
                self.commit(&mut batch, work)?;
                last_commit = Instant::now();
            }
        }
    }

    fn commit(&mut self, batch: &mut Vec<(usize, Outcome)>, work: &[Work]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(batch);
        // Counters change only after the commit: a failed transaction must not count as done.
        let mut tally = Tally::default();
        let mut guard = self.db.write();
        let conn = &mut *guard;
        let ids = &mut *self.ids;
        let ctx = Ctx {
            plans: self.plans,
            walked: self.walked,
        };
        let moves = &mut *self.moves;
        let vanished = &mut *self.vanished;
        let dirty = &mut *self.dirty_albums;
        let result = conn.transaction(|c| {
            for (i, outcome) in &items {
                store_one(
                    c, ids, &ctx, moves, vanished, dirty, &work[*i], outcome, &mut tally,
                )?;
            }
            store::index_tracks(c, &tally.stored)
        });
        if let Err(e) = result {
            // The caches may name rows the rollback removed.
            *self.ids = Ids::load(conn).unwrap_or_default();
            return Err(store::explain(e, "cannot store scanned files"));
        }
        self.report.added += tally.added;
        self.report.updated += tally.updated + tally.moved;
        self.report.moved += tally.moved;
        self.report.errors.extend(tally.errors);
        self.report.warnings.extend(tally.warnings);
        self.progress
            .processed
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        self.progress
            .errors
            .store(self.report.errors.len() as u64, Ordering::Relaxed);
        if self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            let p = self.progress.view();
            tracing::info!(
                processed = p.files_processed,
                to_read = p.files_to_read,
                seen = p.files_seen,
                errors = p.errors,
                "scan progress"
            );
        }
        Ok(())
    }
}

struct Ctx<'a> {
    plans: &'a [RootPlan],
    walked: &'a Walked,
}

#[derive(Default)]
struct Tally {
    added: u64,
    updated: u64,
    moved: u64,
    /// Tracks inserted or changed in this batch, for the search index.
    stored: Vec<i64>,
    errors: Vec<(String, String)>,
    warnings: Vec<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
fn store_one(
    c: &mut SqliteConnection,
    ids: &mut Ids,
    ctx: &Ctx<'_>,
    moves: &mut MoveIndex,
    vanished: &mut HashMap<i64, KnownTrack>,
    dirty: &mut HashSet<i64>,
    w: &Work,
    outcome: &Outcome,
    tally: &mut Tally,
) -> Result<(), diesel::result::Error> {
    let path = path_str(&w.facts.path);
    let rec = match outcome {
        Outcome::Failed(reason) => {
            // A file that was fine and is now unreadable keeps its old track (and the user data on
            // it); its size and mtime stay old, so the next scan tries it again.
            tracing::warn!(path = %path, %reason, "cannot read audio file");
            store::record_problem(c, &path, "error", reason, Some(&w.facts))?;
            tally.errors.push((path, reason.clone()));
            return Ok(());
        }
        Outcome::Read(rec) => rec,
    };
    let plan = &ctx.plans[w.root_idx];
    let dir_path = w.facts.path.parent().map(path_str).unwrap_or_default();
    let directory_id = match ids.dirs.get(&dir_path) {
        Some(id) => *id,
        None => {
            let id = store::upsert_dir(c, plan.folder, None, &dir_path, 0, None, None)?;
            ids.dirs.insert(dir_path, id);
            id
        }
    };
    let album_id = ids.album(c, rec, plan.folder)?;
    let key = match_key(w.facts.size, rec);
    let lrc = ctx.walked.lrc_for(&w.facts.path).map(|p| path_str(&p));
    let row = TrackRow::new(
        rec,
        &w.facts,
        &path,
        plan.folder,
        directory_id,
        album_id,
        lrc.as_deref(),
        &key,
    );

    let track_id = match &w.existing {
        Some(k) => {
            dirty.insert(k.album_id);
            store::update_track(c, k.id, &row)?;
            if k.missing_since.is_some() {
                tally.added += 1;
            } else {
                tally.updated += 1;
            }
            k.id
        }
        None => match moves.find(rec.mbz_recording_id.as_deref(), &key) {
            Some(id) => {
                if let Some(old) = vanished.remove(&id) {
                    dirty.insert(old.album_id);
                } else {
                    dirty.insert(store::album_of(c, id)?);
                }
                store::update_track(c, id, &row)?;
                tracing::debug!(path = %path, id, "moved file keeps its track id");
                tally.moved += 1;
                id
            }
            None => {
                tally.added += 1;
                store::insert_track(c, &row)?
            }
        },
    };
    dirty.insert(album_id);
    tally.stored.push(track_id);

    let mut positions: HashMap<&str, i32> = HashMap::new();
    for credit in &rec.credits {
        let artist = ids.artist(
            c,
            &credit.name,
            credit.sort_name.as_deref(),
            credit.mbid.as_deref(),
        )?;
        let pos = positions.entry(credit.role).or_insert(0);
        store::link_artist(
            c,
            track_id,
            artist,
            credit.role,
            credit.sub_role.as_deref(),
            *pos,
        )?;
        *pos += 1;
    }
    for (i, g) in rec.genres.iter().enumerate() {
        let genre = ids.genre(c, g)?;
        store::link_genre(c, track_id, genre, i as i32)?;
    }
    if rec.warnings.is_empty() {
        if w.had_problem {
            store::clear_problem(c, row.path)?;
        }
    } else {
        let reason = rec.warnings.join("; ");
        tracing::info!(path = %row.path, %reason, "read with warnings");
        store::record_problem(c, row.path, "warning", &reason, Some(&w.facts))?;
        tally.warnings.push((row.path.to_string(), reason));
    }
    Ok(())
}
