//! Persistent store of desired state and observed status: one SQLite file, WAL, versioned migrations.
//!
//! Every request runs in one transaction ([`Store::write`] / [`Store::read`]): it commits whole or
//! leaves nothing. With `synchronous=FULL`, a committed write survives a crash of the process or host.

mod account;
mod document;
mod observed;
mod schema;
mod tx;

pub use account::Account;
pub use document::Document;
pub use observed::LogLine;
pub use schema::SCHEMA_VERSION;
pub use tx::{Listing, Page, Query, Tx};

use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "strait.db";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created or the database file not secured.
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        /// The directory or file concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer build.
    #[error("database schema version {found} is newer than this build's {known}")]
    SchemaTooNew {
        /// Version found in the file.
        found: u32,
        /// Version this build knows.
        known: u32,
    },
    /// A document could not be encoded to or decoded from JSON.
    #[error("{kind} {id}: bad stored document: {source}")]
    Document {
        /// Resource kind.
        kind: &'static str,
        /// Resource id.
        id: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A resource with this id already exists in the account.
    #[error("{kind} {id} already exists")]
    AlreadyExists {
        /// Resource kind.
        kind: &'static str,
        /// Resource id.
        id: String,
    },
    /// No resource with this id exists in the account.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Resource kind.
        kind: &'static str,
        /// Resource id.
        id: String,
    },
}

/// The embedded SQLite store. Cheap to share behind an `Arc`; writes are serialized, and reads
/// use their own connection so they never wait for a write's fsync.
pub struct Store {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) `data_dir/strait.db` and applies pending migrations.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = data_dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let mut writer = connect(&path)?;
        secure_file(&path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        schema::migrate(&mut writer, now_ms())?;
        let reader = connect(&path)?;
        reader.pragma_update(None, "query_only", "ON")?;
        Ok(Store {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// The schema version recorded in the database's `migrations` table.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(schema::version(&lock(&self.reader))?)
    }

    /// Runs `f` in one write transaction: commits when it returns `Ok`, rolls everything back on `Err`.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let out = f(&Tx::new(&tx, now_ms()))?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs `f` against one consistent snapshot of everything committed; writing fails.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = lock(&self.reader);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(StoreError::from)?;
        f(&Tx::new(&tx, now_ms()))
    }
}

/// A connection to the database file with the settings every connection needs.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic inside a request dropped its transaction (rolled back), so the connection is sound.
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps the database (it holds secrets) readable by its owner only.
fn secure_file(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| StoreError::DataDir {
                path: path.to_path_buf(),
                source,
            },
        )?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
