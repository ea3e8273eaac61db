//! Anti-replay window for inbound ESP sequence numbers (RFC 4303 §3.4.3), as a ring of 64-bit
//! blocks (RFC 6479) so that sliding the window never shifts the whole bitmap.

/// Number of 64-bit blocks in the ring.
const BLOCKS: usize = 32;

/// Width of the window in packets: a packet this far behind the highest seen one is still accepted.
pub const WINDOW: u64 = (BLOCKS as u64 - 1) * 64;

// RFC 4303 asks for at least 32 packets (64 recommended); at multi-Gbit/s with reordering across
// worker threads we want far more.
const _: () = assert!(WINDOW >= 1024);

/// Why the window refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// The number was already received.
    Replayed,
    /// The number lies behind the window.
    TooOld,
}

/// The sliding bitmap of received sequence numbers of one inbound SA.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    top: u64,
    blocks: [u64; BLOCKS],
}

impl ReplayWindow {
    /// A window that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Highest sequence number accepted so far (0 when none).
    pub fn highest(&self) -> u64 {
        self.top
    }

    /// Checks `seq` without recording it (used before the ICV is verified).
    pub fn check(&self, seq: u64) -> Result<(), ReplayVerdict> {
        if seq == 0 {
            // Sequence number 0 is never sent (the first packet carries 1).
            return Err(ReplayVerdict::Replayed);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= WINDOW {
            return Err(ReplayVerdict::TooOld);
        }
        let (block, bit) = slot(seq);
        if self.blocks[block] & bit != 0 {
            Err(ReplayVerdict::Replayed)
        } else {
            Ok(())
        }
    }

    /// Checks `seq` and records it; call only once the packet is authenticated.
    pub fn accept(&mut self, seq: u64) -> Result<(), ReplayVerdict> {
        self.check(seq)?;
        if seq > self.top {
            let old_block = self.top >> 6;
            let new_block = seq >> 6;
            let advance = (new_block - old_block).min(BLOCKS as u64);
            for i in 1..=advance {
                self.blocks[((old_block + i) % BLOCKS as u64) as usize] = 0;
            }
            self.top = seq;
        }
        let (block, bit) = slot(seq);
        self.blocks[block] |= bit;
        Ok(())
    }
}

fn slot(seq: u64) -> (usize, u64) {
    (((seq >> 6) % BLOCKS as u64) as usize, 1u64 << (seq & 63))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_number_once() {
        let mut w = ReplayWindow::new();
        for s in 1..=5000 {
            assert_eq!(w.accept(s), Ok(()));
            assert_eq!(w.accept(s), Err(ReplayVerdict::Replayed));
        }
    }

    #[test]
    fn zero_is_never_valid() {
        assert_eq!(ReplayWindow::new().check(0), Err(ReplayVerdict::Replayed));
    }

    #[test]
    fn accepts_reordering_within_the_window_and_refuses_older() {
        let mut w = ReplayWindow::new();
        w.accept(10_000).unwrap();
        // Every number inside the window arrives late, in reverse order: all accepted once.
        for s in (10_000 - WINDOW + 1..10_000).rev() {
            assert_eq!(w.accept(s), Ok(()), "seq {s}");
        }
        assert_eq!(w.check(10_000 - WINDOW), Err(ReplayVerdict::TooOld));
        assert_eq!(w.check(1), Err(ReplayVerdict::TooOld));
        for s in 10_000 - WINDOW + 1..=10_000 {
            assert_eq!(w.check(s), Err(ReplayVerdict::Replayed), "seq {s}");
        }
    }

    #[test]
    fn a_big_jump_forgets_old_bits() {
        let mut w = ReplayWindow::new();
        for s in 1..=100 {
            w.accept(s).unwrap();
        }
        w.accept(100 + 10 * WINDOW).unwrap();
        // Numbers that map to the same ring slots as old ones are new and must be accepted.
        for s in (100 + 9 * WINDOW + 1..100 + 10 * WINDOW).step_by(7) {
            assert_eq!(w.accept(s), Ok(()), "seq {s}");
        }
        assert_eq!(w.highest(), 100 + 10 * WINDOW);
    }

    #[test]
    fn check_does_not_record() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.check(7), Ok(()));
        assert_eq!(w.check(7), Ok(()));
        assert_eq!(w.accept(7), Ok(()));
        assert_eq!(w.check(7), Err(ReplayVerdict::Replayed));
    }
}
