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
    let addrs = gateway::usable_addresses(config.zones.iter().flat_map(|z| z.addresses()));
    let vpcs = config
        .vpcs
        .iter()
        .map(|v| {
            let cidrs = v.cidrs.iter().filter_map(|c| c.parse().ok()).collect();
            (v.id.clone(), cidrs)
        })
        .collect();
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
                Some(tokio::spawn(gateway::run(store, section, vpcs, addrs, changes, lines, stopped)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    #[test]
    fn the_gateway_section_is_read_beside_the_api_configuration() {
        let (config, section) = parse(
            "region = \"r\"\n[gateway]\ntun = \"vpn9\"\n[gateway.timing]\ndpd_timeout_secs = 8\n\
             reconnect_min_ms = 500\n[[zones]]\nid = \"z\"\ngateway_ips = [\"203.0.113.7\"]\n",
        )
        .unwrap();
        assert_eq!(config.region, "r");
        assert_eq!(
            config.zones[0].gateway_ips,
            vec![Ipv4Addr::new(203, 0, 113, 7)]
        );
        assert_eq!(section.tun, "vpn9");
        let timing = section.timing.apply(strait_gateway::Timing::default());
        assert_eq!(timing.dpd_timeout, Duration::from_secs(8));
        assert_eq!(timing.reconnect_min, Duration::from_millis(500));
    }

    #[test]
    fn without_a_gateway_section_the_defaults_apply_and_mistakes_are_named() {
        let (_, section) = parse("region = \"r\"\n").unwrap();
        assert_eq!(section, gateway::Section::default());
        assert_eq!(section.tun, "strait0");
        let err = format!(
            "{:#}",
            parse("[gateway]\ntun = \"x\"\nbogus = 1\n").unwrap_err()
        );
        assert!(err.contains("bogus"), "{err}");
        let err = format!(
            "{:#}",
            parse("[gateway.timing]\ndpd_timeout = 3\n").unwrap_err()
        );
        assert!(err.contains("dpd_timeout"), "{err}");
        let err = format!("{:#}", parse("[api]\nlisten = \"nowhere\"\n").unwrap_err());
        assert!(err.contains("listen") || err.contains("invalid"), "{err}");
    }

    #[test]
    fn the_example_file_parses() {
        let (config, section) = parse(include_str!("../../../../examples/strait.toml")).unwrap();
        assert_eq!(config.zones.len(), 2);
        assert_eq!(section, gateway::Section::default());
    }

    #[test]
    fn only_addresses_of_this_host_carry_tunnels() {
        let usable = gateway::usable_addresses([
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::new(192, 0, 2, 254),
            Ipv4Addr::LOCALHOST,
        ]);
        assert_eq!(usable, vec![Ipv4Addr::LOCALHOST]);
    }
}
