//! `cnf-fw`: a firmware library for Cisco IP phones (`cnfkit-firmware`).
//!
//! ```text
//! cargo run --example cnf-fw -- import cmterm-7942_7962-sccp.9-4-2SR4-3.zip --library /srv/firmware
//! cargo run --example cnf-fw -- import cmterm-8845_65-sip.14-2-1.cop.sgn --library /srv/firmware --trust cisco.pem
//! cargo run --example cnf-fw -- list --library /srv/firmware
//! cargo run --example cnf-fw -- plan --library /srv/firmware --root /srv/tftp \
//!     --inventory phones.csv --state /var/lib/cnfkit/registry.jsonl
//! ```
//!
//! A pack with an entry that would land outside the library, or whose manifests do not match
//! its images, is refused whole (exit 2) with nothing written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cnfkit::firmware::Library;
use cnfkit::repack::Certificate;
use cnfkit::server::plan::{PlanOptions, plan};

#[allow(dead_code)]
#[path = "support/cli.rs"]
mod cli;
use cli::{Failure, Outcome, out};

#[derive(Parser)]
#[command(
    name = "cnf-fw",
    version,
    about = "Import Cisco firmware packs into a library, one folder per load, and list it",
    after_help = "Exit status: 0 ok, 1 the library has problems (list) or a plan misses pieces (plan), 2 bad input or I/O error (a refused pack: nothing of it written)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import firmware packs (Cisco zips, tarballs, .cop.sgn), each whole or not at all.
    Import {
        /// The packs.
        #[arg(required = true)]
        packs: Vec<PathBuf>,
        /// The library's folder (created when missing).
        #[arg(long)]
        library: PathBuf,
        /// Verify a .cop.sgn's signed header against this certificate (PEM); without it the
        /// header is read and its signer shown, not verified.
        #[arg(long, value_name = "CERT")]
        trust: Option<PathBuf>,
    },
    /// List the loads: the models (termNN files) each covers, images, sizes, signer, problems.
    List {
        /// The library's folder.
        #[arg(long)]
        library: PathBuf,
    },
    /// For each model and each known phone: the load it runs, the load it will be told to run,
    /// upgrade, downgrade or nothing, and every missing piece, before a phone finds it.
    Plan {
        /// The library's folder (what `cnf-server --firmware` serves).
        #[arg(long)]
        library: Option<PathBuf>,
        /// The tree the server serves.
        #[arg(long)]
        root: PathBuf,
        /// The server's inventory (phones and their models).
        #[arg(long)]
        inventory: Option<PathBuf>,
        /// The server's device defaults.
        #[arg(long)]
        defaults: Option<PathBuf>,
        /// The registry's state file (`cnf-server --state`): the load each phone went for at its
        /// last boot. Read only.
        #[arg(long)]
        state: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    cli::exit("cnf-fw", run(Cli::parse().command))
}

fn run(command: Command) -> Outcome {
    match command {
        Command::Import { packs, library, trust } => {
            let trust = trust
                .map(|path| Certificate::from_pem_file(&path).map_err(Failure::bad))
                .transpose()?;
            let library = Library::open(library).map_err(Failure::bad)?;
            for pack in packs {
                let imported = library.import(&pack, trust.as_ref()).map_err(Failure::bad)?;
                let signer =
                    imported.signer.map(|s| format!(", signed by {s}")).unwrap_or_default();
                for load in &imported.loads {
                    out!("{}: imported {load} ({}{signer})", pack.display(), imported.format);
                }
                for load in &imported.already {
                    out!("{}: {load} is in the library already", pack.display());
                }
                if !imported.left_out.is_empty() {
                    out!("  left out (no manifest lists them): {}", imported.left_out.join(", "));
                }
            }
            Ok(())
        }
        Command::List { library } => {
            let library = Library::open(library).map_err(Failure::bad)?;
            let loads = library.loads().map_err(Failure::bad)?;
            let mut problems = 0;
            for load in &loads {
                let bytes: u64 = load.images.iter().map(|(_, size)| size).sum();
                let terms =
                    if load.terms.is_empty() { "-".to_owned() } else { load.terms.join(" ") };
                let signer = load.signer.as_deref().unwrap_or("unsigned");
                out!(
                    "{}  models: {terms}  {} images, {bytes} bytes  signer: {signer}",
                    load.name,
                    load.images.len()
                );
                for (image, size) in &load.images {
                    out!("  {image} {size}");
                }
                for problem in &load.problems {
                    out!("  problem: {problem}");
                }
                problems += load.problems.len();
            }
            let index = library.index().map_err(Failure::bad)?;
            for (name, holders) in index.conflicts() {
                out!(
                    "conflict: {name} differs between {} (served from none)",
                    holders.join(" and ")
                );
                problems += 1;
            }
            out!("{} loads, {} files served by name", loads.len(), index.len());
            if problems > 0 {
                return Err(Failure::Rejected(format!("{problems} problems in the library")));
            }
            Ok(())
        }
        Command::Plan { library, root, inventory, defaults, state } => {
            let options = PlanOptions { root, firmware: library, inventory, defaults, state };
            let plan = plan(&options).map_err(Failure::bad)?;
            for model in &plan.models {
                out!("{model}");
            }
            for phone in &plan.phones {
                out!("{phone}");
            }
            if plan.has_missing() {
                return Err(Failure::Rejected("pieces are missing (listed above)".into()));
            }
            Ok(())
        }
    }
}
