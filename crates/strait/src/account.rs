//! `strait account`: tenants and their AccessKey credentials.

use anyhow::Context;
use std::path::{Path, PathBuf};
use strait_store::{Account, Store};

/// Subcommands of `strait account`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a tenant and print its credentials as JSON.
    Create {
        /// The tenant's name.
        name: String,
        /// Data directory of the store.
        #[arg(long, default_value = "./strait-data")]
        data_dir: PathBuf,
    },
}

/// Runs `strait account`.
pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Create { name, data_dir } => {
            let store = Store::open(&data_dir)
                .with_context(|| format!("opening the store in {}", data_dir.display()))?;
            let account = store.write(|tx| tx.create_account(&name))?;
            println!("{}", credentials_json(&account));
            Ok(())
        }
    }
}

/// An account's credentials as `{"AccountId", "AccessKeyId", "AccessKeySecret"}`.
pub fn credentials_json(account: &Account) -> String {
    serde_json::json!({
        "AccountId": account.account_id,
        "AccessKeyId": account.access_key_id,
        "AccessKeySecret": account.access_key_secret,
    })
    .to_string()
}

/// On a store without accounts, creates the admin account and writes its credentials to
/// `DATA_DIR/credentials.json`, readable by the owner only.
pub fn bootstrap_admin(store: &Store, data_dir: &Path) -> anyhow::Result<Option<Account>> {
    let created = store.write(|tx| {
        if tx.account_count()? > 0 {
            return Ok::<_, strait_store::StoreError>(None);
        }
        tx.create_account("admin").map(Some)
    })?;
    if let Some(account) = &created {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join("credentials.json");
        let tmp = data_dir.join(".credentials.json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(credentials_json(account).as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_start_writes_admin_credentials_once_and_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let admin = bootstrap_admin(&store, dir.path())
            .unwrap()
            .expect("an empty store gets an admin");
        let path = dir.path().join("credentials.json");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let creds: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(creds["AccountId"], admin.account_id.as_str());
        assert_eq!(creds["AccessKeyId"], admin.access_key_id.as_str());
        assert_eq!(creds["AccessKeySecret"], admin.access_key_secret.as_str());
        let found = store
            .read(|tx| tx.account_by_access_key(&admin.access_key_id))
            .unwrap();
        assert_eq!(found.map(|a| a.account_id), Some(admin.account_id.clone()));

        // A restart (or a store that already has tenants) creates nobody and keeps the file.
        assert!(bootstrap_admin(&store, dir.path()).unwrap().is_none());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            credentials_json(&admin)
        );
    }
}
