//! `strait serve`: the API and the tunnels from a TOML configuration, flags overriding it.

mod gateway;
pub mod logs;

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use strait_api::{Api, Config};
use strait_store::Store;
use tokio::sync::{mpsc, oneshot};

/// Options of `strait serve`.
#[derive(clap::Args)]
pub struct Args {
    /// TOML configuration file (see examples/strait.toml); defaults apply without one.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address of the API, overriding `[api] listen`.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory, overriding `[store] data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Region label, overriding `region`.
    #[arg(long)]
    region: Option<String>,
}

impl Args {
    /// The API's configuration and the `[gateway]` section.
    fn config(&self) -> anyhow::Result<(Config, gateway::Section)> {
        let (mut config, section) = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                parse(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => (Config::default(), gateway::Section::default()),
        };
        if let Some(listen) = self.listen {
            config.api.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.store.data_dir = dir.clone();
        }
        if let Some(region) = &self.region {
            config.region = region.clone();
        }
        Ok((config, section))
    }
}

/// Splits the file into the API's configuration and the `[gateway]` section.
fn parse(text: &str) -> anyhow::Result<(Config, gateway::Section)> {
    let mut table: toml::Table = toml::from_str(text)?;
    let section = match table.remove("gateway") {
        Some(v) => v.try_into().context("in [gateway]")?,
        None => gateway::Section::default(),
    };
    Ok((Config::from_toml(&toml::to_string(&table)?)?, section))
}

/// Runs `strait serve`; `lines` are the tunnels' log lines for the store.
pub fn run(args: Args, lines: mpsc::Receiver<logs::TunnelLine>) -> anyhow::Result<()> {
    let (config, section) = args.config()?;
    let data_dir = config.store.data_dir.clone();
    let store = Arc::new(
        Store::open(&data_dir)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    if let Some(admin) = crate::account::bootstrap_admin(&store, &data_dir)? {
        tracing::info!(account = %admin.account_id, "created the admin account; credentials in {}", data_dir.join("credentials.json").display());
    }
    let listen = config.api.listen;
    let addrs =
        gateway::usable_addresses(config.zones.iter().flat_map(|z| z.gateway_ips.clone()));
    let api = Api::new(config, store.clone());
    let changes = api.subscribe();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            tracing::info!("API listening on http://{}", listener.local_addr()?);
            let (stop_gateway, stopped) = oneshot::channel();
            let mut tunnels = if addrs.is_empty() {
                tracing::warn!("no zone gateway IP is an address of this host: serving the API only, no tunnels");
                None
            } else {
                Some(tokio::spawn(gateway::run(store, section, addrs, changes, lines, stopped)))
            };
            tokio::select! {
                served = api.serve(listener) => served.context("serving the API")?,
                _ = shutdown() => tracing::info!("shutting down"),
                ended = async {
                    match tunnels.as_mut() {
                        Some(task) => task.await,
                        None => std::future::pending().await,
                    }
                } => {
                    tunnels = None;
                    ended.context("the gateway task")?.context("running the tunnels")?;
                }
            }
            if let Some(task) = tunnels {
                let _ = stop_gateway.send(());
                task.await.context("the gateway task")??;
            }
            Ok(())
        })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
