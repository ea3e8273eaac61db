//! `strait peer-config`: a connection's peer configuration, read from the store without the API.

use anyhow::{Context, bail};
use std::path::PathBuf;
use strait_model::{CustomerGateway, VpnConnection};
use strait_peer_config::DeviceType;
use strait_store::{Query, Store};

/// Arguments of `strait peer-config`.
#[derive(clap::Args)]
pub struct Args {
    /// The connection's id (`vco-...`).
    vpn_connection_id: String,
    /// Print this device's configuration instead of the standard JSON (strongswan, libreswan,
    /// cisco-asa, cisco-ios, juniper-srx, fortigate, paloalto, huawei).
    #[arg(long)]
    device: Option<DeviceType>,
    /// Data directory of the store.
    #[arg(long, default_value = "./strait-data")]
    data_dir: PathBuf,
    /// The account owning the connection; the admin account of DATA_DIR/credentials.json by default.
    #[arg(long)]
    account: Option<String>,
}

/// The admin account's id, from `DATA_DIR/credentials.json`.
fn admin_account(args: &Args) -> anyhow::Result<String> {
    let path = args.data_dir.join("credentials.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let creds: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    match creds["AccountId"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => bail!("{} has no AccountId", path.display()),
    }
}

/// Runs `strait peer-config`: prints the DownloadVpnConnectionConfig `VpnConnectionConfig` as
/// JSON, or with `--device` that device's configuration.
pub fn run(args: Args) -> anyhow::Result<()> {
    let account = match &args.account {
        Some(id) => id.clone(),
        None => admin_account(&args)?,
    };
    // Store::open would create a missing store; a read-only command must not.
    if !args.data_dir.is_dir() {
        bail!("no store in {}", args.data_dir.display());
    }
    let store = Store::open(&args.data_dir)
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let (conn, customer_gateways) = store.read(|tx| {
        let Some(conn) = tx.get::<VpnConnection>(&account, &args.vpn_connection_id)? else {
            bail!(
                "connection {} not found in account {account}",
                args.vpn_connection_id
            );
        };
        let query = Query {
            ids: Some(
                conn.customer_gateway_ids()
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ),
            ..Query::default()
        };
        let customer_gateways = tx.list::<CustomerGateway>(&account, &query)?.items;
        Ok((conn, customer_gateways))
    })?;
    match args.device {
        Some(device) => print!(
            "{}",
            strait_peer_config::render_device(device, &conn, &customer_gateways)?
        ),
        None => println!(
            "{}",
            serde_json::to_string_pretty(&strait_peer_config::render_standard(
                &conn,
                &customer_gateways
            )?)?
        ),
    }
    Ok(())
}
