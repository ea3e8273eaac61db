//! Per-device templates; the algorithm names come from [`crate::names`], the device's view from [`crate::view`].

mod cisco;
mod fortigate;
mod huawei;
mod juniper;
mod linux;
mod paloalto;

use crate::names::{self, Algos};
use crate::view::{PeerView, TunnelView};
use crate::{DeviceType, RenderError};

/// Appends one formatted line to a `String`.
macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}
pub(crate) use line;

/// A tunnel together with its algorithms in the device's spelling.
pub(crate) type Resolved<'v, 'a> = (&'v TunnelView<'a>, Algos);

/// Renders `device`'s configuration, after checking every tunnel fits the device.
pub(crate) fn render(device: DeviceType, v: &PeerView<'_>) -> Result<String, RenderError> {
    let tunnels = v
        .tunnels
        .iter()
        .map(|t| names::algos(device, t).map(|a| (t, a)))
        .collect::<Result<Vec<_>, _>>()?;
    match device {
        DeviceType::StrongSwan => Ok(linux::strongswan(v, &tunnels)),
        DeviceType::Libreswan => Ok(linux::libreswan(v, &tunnels)),
        DeviceType::CiscoAsa => cisco::asa(v, &tunnels),
        DeviceType::CiscoIos => cisco::ios(v, &tunnels),
        DeviceType::JuniperSrx => Ok(juniper::srx(v, &tunnels)),
        DeviceType::Fortigate => Ok(fortigate::fortigate(v, &tunnels)),
        DeviceType::PaloAlto => Ok(paloalto::paloalto(v, &tunnels)),
        DeviceType::Huawei => huawei::huawei(v, &tunnels),
    }
}

/// The opening comments of a CLI configuration: whose it is, for which product, and the name
/// standing for the interface facing the internet.
pub(crate) fn preamble(o: &mut String, comment: &str, v: &PeerView<'_>, product: &str, wan: &str) {
    line!(
        o,
        "{comment} Strait peer configuration for {}: {product}",
        v.id
    );
    line!(
        o,
        "{comment} '{wan}' is the interface facing the internet; rename it to yours."
    );
}

/// The comment opening a tunnel's section of a CLI configuration.
pub(crate) fn tunnel_banner(o: &mut String, comment: &str, t: &TunnelView<'_>) {
    line!(
        o,
        "{comment} ---- tunnel {}: {} -> {} ----",
        t.index,
        t.local_ip,
        t.remote_ip
    );
}

/// Writes one line per network the device announces over BGP, or, when routing is by destination
/// (nothing to announce is known), `template` as a comment telling the operator to add theirs.
pub(crate) fn announce(
    o: &mut String,
    v: &PeerView<'_>,
    template: &str,
    each: impl Fn(strait_model::Ipv4Net) -> String,
) {
    let mut any = false;
    for n in v.announced() {
        line!(o, "{}", each(n));
        any = true;
    }
    if !any {
        line!(o, "{template}   (one per data-center network to announce)");
    }
}

/// Devices that protect traffic either with a tunnel interface (0.0.0.0/0 selectors) or with a
/// policy (ACL selectors) choose the interface when routing is by destination or BGP runs.
/// BGP needs the interface, which cannot carry narrowed selectors, so that mix is refused.
pub(crate) fn uses_tunnel_interface(
    device: DeviceType,
    v: &PeerView<'_>,
) -> Result<bool, RenderError> {
    match (v.route_based(), v.bgp()) {
        (true, _) => Ok(true),
        (false, false) => Ok(false),
        (false, true) => Err(RenderError::Unsupported {
            device,
            tunnel: v.tunnels.first().map_or(1, |t| t.index),
            what: "BGP together with protected data flows (use destination routing for BGP)"
                .to_string(),
        }),
    }
}
