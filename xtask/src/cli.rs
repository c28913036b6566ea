//! Flags several subcommands share, so they are spelled, documented and handled alike.

/// `--dry-run` and `--json`: decide without acting, and say it as data.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Preview {
    /// Print the exact commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON on stdout instead of text for people.
    #[arg(long)]
    pub json: bool,
}
