//! The `cnf-server` program: its [`Settings`] (flags and `--config` file), the wiring of every
//! listener ([`serve`]), the preflight [`check`], and reload on SIGHUP. The binary is
//! [`main`]; the `cnf-server` example of the workspace calls the same.
//!
//! ```no_run
//! use clap::Parser as _;
//! let settings = cnfkit_server::cli::Settings::parse_from(["cnf-server", "--root", "/srv/tftp"]);
//! cnfkit_server::cli::serve(settings, None)?;
//! # Ok::<(), cnfkit_server::Error>(())
//! ```

mod check;
mod launch;
mod settings;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser as _};

pub use check::{Problem, check};
pub use launch::serve;
pub use settings::Settings;

use crate::{FlagKind, config_file_args};

/// `cnf-server [check] [FLAGS]`: serves (or checks) until a signal, with exit status 0 when
/// stopped, 1 when `check` found problems, 2 on bad input.
#[must_use]
pub fn main() -> ExitCode {
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    let checking = argv.get(1).is_some_and(|arg| arg == "check");
    if checking {
        argv.remove(1);
    }
    let invocation = Invocation { argv };
    let settings = match invocation.settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("cnf-server: {message}");
            return ExitCode::from(2);
        }
    };
    if checking {
        return match check(&settings) {
            Ok(problems) if problems.is_empty() => {
                println!("cnf-server check: no problems found");
                ExitCode::SUCCESS
            }
            Ok(problems) => {
                for problem in &problems {
                    println!("{problem}");
                }
                println!("cnf-server check: {} problems found", problems.len());
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("cnf-server check: {e}");
                ExitCode::from(2)
            }
        };
    }
    init_logs(&settings.log_format);
    match serve(settings, Some(invocation)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cnf-server: {e}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to standard error, coloured only on a terminal (not in files or journald).
fn init_logs(format: &str) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,object_store=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// The command line the server was started with: read again, with its `--config` file, at
/// each reload.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The program name and its arguments (`check` removed).
    pub argv: Vec<OsString>,
}

impl Invocation {
    /// The settings: the `--config` file's, then the command line's over them.
    ///
    /// # Errors
    /// A message naming the file, line and key (or the flag) that is wrong.
    pub fn settings(&self) -> Result<Settings, String> {
        let cli = &self.argv;
        let Some(path) = config_path(cli) else {
            return Settings::try_parse_from(cli).map_err(|e| clap_message(&e));
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("--config {}: {e}", path.display()))?;
        let command = Settings::command().args_override_self(true);
        let flags: Vec<(String, FlagKind)> = command
            .get_arguments()
            .filter_map(|arg| Some((arg.get_long()?.to_owned(), arg.get_action())))
            .filter(|(name, _)| !matches!(name.as_str(), "config" | "help" | "version"))
            .map(|(name, action)| {
                let kind = match action {
                    clap::ArgAction::SetTrue => FlagKind::Switch,
                    clap::ArgAction::Append => FlagKind::Values,
                    _ => FlagKind::Value,
                };
                (name, kind)
            })
            .collect();
        let flags: Vec<(&str, FlagKind)> = flags.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        let from_file = config_file_args(&path, &text, &flags).map_err(|e| e.to_string())?;
        // The file alone first, so that a bad value or a conflicting pair names its line.
        let file_only =
            std::iter::once("cnf-server".to_owned()).chain(from_file.iter().map(|a| a.arg.clone()));
        if let Err(e) = command.clone().try_get_matches_from(file_only) {
            let flag = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(ToString::to_string)
                .unwrap_or_default();
            let key = flag.trim_start_matches("--").split([' ', '=']).next().unwrap_or_default();
            let line = from_file.iter().find(|a| a.key == key).map_or(0, |a| a.line);
            let kind = e.kind().as_str().unwrap_or("refused");
            let detail = e.render().to_string();
            let detail = detail.lines().next().unwrap_or_default().trim_start_matches("error: ");
            return Err(format!("{}, line {line}, `{key}`: {kind}: {detail}", path.display()));
        }
        let all = cli
            .iter()
            .take(1)
            .cloned()
            .chain(from_file.into_iter().map(|a| a.arg.into()))
            .chain(cli.iter().skip(1).cloned());
        let matches = command.try_get_matches_from(all).map_err(|e| clap_message(&e))?;
        Settings::from_arg_matches(&matches).map_err(|e| clap_message(&e))
    }
}

/// `--help` and `--version` print and exit 0 as usual; an error is a message for exit 2.
fn clap_message(e: &clap::Error) -> String {
    if !e.use_stderr() {
        e.exit();
    }
    let rendered = e.render().to_string();
    rendered.trim_end().trim_start_matches("error: ").to_owned()
}

/// The file `--config FILE` (or `--config=FILE`) names, if any.
fn config_path(cli: &[OsString]) -> Option<PathBuf> {
    let mut args = cli.iter().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    None
}
