//! Tenants and their AccessKey credentials.

use crate::{StoreError, Tx};
use rand::Rng;
use rand::distr::Alphanumeric;
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

/// A tenant with its AccessKey pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    /// 16-digit account id (the cloud's UID).
    pub account_id: String,
    /// Operator-chosen name.
    pub name: String,
    /// `LTAI` followed by 20 alphanumerics.
    pub access_key_id: String,
    /// 30 alphanumerics.
    pub access_key_secret: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

impl Account {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
        Ok(Account {
            account_id: r.get(0)?,
            name: r.get(1)?,
            access_key_id: r.get(2)?,
            access_key_secret: r.get(3)?,
            created_ms: r.get(4)?,
        })
    }
}

const ACCOUNT_COLUMNS: &str = "account_id, name, access_key_id, access_key_secret, created_ms";

fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .map(char::from)
        .take(len)
        .collect()
}

fn random_account_id() -> String {
    let mut rng = rand::rng();
    let first = char::from(b'0' + rng.random_range(1..=9u8));
    std::iter::once(first)
        .chain((0..15).map(|_| char::from(b'0' + rng.random_range(0..=9u8))))
        .collect()
}

impl Tx<'_> {
    /// Creates an account with fresh credentials.
    pub fn create_account(&self, name: &str) -> Result<Account, StoreError> {
        let account = Account {
            account_id: random_account_id(),
            name: name.to_string(),
            access_key_id: format!("LTAI{}", random_alphanumeric(20)),
            access_key_secret: random_alphanumeric(30),
            created_ms: self.now_ms(),
        };
        self.sql().execute(
            &format!("INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
            params![
                account.account_id,
                account.name,
                account.access_key_id,
                account.access_key_secret,
                account.created_ms
            ],
        )?;
        Ok(account)
    }

    /// The account owning this AccessKey id.
    pub fn account_by_access_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self
            .sql()
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE access_key_id = ?1"),
                [access_key_id],
                Account::from_row,
            )
            .optional()?)
    }

    /// The account with this id.
    pub fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(self
            .sql()
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE account_id = ?1"),
                [account_id],
                Account::from_row,
            )
            .optional()?)
    }

    /// How many accounts exist.
    pub fn account_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .sql()
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?)
    }
}
