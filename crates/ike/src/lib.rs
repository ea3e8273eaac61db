//! IKEv2 and IKEv1 protocol cores: sans-IO codecs and SA state machines.

#![warn(missing_docs)]

pub mod v1;
pub mod v2;
mod wire;

#[cfg(test)]
mod testing;
