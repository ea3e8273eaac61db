//! `strait serve`: the API (and later the tunnels) from a TOML configuration, flags overriding it.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use strait_api::{Api, Config};
use strait_store::Store;

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
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => Config::default(),
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
        Ok(config)
    }
}

/// Runs `strait serve`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.config()?;
    let data_dir = config.store.data_dir.clone();
    let store = Arc::new(
        Store::open(&data_dir)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    if let Some(admin) = crate::account::bootstrap_admin(&store, &data_dir)? {
        tracing::info!(account = %admin.account_id, "created the admin account; credentials in {}", data_dir.join("credentials.json").display());
    }
    let listen = config.api.listen;
    let api = Api::new(config, store);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            tracing::info!("API listening on http://{}", listener.local_addr()?);
            tokio::select! {
                served = api.serve(listener) => served.context("serving the API")?,
                _ = shutdown() => tracing::info!("shutting down"),
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
