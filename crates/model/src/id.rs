//! Resource ids shaped like the cloud's: a kind prefix and 20 lowercase alphanumerics.

use rand::Rng;
use rand::distr::Alphanumeric;

/// Number of random characters after an id's prefix.
const ID_RANDOM_LEN: usize = 20;

/// A kind of resource that carries a generated id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// A VPN gateway (`vpn-`).
    VpnGateway,
    /// A customer gateway (`cgw-`).
    CustomerGateway,
    /// An IPsec-VPN connection (`vco-`).
    VpnConnection,
    /// A tunnel of a connection (`tun-`).
    Tunnel,
    /// A CEN instance (`cen-`).
    Cen,
    /// A transit router (`tr-`).
    TransitRouter,
    /// A transit router route table (`vtb-`).
    RouteTable,
    /// A transit router attachment (`tr-attach-`).
    TransitRouterAttachment,
}

impl IdKind {
    /// The prefix ids of this kind start with, dash included.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::VpnGateway => "vpn-",
            IdKind::CustomerGateway => "cgw-",
            IdKind::VpnConnection => "vco-",
            IdKind::Tunnel => "tun-",
            IdKind::Cen => "cen-",
            IdKind::TransitRouter => "tr-",
            IdKind::RouteTable => "vtb-",
            IdKind::TransitRouterAttachment => "tr-attach-",
        }
    }

    /// A fresh random id of this kind.
    pub fn new_id(self) -> String {
        let tail: String = rand::rng()
            .sample_iter(Alphanumeric)
            .map(|b| char::from(b).to_ascii_lowercase())
            .take(ID_RANDOM_LEN)
            .collect();
        format!("{}{tail}", self.prefix())
    }

    /// Whether `s` has the shape of an id of this kind.
    pub fn matches(self, s: &str) -> bool {
        s.strip_prefix(self.prefix()).is_some_and(|tail| {
            tail.len() == ID_RANDOM_LEN
                && tail
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_cloud_shape_and_differ() {
        for kind in [
            IdKind::VpnGateway,
            IdKind::CustomerGateway,
            IdKind::VpnConnection,
            IdKind::Tunnel,
            IdKind::Cen,
            IdKind::TransitRouter,
            IdKind::RouteTable,
            IdKind::TransitRouterAttachment,
        ] {
            let a = kind.new_id();
            let b = kind.new_id();
            assert!(kind.matches(&a), "{a}");
            assert_eq!(a.len(), kind.prefix().len() + 20);
            assert_ne!(a, b);
        }
        assert!(!IdKind::VpnGateway.matches("cgw-aaaaaaaaaaaaaaaaaaaa"));
        assert!(!IdKind::VpnGateway.matches("vpn-AAAAAAAAAAAAAAAAAAAA"));
        assert!(!IdKind::VpnGateway.matches("vpn-short"));
        assert!(!IdKind::TransitRouter.matches(&IdKind::TransitRouterAttachment.new_id()));
    }
}
