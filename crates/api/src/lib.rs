//! The Alibaba-compatible VPC 2016-04-28 RPC API server.
