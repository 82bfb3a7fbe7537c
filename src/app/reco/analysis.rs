//! The background sound analysis: every track's sound summary ([`super::sound`]), made once
//! and kept in `track_sounds` for the file as it was (size and mtime), so a changed file is
//! analysed again and a new version of the analysis redoes the old rows.
//!
//! It never gets in the way: one thread at the lowest CPU priority, paused while a scan runs,
//! a few tracks at a time. It resumes where it was after a restart or a crash, since what is
//! left is whatever the table does not have. A track that cannot be decoded is recorded with
//! the reason and not tried again until its file changes. The `sound_analysis` setting turns
//! it off.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use super::sound;
use crate::app::db::schema::track_sounds as ts;
use crate::app::db::Db;
use crate::app::library::Library;

/// Raised when the analysis changes, so that older results are made again.
pub const VERSION: i32 = 1;
/// Tracks picked at once.
const BATCH: i64 = 16;
/// How long to wait when nothing is left, or while a scan runs (less when a scan ends).
const IDLE: Duration = Duration::from_secs(30);

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    path: String,
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = BigInt)]
    mtime: i64,
}

/// Starts the analysis thread.
pub fn start(db: Arc<Db>, library: Arc<Library>) -> Result<()> {
    std::thread::Builder::new()
        .name("reco-analysis".into())
        .spawn(move || {
            lowest_priority();
            loop {
                match run_batch(&db, &library) {
                    Ok(0) => idle(&library),
                    Ok(_) => {}
                    Err(e) => {
                        // A full disk or a busy database: tried again later, nothing lost.
                        tracing::warn!("the sound analysis will try again: {e:#}");
                        std::thread::sleep(IDLE);
                    }
                }
            }
        })?;
    Ok(())
}

/// Waits for [`IDLE`], or less if a scan finishes meanwhile (it may bring new or changed files).
fn idle(library: &Library) {
    let seen = library.scans_done();
    let start = std::time::Instant::now();
    while start.elapsed() < IDLE && library.scans_done() == seen {
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// This thread at the lowest CPU priority (Linux gives threads their own nice value).
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

/// Analyses the next few tracks that need it; how many were done (none while a scan runs:
/// the caller then waits for it to end).
pub fn run_batch(db: &Db, library: &Library) -> Result<usize> {
    if library.is_scanning() {
        return Ok(0);
    }
    let todo = pending(db, BATCH)?;
    for (n, t) in todo.iter().enumerate() {
        if library.is_scanning() {
            return Ok(n);
        }
        let outcome = sound::analyse_file(Path::new(&t.path));
        store(db, t, outcome)?;
    }
    Ok(todo.len())
}

fn pending(db: &Db, limit: i64) -> Result<Vec<Pending>> {
    Ok(diesel::sql_query(
        "SELECT t.id, t.path, t.size, t.mtime FROM tracks t \
         LEFT JOIN track_sounds s ON s.track_id = t.id \
         WHERE t.missing_since IS NULL AND (s.track_id IS NULL OR s.version < ? \
            OR s.size != t.size OR s.mtime != t.mtime) \
         ORDER BY t.id LIMIT ?",
    )
    .bind::<Integer, _>(VERSION)
    .bind::<BigInt, _>(limit)
    .load(&mut *db.read()?)?)
}

fn store(db: &Db, t: &Pending, outcome: Result<sound::Features>) -> Result<()> {
    let (features, error) = match outcome {
        Ok(f) => (Some(serde_json::to_string(&f.to_vec())?), None),
        Err(e) => {
            tracing::info!(path = %t.path, "a track's sound cannot be analysed: {e:#}");
            (None, Some(format!("{e:#}")))
        }
    };
    diesel::replace_into(ts::table)
        .values((
            ts::track_id.eq(t.id),
            ts::version.eq(VERSION),
            ts::size.eq(t.size),
            ts::mtime.eq(t.mtime),
            ts::features.eq(features),
            ts::error.eq(error),
            ts::analysed_at.eq(crate::app::db::now()),
        ))
        .execute(&mut *db.write())?;
    Ok(())
}

/// A track's sound summary, if it was analysed (and could be).
pub fn features_of(db: &Db, track: i64) -> Result<Option<Vec<f32>>> {
    let stored: Option<Option<String>> = ts::table
        .find(track)
        .select(ts::features)
        .first(&mut *db.read()?)
        .optional()?;
    Ok(stored
        .flatten()
        .and_then(|json| serde_json::from_str(&json).ok()))
}
