//! What the gateway observes: tunnel status and negotiation log lines.

use crate::{Listing, Page, StoreError, Tx};
use rusqlite::{OptionalExtension, params};
use strait_model::TunnelStatus;

/// One negotiation log line of a tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The tunnel that logged it.
    pub tunnel_id: String,
    /// When, ms since the epoch.
    pub time_ms: i64,
    /// The text.
    pub line: String,
}

impl Tx<'_> {
    /// Records the latest observed status of a tunnel (replacing the previous one).
    pub fn set_tunnel_status(
        &self,
        account: &str,
        vpn_connection_id: &str,
        tunnel_id: &str,
        status: &TunnelStatus,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(status).map_err(|source| StoreError::Document {
            kind: "TunnelStatus",
            id: tunnel_id.to_string(),
            source,
        })?;
        self.sql().execute(
            "INSERT INTO tunnel_status (tunnel_id, account_id, vpn_connection_id, doc, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tunnel_id) DO UPDATE SET account_id = ?2, vpn_connection_id = ?3,
                 doc = ?4, updated_ms = ?5",
            params![tunnel_id, account, vpn_connection_id, doc, self.now_ms()],
        )?;
        Ok(())
    }

    /// The latest observed status of a tunnel of the account, with when it was recorded (ms).
    pub fn tunnel_status(
        &self,
        account: &str,
        tunnel_id: &str,
    ) -> Result<Option<(TunnelStatus, i64)>, StoreError> {
        let row: Option<(String, i64)> = self
            .sql()
            .query_row(
                "SELECT doc, updated_ms FROM tunnel_status WHERE account_id = ?1 AND tunnel_id = ?2",
                [account, tunnel_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(doc, at)| {
            serde_json::from_str(&doc)
                .map(|s| (s, at))
                .map_err(|source| StoreError::Document {
                    kind: "TunnelStatus",
                    id: tunnel_id.to_string(),
                    source,
                })
        })
        .transpose()
    }

    /// Forgets the observed status and logs of a connection's tunnels (when it is deleted).
    pub fn clear_observed(&self, account: &str, vpn_connection_id: &str) -> Result<(), StoreError> {
        for table in ["tunnel_status", "tunnel_logs"] {
            self.sql().execute(
                &format!("DELETE FROM {table} WHERE account_id = ?1 AND vpn_connection_id = ?2"),
                [account, vpn_connection_id],
            )?;
        }
        Ok(())
    }

    /// Appends a negotiation log line for a tunnel.
    pub fn append_log(
        &self,
        account: &str,
        vpn_connection_id: &str,
        tunnel_id: &str,
        time_ms: i64,
        line: &str,
    ) -> Result<(), StoreError> {
        self.sql().execute(
            "INSERT INTO tunnel_logs (account_id, vpn_connection_id, tunnel_id, time_ms, line)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![account, vpn_connection_id, tunnel_id, time_ms, line],
        )?;
        Ok(())
    }

    /// Drops log lines older than `before_ms` (in every account); returns how many went.
    pub fn prune_logs(&self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self
            .sql()
            .execute("DELETE FROM tunnel_logs WHERE time_ms < ?1", [before_ms])?)
    }

    /// A connection's log lines with `from_ms <= time < to_ms` (of one tunnel, when given), oldest first.
    pub fn logs(
        &self,
        account: &str,
        vpn_connection_id: &str,
        tunnel_id: Option<&str>,
        (from_ms, to_ms): (i64, i64),
        page: Page,
    ) -> Result<Listing<LogLine>, StoreError> {
        const FILTER: &str = "account_id = ?1 AND vpn_connection_id = ?2
            AND (?3 IS NULL OR tunnel_id = ?3) AND time_ms >= ?4 AND time_ms < ?5";
        let total: u64 = self.sql().query_row(
            &format!("SELECT COUNT(*) FROM tunnel_logs WHERE {FILTER}"),
            params![account, vpn_connection_id, tunnel_id, from_ms, to_ms],
            |r| r.get(0),
        )?;
        let mut stmt = self.sql().prepare(&format!(
            "SELECT tunnel_id, time_ms, line FROM tunnel_logs WHERE {FILTER}
             ORDER BY time_ms, seq LIMIT ?6 OFFSET ?7"
        ))?;
        let rows = stmt.query_map(
            params![
                account,
                vpn_connection_id,
                tunnel_id,
                from_ms,
                to_ms,
                i64::from(page.limit),
                i64::try_from(page.offset).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(LogLine {
                    tunnel_id: r.get(0)?,
                    time_ms: r.get(1)?,
                    line: r.get(2)?,
                })
            },
        )?;
        Ok(Listing {
            items: rows.collect::<Result<_, _>>()?,
            total,
        })
    }
}
