//! Kernel-side configuration of the TUN device: link state, address and routes.
//!
//! This runs `ip` (iproute2). Route changes are rare control-plane events (a tunnel's prefixes
//! change), iproute2 is on every host that runs the gateway (and in the tests), and calling it
//! keeps the data-plane handle synchronous instead of pulling a netlink runtime into it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use ipnet::Ipv4Net;

use super::{DataplaneError, RouteRule};

/// The kernel routes into the TUN device, each with the number of tunnels whose rules use it as
/// a destination.
#[derive(Default)]
pub(crate) struct RouteRefs(BTreeMap<Ipv4Net, usize>);

impl RouteRefs {
    /// Counts a tunnel's change of rules from `old` to `new`; returns the destinations that gained
    /// their first tunnel (to add to the kernel) and those that lost their last (to remove).
    pub fn update(&mut self, old: &[RouteRule], new: &[RouteRule]) -> (Vec<Ipv4Net>, Vec<Ipv4Net>) {
        let dests = |rules: &[RouteRule]| rules.iter().map(|r| r.dest).collect::<BTreeSet<_>>();
        let (old, new) = (dests(old), dests(new));
        let mut added = Vec::new();
        for &p in new.difference(&old) {
            let n = self.0.entry(p).or_insert(0);
            *n += 1;
            if *n == 1 {
                added.push(p);
            }
        }
        let mut removed = Vec::new();
        for p in old.difference(&new) {
            if let Some(n) = self.0.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    self.0.remove(p);
                    removed.push(*p);
                }
            }
        }
        (added, removed)
    }

    /// Every destination, leaving the table empty.
    pub fn take(&mut self) -> impl Iterator<Item = Ipv4Net> {
        std::mem::take(&mut self.0).into_keys()
    }
}

fn ip(args: &[&str]) -> Result<(), DataplaneError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| DataplaneError::Kernel {
            command: args.join(" "),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DataplaneError::Kernel {
            command: args.join(" "),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Brings `dev` up with `mtu`, IPv4 only: the tunnels carry IPv4, so IPv6 router solicitations
/// and the like would only be dropped.
pub(crate) fn link_up(dev: &str, mtu: u16) -> Result<(), DataplaneError> {
    // Best effort: hosts without IPv6 have no such switch.
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
    ip(&["link", "set", "dev", dev, "mtu", &mtu.to_string(), "up"])
}

/// Puts `addr` on `dev`.
pub(crate) fn add_address(dev: &str, addr: Ipv4Net) -> Result<(), DataplaneError> {
    ip(&["addr", "replace", &addr.to_string(), "dev", dev])
}

/// Takes `addr` off `dev`.
pub(crate) fn del_address(dev: &str, addr: Ipv4Net) -> Result<(), DataplaneError> {
    ip(&["addr", "del", &addr.to_string(), "dev", dev])
}

/// Routes `prefix` into `dev`.
pub(crate) fn add_route(dev: &str, prefix: Ipv4Net) -> Result<(), DataplaneError> {
    ip(&["route", "replace", &prefix.to_string(), "dev", dev])
}

/// Removes the route for `prefix` through `dev`.
pub(crate) fn del_route(dev: &str, prefix: Ipv4Net) -> Result<(), DataplaneError> {
    ip(&["route", "del", &prefix.to_string(), "dev", dev])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RouteOrigin;

    fn rule(dest: &str) -> RouteRule {
        RouteRule::from(dest.parse::<Ipv4Net>().unwrap())
    }

    fn policy(source: &str, dest: &str) -> RouteRule {
        RouteRule {
            source: Some(source.parse().unwrap()),
            priority: 10,
            ..rule(dest)
        }
    }

    fn nets(s: &[&str]) -> Vec<Ipv4Net> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn a_destination_stays_in_the_kernel_while_any_rule_of_any_tunnel_uses_it() {
        let mut refs = RouteRefs::default();
        // Tunnel A: a static route, a BGP route and a policy route, two of them to one prefix.
        let a = vec![
            rule("10.1.0.0/16"),
            RouteRule {
                origin: RouteOrigin::Bgp,
                ..rule("10.2.0.0/16")
            },
            policy("192.168.0.0/24", "10.1.0.0/16"),
        ];
        assert_eq!(
            refs.update(&[], &a),
            (nets(&["10.1.0.0/16", "10.2.0.0/16"]), vec![]),
            "one kernel route per distinct destination"
        );
        // Tunnel B shares 10.1/16: nothing new for the kernel.
        let b = vec![rule("10.1.0.0/16")];
        assert_eq!(refs.update(&[], &b), (vec![], vec![]));
        // A drops its destination route but keeps the policy route to the same prefix.
        let a2 = vec![policy("192.168.0.0/24", "10.1.0.0/16")];
        assert_eq!(refs.update(&a, &a2), (vec![], nets(&["10.2.0.0/16"])));
        // A goes; B still routes 10.1/16.
        assert_eq!(refs.update(&a2, &[]), (vec![], vec![]));
        // B goes: the last user of 10.1/16.
        assert_eq!(refs.update(&b, &[]), (vec![], nets(&["10.1.0.0/16"])));
        assert_eq!(refs.take().count(), 0);
    }

    #[test]
    fn a_changed_weight_or_origin_leaves_the_kernel_alone() {
        let mut refs = RouteRefs::default();
        let old = vec![rule("10.1.0.0/16")];
        refs.update(&[], &old);
        let new = vec![RouteRule {
            weight: 0,
            origin: RouteOrigin::Bgp,
            ..rule("10.1.0.0/16")
        }];
        assert_eq!(refs.update(&old, &new), (vec![], vec![]));
        assert_eq!(refs.take().collect::<Vec<_>>(), nets(&["10.1.0.0/16"]));
    }
}
