//! The runner's routing: what each tunnel's routes in the data plane are.

use std::collections::HashMap;

use ipnet::Ipv4Net;
use strait_dataplane::{RouteOrigin, RouteRule};
use tracing::{error, info};

use super::Runner;

impl Runner {
    /// Gives each tunnel's routes to the data plane: its BGP peer and health-check target
    /// always; its routes, and its BGP routes while it has an IPsec SA and propagates them,
    /// unless a failing health check revokes them. A standby (slave) tunnel's routes have weight
    /// 0, so the data plane sends traffic its way only while the master has no IPsec SA.
    pub(super) fn reroute(&mut self) {
        let masters_up: HashMap<String, bool> = self
            .tunnels
            .values()
            .map(|t| (t.spec.id.clone(), !t.children.is_empty()))
            .collect();
        for t in self.tunnels.values_mut() {
            let pinned = t.spec.bgp.iter().map(|b| b.peer_ip);
            let pinned = pinned.chain(t.health.iter().map(|h| h.spec.dip));
            let mut routes: Vec<RouteRule> = pinned.map(|ip| Ipv4Net::from(ip).into()).collect();
            let revoked = t
                .health
                .as_ref()
                .is_some_and(|h| h.failing() && h.spec.revoke_routes);
            if !revoked {
                let propagate = t.spec.bgp.as_ref().is_some_and(|b| b.propagate);
                let learned = t
                    .learned
                    .iter()
                    .filter(|_| propagate && !t.children.is_empty());
                let learned = learned.map(|r| RouteRule {
                    origin: RouteOrigin::Bgp,
                    ..r.route_dest.into()
                });
                let standby = t.spec.standby_of.is_some();
                routes.extend(
                    t.spec
                        .routes
                        .iter()
                        .copied()
                        .chain(learned)
                        .map(|r| RouteRule {
                            weight: if standby { 0 } else { r.weight },
                            ..r
                        }),
                );
            }
            routes.sort();
            routes.dedup();
            if let Some(master) = &t.spec.standby_of {
                let carrying =
                    !t.children.is_empty() && !masters_up.get(master).copied().unwrap_or(false);
                if carrying != t.carrying {
                    let side = if carrying {
                        "this standby tunnel"
                    } else {
                        "the master"
                    };
                    info!(parent: &t.span, tunnel = %t.spec.id, "traffic now takes {side}");
                    t.carrying = carrying;
                }
            }
            if routes == t.active_routes {
                continue;
            }
            if let Err(e) = self.dp.set_routes(t.dp, routes.clone()) {
                error!(parent: &t.span, tunnel = %t.spec.id, "setting routes failed: {e}");
            }
            t.active_routes = routes;
        }
        self.readvertise();
    }
}
