//! The database: one SQLite file in the data dir, opened through diesel.
//!
//! Many readers share an r2d2 pool; all writes go through the single writer connection, so scans,
//! the watcher and API writes queue up instead of fighting over SQLite's one write lock. Every
//! connection runs in WAL mode (readers never block the writer) with foreign keys on and a busy
//! timeout. Migrations are embedded in the binary and applied when the database opens.

pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The file name of the database inside the data dir.
pub const DB_FILE: &str = "houseband.db";

const READERS: u32 = 8;
const BUSY_TIMEOUT_MS: u32 = 15_000;

pub type ReadConn = PooledConnection<ConnectionManager<SqliteConnection>>;

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&connection_pragmas())
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

// Readers do not map the file (`mmap_size`): measured with the other speed-ups in place it
// gained nothing here, and each of the eight connections would map it separately, so a 100 MB
// database could show as hundreds of MB of resident memory.

/// SQLite's process-wide settings, before its first connection: each connection is used by one
/// thread at a time (the pool and the writer lock see to it), so SQLite's per-call connection
/// mutex is not needed ("multi-thread" mode), nor its global lock around memory statistics.
fn configure_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        // Both fail harmlessly (SQLITE_MISUSE) if SQLite was already initialised in this process.
        libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD);
        libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0);
    });
}

fn connection_pragmas() -> String {
    format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; \
         PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;"
    )
}

pub struct Db {
    path: PathBuf,
    readers: Pool<ConnectionManager<SqliteConnection>>,
    writer: Mutex<SqliteConnection>,
}

impl Db {
    /// Opens (creating if needed) the database in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Db> {
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}: check the path and its permissions",
                data_dir.display()
            )
        })?;
        let path = data_dir.join(DB_FILE);
        Self::open_file(&path)
    }

    pub fn open_file(path: &Path) -> Result<Db> {
        configure_sqlite();
        let url = path
            .to_str()
            .with_context(|| format!("the database path {} is not valid UTF-8", path.display()))?;
        let mut writer = SqliteConnection::establish(url)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        writer
            .batch_execute(&format!(
                "PRAGMA journal_mode = WAL; {} PRAGMA cache_size = -16000;",
                connection_pragmas()
            ))
            .with_context(|| format!("cannot configure the database {}", path.display()))?;
        writer
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("cannot migrate the database {}: {e}", path.display()))?;
        let readers = Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(Pragmas))
            .build(ConnectionManager::<SqliteConnection>::new(url))
            .with_context(|| format!("cannot open readers on {}", path.display()))?;
        Ok(Db {
            path: path.to_path_buf(),
            readers,
            writer: Mutex::new(writer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection for reading. Blocking: call it off the async executor.
    pub fn read(&self) -> Result<ReadConn> {
        self.readers
            .get()
            .context("no database connection became free in time")
    }

    /// The one writer connection. Blocking: call it off the async executor.
    pub fn write(&self) -> MutexGuard<'_, SqliteConnection> {
        // A panic while holding the writer leaves no half-done work behind: every write runs in a
        // transaction that SQLite rolled back, so the connection is safe to reuse.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Seconds since the Unix epoch, the time unit of every timestamp column.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// RETURNING: an `INSERT ... RETURNING` run on its own (autocommit) commits when the
// statement is reset, after its first row was read, and diesel does not report an error there:
// on a full disk (or any failed commit) the caller gets the id of a row that was never stored,
// and would acknowledge it. Every such insert runs inside `transaction`, whose COMMIT is a
// statement of its own whose failure is reported. (Found by the full-disk test in
// tests/crash.rs: `createUser` said "no user named" right after the insert "succeeded".)

/// What a user is told when a change failed because the disk is full.
pub const DISK_FULL: &str = "the server's disk is full, so this change was not saved; free some space on the disk holding the server's data folder and try again (nothing already stored was lost)";

/// Whether an error comes from a full disk: SQLite's "database or disk is full" (SQLITE_FULL),
/// or ENOSPC from a file write.
pub fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(libc::ENOSPC))
            || {
                let text = e.to_string();
                text.contains("database or disk is full")
                    || text.contains("No space left on device")
            }
    })
}

/// Turns a database error into one that tells the user what to do, recognising a full disk.
pub fn explain(err: diesel::result::Error, what: &str) -> anyhow::Error {
    let text = err.to_string();
    if text.contains("full") {
        anyhow::anyhow!(
            "{what}: the disk holding the database is full ({text}); free some space and run the scan again - nothing was lost"
        )
    } else {
        anyhow::anyhow!("{what}: {text}")
    }
}
