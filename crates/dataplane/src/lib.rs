//! Userspace ESP data plane: ESP, TUN, UDP/raw sockets, forwarding.
