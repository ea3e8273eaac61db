//! Kernel-side configuration of the TUN device: link state, address and routes.
//!
//! This runs `ip` (iproute2). Route changes are rare control-plane events (a tunnel's prefixes
//! change), iproute2 is on every host that runs the gateway (and in the tests), and calling it
//! keeps the data-plane handle synchronous instead of pulling a netlink runtime into it.

use std::process::Command;

use ipnet::Ipv4Net;

use super::DataplaneError;

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
