//! `prorata`: the command line. For now it works from files, with no database: check a
//! catalog, quote a plan, and play a scenario through the billing rules of `prorata-core`.
//! It holds no billing logic of its own: it reads files, calls the core and prints.

mod quote;
mod render;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use prorata_core::catalog::Catalog;
use prorata_core::scenario::{self, Scenario};

#[derive(Parser)]
#[command(name = "prorata", version, about = "Subscription billing engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Catalog files.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Price a plan and quantities over dates, showing every line and its derivation.
    Quote(quote::QuoteArgs),
    /// Play a scenario file (a catalog plus dated actions) and print each document.
    Simulate {
        /// The scenario file (TOML), e.g. examples/seed-credit-note.toml.
        scenario: PathBuf,
        /// Print the outcome as JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Validate a catalog file; every problem is printed with the field it concerns.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Catalog {
            command: CatalogCommand::Check { file },
        } => {
            let catalog = load_catalog(&file)?;
            println!(
                "{}: ok — {} products, {} usage metrics, {} plans, currencies {}",
                file.display(),
                catalog.products.len(),
                catalog.metrics.len(),
                catalog.plans.len(),
                catalog
                    .currencies
                    .iter()
                    .map(|c| c.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Command::Quote(args) => quote::run(args),
        Command::Simulate { scenario, json } => simulate(&scenario, json),
    }
}

pub fn load_catalog(path: &Path) -> Result<Catalog> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read catalog {}", path.display()))?;
    Catalog::from_toml(&text).map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))
}

fn simulate(path: &Path, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read scenario {}", path.display()))?;
    let scenario =
        Scenario::from_toml(&text).map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))?;
    let catalog_path = path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(&scenario.catalog);
    let catalog = load_catalog(&catalog_path)?;
    let outcome = scenario::run(&scenario, &catalog)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", render::outcome(&outcome));
    }
    Ok(())
}
