//! The reconciler: keeps the gateway's tunnels equal to the stored connections, and writes what the
//! tunnels do (status, negotiation logs) back to the store for the API.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use strait_api::Change;
use strait_gateway::{
    Gateway, GatewayContext, Snapshot, TimingOverrides, TransitRouters, TunnelSpec,
    connection_tunnels,
};
use strait_model::{
    CustomerGateway, Ipv4Net, TransitRouterAttachment, VpnConnection, VpnGateway, VpnPbrRouteEntry,
    VpnRouteEntry,
};
use strait_store::{Store, StoreError};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{error, info, warn};

use super::logs::TunnelLine;

/// How often the store is read again even without a change notice.
const RESYNC: Duration = Duration::from_secs(30);

/// How long negotiation log lines are kept.
const LOG_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// `[gateway]` of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// TUN device carrying the tunnels' inner traffic.
    #[serde(default = "default_tun")]
    pub tun: String,
    /// Timer overrides, for tests.
    #[serde(default)]
    pub timing: TimingOverrides,
}

fn default_tun() -> String {
    "strait0".into()
}

impl Default for Section {
    fn default() -> Self {
        Section {
            tun: default_tun(),
            timing: TimingOverrides::default(),
        }
    }
}

/// The account and connection a tunnel belongs to.
type Owners = HashMap<String, (String, String)>;

/// The tunnels the store asks for, and whose they are.
struct Desired {
    specs: Vec<TunnelSpec>,
    owners: Owners,
}

/// Local networks (CIDRs) of each VPC, by VPC id.
pub type Vpcs = HashMap<String, Vec<Ipv4Net>>;

/// Reads every account's connections, on VPN gateways and transit routers, into tunnel specs.
fn desired(store: &Store, timing: &TimingOverrides, vpcs: &Vpcs) -> Result<Desired, StoreError> {
    store.read(|tx| {
        let cgws: HashMap<(String, String), CustomerGateway> = tx
            .list_all::<CustomerGateway>()?
            .into_iter()
            .map(|(account, c)| ((account, c.customer_gateway_id.clone()), c))
            .collect();
        let gateway_vpcs: HashMap<(String, String), String> = tx
            .list_all::<VpnGateway>()?
            .into_iter()
            .map(|(account, g)| ((account, g.vpn_gateway_id), g.vpc_id))
            .collect();
        let routes = by_gateway(tx.list_all::<VpnRouteEntry>()?, |r| &r.vpn_gateway_id);
        let policy_routes = by_gateway(tx.list_all::<VpnPbrRouteEntry>()?, |r| &r.vpn_gateway_id);
        let connections = tx.list_all::<VpnConnection>()?;
        let protected: HashMap<(&str, &str), &[Ipv4Net]> = connections
            .iter()
            .filter(|(_, c)| !c.remote_subnet.is_any())
            .map(|(account, c)| {
                let key = (account.as_str(), c.vpn_connection_id.as_str());
                (key, c.remote_subnet.0.as_slice())
            })
            .collect();
        let attachments = tx.list_all::<TransitRouterAttachment>()?;
        let transit = TransitRouters::new(attachments.into_iter().map(|(_, a)| a), vpcs, |a, c| {
            protected.get(&(a, c)).map_or_else(Vec::new, |n| n.to_vec())
        });
        let mut out = Desired {
            specs: Vec::new(),
            owners: Owners::new(),
        };
        for (account, conn) in &connections {
            let gw_key = (
                account.clone(),
                conn.vpn_gateway_id.clone().unwrap_or_default(),
            );
            let context = match transit.context(account, conn, timing) {
                Some(on_transit_router) => on_transit_router,
                None => GatewayContext {
                    routes: routes.get(&gw_key).map_or(&[][..], Vec::as_slice),
                    policy_routes: policy_routes.get(&gw_key).map_or(&[][..], Vec::as_slice),
                    local_networks: gateway_vpcs
                        .get(&gw_key)
                        .and_then(|vpc| vpcs.get(vpc))
                        .map_or(&[][..], Vec::as_slice),
                    timing,
                    attachment: None,
                },
            };
            let cgw = |id: &str| cgws.get(&(account.clone(), id.to_owned())).cloned();
            for spec in connection_tunnels(conn, cgw, &context) {
                out.owners.insert(
                    spec.id.clone(),
                    (account.clone(), conn.vpn_connection_id.clone()),
                );
                out.specs.push(spec);
            }
        }
        Ok(out)
    })
}

/// Entries grouped by (account, VPN gateway id).
fn by_gateway<T>(
    entries: Vec<(String, T)>,
    gateway: impl Fn(&T) -> &String,
) -> BTreeMap<(String, String), Vec<T>> {
    let mut out: BTreeMap<(String, String), Vec<T>> = BTreeMap::new();
    for (account, e) in entries {
        out.entry((account, gateway(&e).clone()))
            .or_default()
            .push(e);
    }
    out
}

/// The gateway's addresses that exist on this host (the others cannot carry tunnels).
pub fn usable_addresses(zone_ips: impl IntoIterator<Item = Ipv4Addr>) -> Vec<Ipv4Addr> {
    let mut ips: Vec<Ipv4Addr> = zone_ips.into_iter().collect();
    ips.sort();
    ips.dedup();
    ips.retain(|&ip| match std::net::UdpSocket::bind((ip, 0)) {
        Ok(_) => true,
        Err(e) => {
            warn!("gateway IP {ip} is not usable on this host ({e}): its tunnels will not run");
            false
        }
    });
    ips
}

/// Runs the gateway from the store until `stop` fires, then deletes every SA (telling peers).
pub async fn run(
    store: Arc<Store>,
    section: Section,
    vpcs: Vpcs,
    addrs: Vec<Ipv4Addr>,
    mut changes: broadcast::Receiver<Change>,
    mut lines: mpsc::Receiver<TunnelLine>,
    mut stop: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let (gateway, mut status) = Gateway::start(&section.tun, addrs.clone(), Vec::new()).await?;
    info!(tun = %section.tun, addresses = ?addrs, "gateway running");
    let mut owners = Owners::new();
    let mut applied: Option<Vec<TunnelSpec>> = None;
    let mut written: HashMap<String, strait_model::TunnelStatus> = HashMap::new();
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        match desired(&store, &section.timing, &vpcs) {
            Ok(d) => {
                owners = d.owners;
                if applied.as_ref() != Some(&d.specs) {
                    gateway.apply(d.specs.clone())?;
                    applied = Some(d.specs);
                }
            }
            Err(e) => error!("reading the connections from the store: {e}"),
        }
        write_status(&store, &owners, &status.borrow_and_update(), &mut written);
        tokio::select! {
            _ = &mut stop => break,
            change = changes.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = change {
                    break;
                }
            }
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(line) = lines.recv() => {
                let mut batch = vec![line];
                while let Ok(more) = lines.try_recv() {
                    batch.push(more);
                }
                append_logs(&store, &owners, batch);
            }
            _ = resync.tick() => prune_logs(&store),
        }
    }
    gateway.shutdown().await?;
    Ok(())
}

/// Writes the status of every owned tunnel that changed since it was last written.
fn write_status(
    store: &Store,
    owners: &Owners,
    snapshot: &Snapshot,
    written: &mut HashMap<String, strait_model::TunnelStatus>,
) {
    written.retain(|id, _| owners.contains_key(id));
    let changed: Vec<_> = snapshot
        .values()
        .filter_map(|t| {
            let owner = owners.get(&t.id)?;
            let seen = t.observed();
            (written.get(&t.id) != Some(&seen)).then(|| (t.id.clone(), owner, seen))
        })
        .collect();
    if changed.is_empty() {
        return;
    }
    let result = store.write(|tx| {
        for (id, (account, conn), seen) in &changed {
            tx.set_tunnel_status(account, conn, id, seen)?;
        }
        Ok::<_, StoreError>(())
    });
    match result {
        Ok(()) => written.extend(changed.into_iter().map(|(id, _, seen)| (id, seen))),
        Err(e) => error!("recording tunnel status: {e}"),
    }
}

/// Stores log lines of owned tunnels under their connection.
fn append_logs(store: &Store, owners: &Owners, batch: Vec<TunnelLine>) {
    let result = store.write(|tx| {
        for l in &batch {
            if let Some((account, conn)) = owners.get(&l.tunnel_id) {
                tx.append_log(account, conn, &l.tunnel_id, l.time_ms, &l.line)?;
            }
        }
        Ok::<_, StoreError>(())
    });
    if let Err(e) = result {
        // Not an error event with a tunnel field: that would feed this writer its own failure.
        eprintln!("recording negotiation logs failed: {e}");
    }
}

fn prune_logs(store: &Store) {
    let cutoff = std::time::SystemTime::now()
        .checked_sub(LOG_RETENTION)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    if let Err(e) = store.write(|tx| tx.prune_logs(cutoff)) {
        error!("pruning old negotiation logs: {e}");
    }
}
