//! `strait serve`.

/// Options of `strait serve`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `strait serve`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("strait serve is not built yet")
}
