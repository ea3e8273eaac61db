//! `strait`: the gateway daemon, its admin commands and its tools.

mod account;
mod demo;
mod peer_config;
mod serve;
mod tunnel;

use clap::{Parser, Subcommand};

/// Self-hosted site-to-site IPsec-VPN gateway with the Alibaba VPC VPN API.
#[derive(Parser)]
#[command(name = "strait", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: the API and the tunnels.
    Serve(serve::Args),
    /// Manage API accounts.
    #[command(subcommand)]
    Account(account::Command),
    /// Run tunnels from a connection file, without the API.
    Tunnel(tunnel::Args),
    /// Print a connection's peer configuration (standard JSON or a device's).
    PeerConfig(peer_config::Args),
    /// Show a whole VPN on this machine: namespaces, serve, strongSwan, a ping (root only).
    Demo(demo::Args),
}

fn main() -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (tunnel_logs, tunnel_lines) = serve::logs::layer();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr),
        )
        .with(tunnel_logs)
        .with(
            tracing_subscriber::EnvFilter::try_from_env("STRAIT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args, tunnel_lines),
        Command::Account(cmd) => account::run(cmd),
        Command::Tunnel(args) => tunnel::run(args),
        Command::PeerConfig(args) => peer_config::run(args),
        Command::Demo(args) => demo::run(args),
    }
}
