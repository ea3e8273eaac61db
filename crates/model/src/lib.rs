//! Strait's resources, their defaults and every validation rule, as plain types and pure functions.

pub mod algo;
pub mod tunnel;

pub use algo::{AuthAlg, DhGroup, EncAlg, IkeMode, IkeVersion, Pfs};
pub use tunnel::{IkeConfig, IpsecConfig};
