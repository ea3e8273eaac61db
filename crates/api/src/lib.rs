//! The Alibaba-compatible VPC 2016-04-28 RPC API server.

pub mod config;
pub mod error;
pub mod params;
pub mod sign;

pub use config::Config;
pub use error::ApiError;
