//! `strait tunnel --config FILE [--status FILE] [--tun NAME]`: runs tunnels from a TOML file,
//! without the API.
//!
//! The file holds one `[[tunnel]]` table per tunnel, with the API's field names (see
//! examples/tunnel.toml):
//!
//! ```toml
//! [[tunnel]]
//! Id = "tun-1"                         # tunnel id, on every log line and in the status
//! LocalIp = "198.51.100.1"             # our gateway IP (IKE on UDP 500/4500, ESP)
//! PeerIp = "192.0.2.1"                 # the customer gateway's IP
//! LocalSubnet = "10.1.0.0/24,10.2.0.0/24"        # 0.0.0.0/0 = destination routing
//! RemoteSubnet = "192.168.10.0/24,192.168.20.0/24"
//! Routes = "192.168.0.0/16"            # optional: destinations routed into the tunnel
//!                                      # (default: RemoteSubnet unless it is 0.0.0.0/0)
//! EnableDpd = true                     # default false (single-tunnel default)
//! EnableNatTraversal = true            # default false
//! EffectImmediately = true             # default false: negotiate on the first packet
//!
//! [tunnel.IkeConfig]                   # all fields required
//! Psk = "fddsFF123"
//! IkeVersion = "ikev2"                 # ikev1 or ikev2 (ikev1: one LocalSubnet/RemoteSubnet CIDR)
//! IkeMode = "main"                     # ikev1: main or aggressive
//! IkeEncAlg = "aes"                    # aes aes192 aes256 des 3des aes128gcm16 aes256gcm16
//! IkeAuthAlg = "sha1"                  # md5 sha1 sha256 sha384 sha512
//! IkePfs = "group2"                    # group1 group2 group5 group14 group19 group31
//! IkeLifetime = 86400                  # seconds, 0 = never expires
//! LocalId = "198.51.100.1"             # IPv4 address or FQDN
//! RemoteId = "192.0.2.1"
//!
//! [tunnel.IpsecConfig]                 # optional; these are the defaults
//! IpsecEncAlg = "aes"
//! IpsecAuthAlg = "sha1"
//! IpsecPfs = "group2"                  # or "disabled"
//! IpsecLifetime = 86400
//!
//! [tunnel.Test]                        # optional timer overrides, for tests
//! DpdIntervalSecs = 2                  # liveness check after this much silence (default 10)
//! DpdTimeoutSecs = 10                  # dead after this long without an answer (default 30 ikev1, 130 ikev2)
//! RetransmitBaseMs = 500               # first IKE retransmission timeout (default 4000)
//! RetransmitTries = 3                  # retransmissions before giving up (default 5)
//! ReconnectMinMs = 1000                # first delay before negotiating again (default 2000)
//! ReconnectMaxMs = 5000                # longest such delay (default 60000)
//! RekeyJitterMs = 0                    # random time taken off each rekey (default: a third
//!                                      # of the rekey margin, which is lifetime/10, ≤ 540 s)
//! ```
//!
//! With `--status FILE`, the tunnels' state is written to FILE as JSON (`{"tunnels": [...]}`,
//! replaced atomically) whenever it changes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use strait_gateway::{
    Gateway, Snapshot, Timing, TimingOverrides, TunnelSpec, is_any, parse_subnets,
};
use strait_model::{IkeConfig, IpsecConfig};

/// Options of `strait tunnel`.
#[derive(clap::Args)]
pub struct Args {
    /// The tunnel file (TOML; format in examples/tunnel.toml).
    #[arg(long)]
    config: PathBuf,
    /// Write the tunnels' status as JSON to this file whenever it changes.
    #[arg(long)]
    status: Option<PathBuf>,
    /// Name of the TUN device that carries the tunnels' inner traffic.
    #[arg(long, default_value = "strait0")]
    tun: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tunnel: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Entry {
    id: String,
    local_ip: Ipv4Addr,
    peer_ip: Ipv4Addr,
    local_subnet: String,
    remote_subnet: String,
    routes: Option<String>,
    #[serde(default)]
    enable_dpd: bool,
    #[serde(default)]
    enable_nat_traversal: bool,
    #[serde(default)]
    effect_immediately: bool,
    ike_config: IkeConfig,
    #[serde(default)]
    ipsec_config: IpsecConfig,
    #[serde(default)]
    test: TimingOverrides,
}

/// Reads a tunnel file into tunnel specs.
fn load(text: &str) -> anyhow::Result<Vec<TunnelSpec>> {
    let file: File = toml::from_str(text)?;
    file.tunnel
        .into_iter()
        .map(|e| {
            let local_subnet = parse_subnets("LocalSubnet", &e.local_subnet)?;
            let remote_subnet = parse_subnets("RemoteSubnet", &e.remote_subnet)?;
            let routes = match &e.routes {
                Some(r) => parse_subnets("Routes", r)?,
                None if is_any(&remote_subnet) => Vec::new(),
                None => remote_subnet.clone(),
            };
            let routes = routes.into_iter().map(Into::into).collect();
            Ok(TunnelSpec {
                timing: e.test.apply(Timing::for_version(e.ike_config.ike_version)),
                id: e.id,
                connection: String::new(),
                standby_of: None,
                local_ip: e.local_ip,
                peer_ip: e.peer_ip,
                ike: e.ike_config,
                ipsec: e.ipsec_config,
                local_subnet,
                remote_subnet,
                routes,
                enable_dpd: e.enable_dpd,
                enable_nat_traversal: e.enable_nat_traversal,
                effect_immediately: e.effect_immediately,
                bgp: None,
                health: None,
                forward_inbound: true,
            })
        })
        .collect()
}

/// Runs `strait tunnel`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let specs = load(&text).with_context(|| format!("in {}", args.config.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let local_addrs = specs.iter().map(|s| s.local_ip).collect();
        let (gateway, mut status) = Gateway::start(&args.tun, local_addrs, specs).await?;
        if let Some(path) = &args.status {
            write_status(path, &status.borrow_and_update())?;
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stop = async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                changed = status.changed() => {
                    if changed.is_err() {
                        break; // the runner ended: shutdown() below returns its error
                    }
                    if let Some(path) = &args.status {
                        write_status(path, &status.borrow_and_update())?;
                    }
                }
            }
        }
        gateway.shutdown().await?;
        anyhow::Ok(())
    })
}

fn write_status(path: &Path, snap: &Snapshot) -> anyhow::Result<()> {
    let tunnels: Vec<_> = snap.values().collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(&serde_json::json!({ "tunnels": tunnels }))?,
    )?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const EXAMPLE: &str = include_str!("../../../examples/tunnel.toml");

    #[test]
    fn the_example_file_loads_with_its_values() {
        let specs = load(EXAMPLE).unwrap();
        let t = &specs[0];
        assert_eq!(t.id, "tun-1");
        assert_eq!(t.local_subnet.len(), 2);
        let dests: Vec<_> = t.routes.iter().map(|r| r.dest).collect();
        assert_eq!(
            dests, t.remote_subnet,
            "routes default to the remote networks"
        );
        assert_eq!(t.ike.ike_enc_alg, strait_model::EncAlg::Aes);
        assert_eq!(
            t.timing.dpd_timeout,
            Duration::from_secs(130),
            "no overrides: the spec's 130 s"
        );
        assert!(t.effect_immediately && t.enable_dpd && t.enable_nat_traversal);
    }

    fn minimal(extra: &str) -> String {
        format!(
            "[[tunnel]]\nId='t'\nLocalIp='198.51.100.1'\nPeerIp='192.0.2.1'\nLocalSubnet='0.0.0.0/0'\n\
             RemoteSubnet='0.0.0.0/0'\n{extra}\n[tunnel.IkeConfig]\nPsk='k'\nIkeVersion='ikev2'\nIkeMode='main'\n\
             IkeEncAlg='aes'\nIkeAuthAlg='sha1'\nIkePfs='group2'\nIkeLifetime=86400\nLocalId='198.51.100.1'\n\
             RemoteId='192.0.2.1'\n[tunnel.Test]\nDpdTimeoutSecs=7\nRetransmitBaseMs=250\n"
        )
    }

    #[test]
    fn defaults_and_test_overrides_apply() {
        let t = &load(&minimal("")).unwrap()[0];
        assert!(
            t.routes.is_empty(),
            "destination routing routes nothing by default"
        );
        assert!(!t.effect_immediately && !t.enable_dpd && !t.enable_nat_traversal);
        assert_eq!(t.ipsec, IpsecConfig::default());
        assert_eq!(t.timing.dpd_timeout, Duration::from_secs(7));
        assert_eq!(t.timing.retransmit_base, Duration::from_millis(250));
        assert_eq!(
            t.timing.retransmit_tries,
            Timing::default().retransmit_tries
        );
        let t = &load(&minimal("Routes='192.168.0.0/16'")).unwrap()[0];
        let net: strait_model::Ipv4Net = "192.168.0.0/16".parse().unwrap();
        assert_eq!(t.routes, vec![net.into()]);
    }

    #[test]
    fn mistakes_are_reported_with_the_field() {
        let err = |s: &str| format!("{:#}", load(s).unwrap_err());
        assert!(err(&minimal("Bogus=1")).contains("Bogus"));
        assert!(err(&minimal("").replace("'aes'", "'aes512'")).contains("aes512"));
        assert!(
            err(&minimal("").replace("LocalSubnet='0.0.0.0/0'", "LocalSubnet='10.0.0.0/40'"))
                .contains("LocalSubnet")
        );
        assert!(
            err(&minimal("").replace("PeerIp='192.0.2.1'", "PeerIp='nowhere'")).contains("PeerIp")
        );
        assert!(err(&minimal("").replace("Psk='k'\n", "")).contains("Psk"));
    }
}
