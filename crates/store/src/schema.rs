//! Versioned schema migrations, applied in order and recorded in the `migrations` table.

use rusqlite::{Connection, params};

/// Every migration, oldest first; its version is its position plus one. Append only.
const MIGRATIONS: &[(&str, &str)] = &[(
    "initial schema: accounts, resources, references, client tokens, tunnel status and logs",
    r#"
    CREATE TABLE accounts (
        account_id        TEXT PRIMARY KEY,
        name              TEXT NOT NULL,
        access_key_id     TEXT NOT NULL UNIQUE,
        access_key_secret TEXT NOT NULL,
        created_ms        INTEGER NOT NULL
    );
    CREATE TABLE resources (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        kind       TEXT NOT NULL,
        id         TEXT NOT NULL,
        doc        TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        UNIQUE (account_id, kind, id)
    );
    CREATE TABLE resource_refs (
        account_id TEXT NOT NULL,
        kind       TEXT NOT NULL,
        id         TEXT NOT NULL,
        ref_id     TEXT NOT NULL,
        PRIMARY KEY (account_id, kind, id, ref_id)
    );
    CREATE INDEX resource_refs_by_ref ON resource_refs (account_id, ref_id);
    CREATE TABLE client_tokens (
        account_id TEXT NOT NULL,
        action     TEXT NOT NULL,
        token      TEXT NOT NULL,
        response   TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (account_id, action, token)
    );
    CREATE TABLE tunnel_status (
        tunnel_id         TEXT PRIMARY KEY,
        account_id        TEXT NOT NULL,
        vpn_connection_id TEXT NOT NULL,
        doc               TEXT NOT NULL,
        updated_ms        INTEGER NOT NULL
    );
    CREATE TABLE tunnel_logs (
        seq               INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id        TEXT NOT NULL,
        vpn_connection_id TEXT NOT NULL,
        tunnel_id         TEXT NOT NULL,
        time_ms           INTEGER NOT NULL,
        line              TEXT NOT NULL
    );
    CREATE INDEX tunnel_logs_by_connection ON tunnel_logs (account_id, vpn_connection_id, time_ms);
    CREATE TABLE revision (
        only  INTEGER PRIMARY KEY CHECK (only = 1),
        value INTEGER NOT NULL
    );
    INSERT INTO revision (only, value) VALUES (1, 0);
    "#,
)];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`SCHEMA_VERSION`], one transaction per migration.
pub(crate) fn migrate(conn: &mut Connection, now_ms: i64) -> Result<u32, crate::StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_ms INTEGER NOT NULL
         )",
    )?;
    let current = version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(crate::StoreError::SchemaTooNew {
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    for (version, (name, sql)) in (1..).zip(MIGRATIONS).skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO migrations (version, name, applied_ms) VALUES (?1, ?2, ?3)",
            params![version, name, now_ms],
        )?;
        tx.commit()?;
    }
    Ok(SCHEMA_VERSION)
}

/// The highest migration recorded in the database.
pub(crate) fn version(conn: &Connection) -> Result<u32, rusqlite::Error> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM migrations",
        [],
        |r| r.get(0),
    )
}
