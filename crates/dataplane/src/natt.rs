//! UDP encapsulation of ESP and IKE on port 4500 (RFC 3948): telling ESP, IKE and NAT keepalives apart.

/// UDP port that carries ESP-in-UDP and IKE with the non-ESP marker.
pub const NATT_PORT: u16 = 4500;

/// The non-ESP marker that precedes IKE messages on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The payload of a NAT keepalive.
pub const KEEPALIVE: [u8; 1] = [0xff];

/// What a UDP datagram on port 4500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500<'a> {
    /// A NAT keepalive (a single 0xFF byte): nothing to do.
    Keepalive,
    /// An IKE message, the marker stripped.
    Ike(&'a [u8]),
    /// An ESP packet starting at its SPI.
    Esp(&'a [u8]),
}

/// Why a datagram on port 4500 is neither ESP, IKE nor a keepalive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DemuxError {
    /// Shorter than any valid ESP header or marker.
    #[error("UDP-encapsulated datagram too short ({0} bytes)")]
    Truncated(usize),
}

/// Classifies a UDP payload received on port 4500 (RFC 3948 §2.2).
pub fn demux(payload: &[u8]) -> Result<Udp4500<'_>, DemuxError> {
    if payload == KEEPALIVE {
        return Ok(Udp4500::Keepalive);
    }
    match payload.split_at_checked(4) {
        Some((marker, ike)) if marker == NON_ESP_MARKER => Ok(Udp4500::Ike(ike)),
        Some(_) => Ok(Udp4500::Esp(payload)),
        None => Err(DemuxError::Truncated(payload.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_three_kinds_apart() {
        assert_eq!(demux(&[0xff]), Ok(Udp4500::Keepalive));
        assert_eq!(demux(&[0, 0, 0, 0, 1, 2, 3]), Ok(Udp4500::Ike(&[1, 2, 3])));
        assert_eq!(
            demux(&[0, 0, 0, 1, 0, 0, 0, 1]),
            Ok(Udp4500::Esp(&[0, 0, 0, 1, 0, 0, 0, 1]))
        );
    }

    #[test]
    fn short_datagrams_are_errors() {
        assert_eq!(demux(&[]), Err(DemuxError::Truncated(0)));
        assert_eq!(demux(&[0, 0, 0]), Err(DemuxError::Truncated(3)));
        assert_eq!(demux(&[0xff, 0xff]), Err(DemuxError::Truncated(2)));
    }
}
