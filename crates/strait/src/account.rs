//! `strait account`.

/// Subcommands of `strait account`.
#[derive(clap::Subcommand)]
pub enum Command {}

/// Runs `strait account`.
pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {}
}
