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
