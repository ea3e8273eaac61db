//! `strait tunnel`.

/// Options of `strait tunnel`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `strait tunnel`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("strait tunnel is not built yet")
}
