//! The Alibaba-compatible VPC 2016-04-28 RPC API server.
#![warn(missing_docs)]

mod actions;
pub mod config;
pub mod error;
pub mod params;
pub mod server;
pub mod sign;
pub mod views;

pub use config::Config;
pub use error::ApiError;
pub use server::{Api, Change, ChangeOp};
