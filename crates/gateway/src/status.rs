//! The observed state of each tunnel, published for the API and for `strait tunnel --status`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::watch;

/// Phase-1 state of a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IkeState {
    /// No IKE SA and none being negotiated (waiting for traffic or for the next attempt).
    Idle,
    /// IKE_SA_INIT/IKE_AUTH in progress.
    Connecting,
    /// An authenticated IKE SA exists.
    Established,
}

/// Phase-2 state of a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpsecState {
    /// No CHILD_SA installed.
    Down,
    /// A CHILD_SA pair carries traffic.
    Established,
}

/// The BGP session of a tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BgpStatus {
    /// The session is Established.
    pub established: bool,
    /// Routes learned from the peer (forwarded into the tunnel while it has an IPsec SA).
    pub learned: Vec<strait_model::BgpRoute>,
}

/// A snapshot of one tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelStatus {
    /// Tunnel id.
    pub id: String,
    /// Phase-1 state.
    pub ike_state: IkeState,
    /// Phase-2 state.
    pub ipsec_state: IpsecState,
    /// Why the last negotiation or SA failed, as an operator should read it.
    pub last_error: Option<String>,
    /// Negotiations started so far.
    pub attempts: u64,
    /// CHILD_SA pairs installed so far (first ones and rekeys).
    pub child_sas_installed: u64,
    /// IKE SAs established so far (first ones and rekeys).
    pub ike_sas_established: u64,
    /// Inbound SPI of the CHILD_SA now carrying traffic.
    pub spi_in: Option<String>,
    /// Outbound SPI of the CHILD_SA now carrying traffic.
    pub spi_out: Option<String>,
    /// Whether ESP is UDP-encapsulated (NAT-T).
    pub udp_encap: bool,
    /// The tunnel's BGP session, when BGP is enabled.
    pub bgp: Option<BgpStatus>,
    /// Whether the connection's health check passes, once it has a verdict.
    pub health_check: Option<bool>,
    /// The last failure in the API's terms (kept until the tunnel is up again).
    pub diagnosis: Option<strait_model::Diagnosis>,
    /// When this status last changed, seconds since the Unix epoch.
    pub changed_at: u64,
}

impl TunnelStatus {
    /// The status of a tunnel that has not negotiated yet.
    pub fn new(id: &str) -> Self {
        TunnelStatus {
            id: id.to_owned(),
            ike_state: IkeState::Idle,
            ipsec_state: IpsecState::Down,
            last_error: None,
            attempts: 0,
            child_sas_installed: 0,
            ike_sas_established: 0,
            spi_in: None,
            spi_out: None,
            udp_encap: false,
            bgp: None,
            health_check: None,
            diagnosis: None,
            changed_at: unix_now(),
        }
    }
}

impl TunnelStatus {
    /// What the API reports for this tunnel: its negotiation progress and the last failure.
    pub fn observed(&self) -> strait_model::TunnelStatus {
        use strait_model::NegotiationStatus as N;
        let status = match (self.ike_state, self.ipsec_state) {
            (_, IpsecState::Established) => N::IpsecSaEstablished,
            (IkeState::Established, IpsecState::Down) if self.last_error.is_some() => {
                N::IpsecSaNotEstablished
            }
            (IkeState::Established, IpsecState::Down) => N::IkeSaEstablished,
            _ => N::IkeSaNotEstablished,
        };
        let up = status == N::IpsecSaEstablished;
        let diagnosis = self.diagnosis.clone().filter(|_| !up);
        let detail = match (&diagnosis, &self.last_error) {
            _ if up => String::new(),
            (Some(d), _) => d.summary.clone(),
            (None, e) => e.clone().unwrap_or_default(),
        };
        strait_model::TunnelStatus {
            status,
            detail,
            bgp_status: self.bgp.as_ref().map(|b| {
                if b.established {
                    strait_model::ProbeStatus::Success
                } else {
                    strait_model::ProbeStatus::Failed
                }
            }),
            health_check_status: self.health_check.map(|passing| {
                if passing {
                    strait_model::ProbeStatus::Success
                } else {
                    strait_model::ProbeStatus::Failed
                }
            }),
            diagnosis,
            bgp_routes: self
                .bgp
                .as_ref()
                .filter(|_| up)
                .map(|b| b.learned.clone())
                .unwrap_or_default(),
        }
    }
}

/// Every tunnel's status, keyed by tunnel id.
pub type Snapshot = Arc<BTreeMap<String, TunnelStatus>>;

/// Publishes status changes; readers hold a [`watch::Receiver`] of [`Snapshot`]s.
#[derive(Debug)]
pub struct StatusBoard {
    tx: watch::Sender<Snapshot>,
}

impl StatusBoard {
    /// A board with these tunnels in their initial state, and a receiver of its snapshots.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> (Self, watch::Receiver<Snapshot>) {
        let map = ids
            .into_iter()
            .map(|id| (id.to_owned(), TunnelStatus::new(id)))
            .collect();
        let (tx, rx) = watch::channel(Arc::new(map));
        (StatusBoard { tx }, rx)
    }

    /// Adds a tunnel in its initial state (replacing any status it had).
    pub fn insert(&self, id: &str) {
        self.tx.send_modify(|snap| {
            Arc::make_mut(snap).insert(id.to_owned(), TunnelStatus::new(id));
        });
    }

    /// Forgets a tunnel.
    pub fn remove(&self, id: &str) {
        self.tx
            .send_if_modified(|snap| Arc::make_mut(snap).remove(id).is_some());
    }

    /// Applies `f` to one tunnel's status and publishes the result if it changed.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut TunnelStatus)) {
        self.tx.send_if_modified(|snap| {
            let Some(cur) = snap.get(id) else {
                return false;
            };
            let mut next = cur.clone();
            f(&mut next);
            next.changed_at = cur.changed_at;
            if next == *cur {
                return false;
            }
            next.changed_at = unix_now();
            Arc::make_mut(snap).insert(id.to_owned(), next);
            true
        });
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.tx.borrow().clone()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_sees_how_far_negotiation_got_and_why_it_stopped() {
        use strait_model::NegotiationStatus as N;
        let mut s = TunnelStatus::new("t");
        assert_eq!(s.observed().status, N::IkeSaNotEstablished);
        s.last_error = Some("authentication failed: peer rejected our AUTH".into());
        let seen = s.observed();
        assert_eq!(seen.status, N::IkeSaNotEstablished);
        assert!(seen.detail.contains("authentication failed"), "{seen:?}");
        s.ike_state = IkeState::Established;
        assert_eq!(
            s.observed().status,
            N::IpsecSaNotEstablished,
            "IKE up but a CHILD_SA failure on record"
        );
        s.last_error = None;
        assert_eq!(s.observed().status, N::IkeSaEstablished);
        s.ipsec_state = IpsecState::Established;
        s.last_error = Some("old failure".into());
        let seen = s.observed();
        assert_eq!(seen.status, N::IpsecSaEstablished);
        assert_eq!(
            seen.detail, "",
            "an established tunnel shows no stale error"
        );
    }

    #[test]
    fn updates_publish_only_real_changes() {
        let (board, mut rx) = StatusBoard::new(["a", "b"]);
        rx.mark_unchanged();
        board.update("a", |s| s.ike_state = IkeState::Idle);
        assert!(
            !rx.has_changed().unwrap(),
            "a no-op update must not wake readers"
        );
        board.update("a", |s| s.last_error = Some("authentication failed".into()));
        assert!(rx.has_changed().unwrap());
        let snap = rx.borrow_and_update().clone();
        assert_eq!(
            snap["a"].last_error.as_deref(),
            Some("authentication failed")
        );
        assert_eq!(snap["b"], board.snapshot()["b"]);
        board.update("unknown", |s| s.attempts = 9);
        assert!(!rx.has_changed().unwrap());
    }
}
