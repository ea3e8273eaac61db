//! The gateway daemon: turns connections into running tunnels.
