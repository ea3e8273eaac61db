//! One request's transaction and the resource operations it offers.

use crate::{Document, StoreError};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction, params, params_from_iter};

/// One request's transaction (see [`crate::Store::write`] and [`crate::Store::read`]).
pub struct Tx<'c> {
    tx: &'c Transaction<'c>,
    now_ms: i64,
}

/// A window of a listing: skip `offset` rows, return at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u32,
}

impl Page {
    /// The API's 1-based `PageNumber` of `PageSize` rows.
    pub fn number(page_number: u32, page_size: u32) -> Page {
        Page {
            offset: u64::from(page_number.saturating_sub(1)) * u64::from(page_size),
            limit: page_size,
        }
    }
}

/// Which documents of one kind a listing returns; every set condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// Only documents that refer to every one of these ids (see [`Document::refs`]).
    pub refs: Vec<String>,
    /// Only documents whose top-level JSON field (e.g. `VpcId`) equals the string value.
    pub fields: Vec<(&'static str, String)>,
    /// Only documents carrying a tag with this key (and this value, when given).
    pub tags: Vec<(String, Option<String>)>,
    /// The window to return; all rows when `None`.
    pub page: Option<Page>,
}

/// One page of documents, in creation order, with the number of matches over all pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<D> {
    /// The documents of this page.
    pub items: Vec<D>,
    /// Matching documents in total.
    pub total: u64,
}

impl<'c> Tx<'c> {
    pub(crate) fn new(tx: &'c Transaction<'c>, now_ms: i64) -> Tx<'c> {
        Tx { tx, now_ms }
    }

    pub(crate) fn sql(&self) -> &Transaction<'c> {
        self.tx
    }

    /// The time this transaction started, ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Adds a new document; fails with [`StoreError::AlreadyExists`] if the id is taken.
    pub fn insert<D: Document>(&self, account: &str, doc: &D) -> Result<(), StoreError> {
        let id = doc.id();
        let json = encode(doc, &id)?;
        let inserted = self.tx.execute(
            "INSERT INTO resources (account_id, kind, id, doc, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING",
            params![account, D::KIND, id, json, self.now_ms],
        )?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists { kind: D::KIND, id });
        }
        self.set_refs::<D>(account, &id, &doc.refs())?;
        self.bump_revision()
    }

    /// Replaces an existing document; fails with [`StoreError::NotFound`] if there is none.
    pub fn update<D: Document>(&self, account: &str, doc: &D) -> Result<(), StoreError> {
        let id = doc.id();
        let json = encode(doc, &id)?;
        let updated = self.tx.execute(
            "UPDATE resources SET doc = ?4, updated_ms = ?5
             WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
            params![account, D::KIND, id, json, self.now_ms],
        )?;
        if updated == 0 {
            return Err(StoreError::NotFound { kind: D::KIND, id });
        }
        self.set_refs::<D>(account, &id, &doc.refs())?;
        self.bump_revision()
    }

    /// Removes a document; fails with [`StoreError::NotFound`] if there is none.
    pub fn delete<D: Document>(&self, account: &str, id: &str) -> Result<(), StoreError> {
        let deleted = self.tx.execute(
            "DELETE FROM resources WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
            params![account, D::KIND, id],
        )?;
        if deleted == 0 {
            return Err(StoreError::NotFound {
                kind: D::KIND,
                id: id.to_string(),
            });
        }
        self.set_refs::<D>(account, id, &[])?;
        self.bump_revision()
    }

    /// The document with this id in the account.
    pub fn get<D: Document>(&self, account: &str, id: &str) -> Result<Option<D>, StoreError> {
        let json: Option<String> = self
            .tx
            .query_row(
                "SELECT doc FROM resources WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
                params![account, D::KIND, id],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| decode(&j, id)).transpose()
    }

    /// The account's documents of one kind matching `query`, oldest first.
    pub fn list<D: Document>(
        &self,
        account: &str,
        query: &Query,
    ) -> Result<Listing<D>, StoreError> {
        let mut filter = String::from("account_id = ? AND kind = ?");
        let mut args = vec![
            Value::from(account.to_string()),
            Value::from(D::KIND.to_string()),
        ];
        if let Some(ids) = &query.ids {
            filter.push_str(" AND id IN (SELECT value FROM json_each(?))");
            args.push(Value::from(json_array(ids)));
        }
        for r in &query.refs {
            filter.push_str(
                " AND EXISTS (SELECT 1 FROM resource_refs f WHERE f.account_id = resources.account_id
                  AND f.kind = resources.kind AND f.id = resources.id AND f.ref_id = ?)",
            );
            args.push(Value::from(r.clone()));
        }
        for (field, value) in &query.fields {
            filter.push_str(" AND json_extract(doc, ?) = ?");
            args.push(Value::from(format!("$.{field}")));
            args.push(Value::from(value.clone()));
        }
        for (key, value) in &query.tags {
            filter.push_str(
                " AND EXISTS (SELECT 1 FROM json_each(doc, '$.Tags') t
                  WHERE json_extract(t.value, '$.Key') = ?",
            );
            args.push(Value::from(key.clone()));
            if let Some(v) = value {
                filter.push_str(" AND json_extract(t.value, '$.Value') = ?");
                args.push(Value::from(v.clone()));
            }
            filter.push(')');
        }
        let total: u64 = self.tx.query_row(
            &format!("SELECT COUNT(*) FROM resources WHERE {filter}"),
            params_from_iter(&args),
            |r| r.get(0),
        )?;
        let mut sql = format!("SELECT id, doc FROM resources WHERE {filter} ORDER BY seq");
        if let Some(page) = query.page {
            sql.push_str(" LIMIT ? OFFSET ?");
            args.push(Value::from(i64::from(page.limit)));
            args.push(Value::from(i64::try_from(page.offset).unwrap_or(i64::MAX)));
        }
        let mut stmt = self.tx.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(&args), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut items = Vec::new();
        for row in rows {
            let (id, json) = row?;
            items.push(decode(&json, &id)?);
        }
        Ok(Listing { items, total })
    }

    /// Every document of one kind in every account, oldest first, with its account id.
    pub fn list_all<D: Document>(&self) -> Result<Vec<(String, D)>, StoreError> {
        let mut stmt = self
            .tx
            .prepare("SELECT account_id, id, doc FROM resources WHERE kind = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([D::KIND], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (account, id, json) = row?;
            out.push((account, decode(&json, &id)?));
        }
        Ok(out)
    }

    /// The (kind, id) of every document in the account that refers to `ref_id`, oldest first.
    pub fn referrers(
        &self,
        account: &str,
        ref_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.tx.prepare(
            "SELECT f.kind, f.id FROM resource_refs f JOIN resources r
               ON r.account_id = f.account_id AND r.kind = f.kind AND r.id = f.id
             WHERE f.account_id = ?1 AND f.ref_id = ?2 ORDER BY r.seq",
        )?;
        let rows = stmt.query_map([account, ref_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A counter that grows with every committed resource change, for pollers of desired state.
    pub fn revision(&self) -> Result<u64, StoreError> {
        Ok(self
            .tx
            .query_row("SELECT value FROM revision WHERE only = 1", [], |r| {
                r.get(0)
            })?)
    }

    /// The response recorded for this ClientToken, if the request was already served.
    pub fn idempotent_response(
        &self,
        account: &str,
        action: &str,
        token: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .query_row(
                "SELECT response FROM client_tokens WHERE account_id = ?1 AND action = ?2 AND token = ?3",
                [account, action, token],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records the response to a request carrying a ClientToken (first response wins).
    pub fn record_idempotent_response(
        &self,
        account: &str,
        action: &str,
        token: &str,
        response: &str,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO client_tokens (account_id, action, token, response, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![account, action, token, response, self.now_ms],
        )?;
        Ok(())
    }

    fn set_refs<D: Document>(
        &self,
        account: &str,
        id: &str,
        refs: &[String],
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "DELETE FROM resource_refs WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
            params![account, D::KIND, id],
        )?;
        for r in refs {
            self.tx.execute(
                "INSERT INTO resource_refs (account_id, kind, id, ref_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![account, D::KIND, id, r],
            )?;
        }
        Ok(())
    }

    fn bump_revision(&self) -> Result<(), StoreError> {
        self.tx
            .execute("UPDATE revision SET value = value + 1 WHERE only = 1", [])?;
        Ok(())
    }
}

fn encode<D: Document>(doc: &D, id: &str) -> Result<String, StoreError> {
    serde_json::to_string(doc).map_err(|source| StoreError::Document {
        kind: D::KIND,
        id: id.to_string(),
        source,
    })
}

fn decode<D: Document>(json: &str, id: &str) -> Result<D, StoreError> {
    serde_json::from_str(json).map_err(|source| StoreError::Document {
        kind: D::KIND,
        id: id.to_string(),
        source,
    })
}

fn json_array(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}
