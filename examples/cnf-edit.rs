//! `cnf-edit`: show, check, edit, generate and copy Cisco phone configuration files
//! (`XMLDefault.cnf.xml`, `SEP<MAC>.cnf.xml`, `SIPDefault.cnf`, `SIP<MAC>.cnf`).
//!
//! ```text
//! cargo run --example cnf-edit --features config -- show SEP001122334455.cnf.xml --json
//! cargo run --example cnf-edit --features config -- check XMLDefault.cnf.xml
//! cargo run --example cnf-edit --features config -- set SEP001122334455.cnf.xml loadInformation=SCCP42.9-4-2SR4-3S vendorConfig/webAccess=1
//! cargo run --example cnf-edit --features config -- new device --mac 00:11:22:33:44:55 --model 7942 --protocol sip --line 1001:Desk:secret --cm 10.0.0.1 --dir /tftpboot
//! ```
//!
//! A thin front end: every decision is cnfkit-config's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cnfkit::fs::Install;
use cnfkit_config::{
    Assignment, CallManagerSpec, CnfDocument, ConfigFile, DefaultBuilder, DeviceType, LineRecord,
    Mac, MacCase, ParseOptions, PhoneRecord, Protocol, build_device,
};

#[allow(dead_code)]
#[path = "support/cli.rs"]
mod cli;
use cli::{Failure, Outcome, out};

#[derive(Parser)]
#[command(
    name = "cnf-edit",
    about = "Show, check, edit, generate and copy Cisco phone configuration files",
    after_help = "Exit status: 0 ok, 1 check failed (a file that is not well-formed), 2 bad input or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what the file configures (typed views).
    Show {
        /// The file (.cnf.xml or SIP .cnf).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Recover from not-well-formed XML (and list the repairs).
        #[arg(long)]
        lenient: bool,
    },
    /// Check a file: errors with line:column (exit 1), warnings.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Set fields: `PATH=VALUE` (element path, created if missing), `PATH@ATTR=VALUE`, or a SIP
    /// key. Writes atomically, keeping the previous file as FILE.old.
    Set {
        /// The file.
        file: PathBuf,
        /// `PATH=VALUE` or `PATH@ATTR=VALUE` edits.
        #[arg(required = true)]
        assignments: Vec<Assignment>,
        /// Write here instead of in place.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Generate a file.
    New {
        #[command(subcommand)]
        kind: NewKind,
    },
    /// Copy a file after checking that it parses (byte for byte; --repair fixes what lenient
    /// parsing repaired).
    Copy {
        /// The file.
        file: PathBuf,
        /// Where to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Apply lenient repairs (mismatched or missing end tags...).
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand)]
enum NewKind {
    /// XMLDefault.cnf.xml.
    Default {
        /// Call manager host (repeat: priority order).
        #[arg(long = "cm", required = true)]
        call_managers: Vec<String>,
        /// Load per device type: `434=SCCP42.9-4-2SR4-3S` or `7942=...` (model).
        #[arg(long = "load", value_parser = key_value)]
        loads: Vec<(String, String)>,
        /// URL element: `servicesURL=http://...`.
        #[arg(long = "url", value_parser = key_value)]
        urls: Vec<(String, String)>,
        /// Output file (default: XMLDefault.cnf.xml in the current directory).
        #[arg(short, long, default_value = "XMLDefault.cnf.xml")]
        output: PathBuf,
    },
    /// SEP<MAC>.cnf.xml.
    Device {
        /// MAC address (`00:11:22:33:44:55`, `001122334455`...).
        #[arg(long)]
        mac: Mac,
        /// Model (7942, CP-7962G...).
        #[arg(long)]
        model: String,
        /// Firmware protocol: sccp or sip.
        #[arg(long, default_value = "sccp")]
        protocol: Protocol,
        /// SIP line: `NUMBER[:LABEL[:PASSWORD]]`, as in the inventory CSV (repeat).
        #[arg(long = "line")]
        lines: Vec<LineRecord>,
        /// Call manager host (repeat: priority order).
        #[arg(long = "cm", required = true)]
        call_managers: Vec<String>,
        /// loadInformation.
        #[arg(long)]
        load: Option<String>,
        /// User locale `NAME:LANG` (English_United_States:en_US).
        #[arg(long)]
        locale: Option<String>,
        /// vendorConfig entry `KEY=VALUE` (repeat).
        #[arg(long = "vendor", value_parser = key_value)]
        vendor: Vec<(String, String)>,
        /// Lower-case MAC in the file name (7902/7905/7912).
        #[arg(long)]
        lower: bool,
        /// Directory to write SEP<MAC>.cnf.xml into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// A `KEY=VALUE` argument.
fn key_value(arg: &str) -> Result<(String, String), String> {
    let (key, value) =
        arg.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {arg:?}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// Reads a configuration file of either kind (a signed or binary file is refused).
fn open(path: &Path, options: ParseOptions) -> Result<ConfigFile, Failure> {
    ConfigFile::open(path, options).map_err(|e| match e {
        // These name the file already.
        cnfkit_config::Error::NotText { .. } | cnfkit_config::Error::Io { .. } => Failure::bad(e),
        e => Failure::Bad(format!("{}: {e}", path.display())),
    })
}

/// Writes `bytes` to `target` through the one atomic writer, keeping the previous file as
/// `<target>.old` with `keep_old`.
fn write_atomic(target: &Path, bytes: &[u8], keep_old: bool) -> Outcome {
    let install = if keep_old { Install::KeepOld } else { Install::Replace };
    cnfkit::fs::write(target, bytes, install)?;
    Ok(())
}

fn show(file: &Path, json: bool, lenient: bool) -> Outcome {
    let options = if lenient { ParseOptions::lenient() } else { ParseOptions::strict() };
    match open(file, options)? {
        ConfigFile::Sip(cnf) => {
            if json {
                let out =
                    serde_json::json!({ "settings": cnf.settings(), "entries": cnf.entries() });
                out!("{}", serde_json::to_string_pretty(&out).map_err(Failure::bad)?);
            } else {
                for (k, v) in cnf.entries() {
                    out!("{k}: {v:?}");
                }
            }
        }
        ConfigFile::Xml(doc) => {
            let summary = doc.summary();
            if json {
                let out = serde_json::json!({
                    "encoding": doc.encoding(),
                    "encoding_source": doc.encoding_source(),
                    "summary": summary,
                    "warnings": doc.validate(),
                    "repairs": doc.repairs(),
                });
                out!("{}", serde_json::to_string_pretty(&out).map_err(Failure::bad)?);
                return Ok(());
            }
            out!(
                "root: <{}> ({:?}), {:?} ({:?})",
                summary.root_name,
                summary.root_kind,
                doc.encoding(),
                doc.encoding_source()
            );
            out!("{}", summary.to_string().trim_end());
            for r in doc.repairs() {
                out!("repaired {r}");
            }
            for w in doc.validate() {
                out!("warning {w}");
            }
        }
    }
    Ok(())
}

fn check(file: &Path) -> Outcome {
    let name = file.display();
    match ConfigFile::parse(&name.to_string(), cli::read(file)?, ParseOptions::strict()) {
        Ok(ConfigFile::Sip(cnf)) => {
            for (line, text) in cnf.unparsed_lines() {
                out!("{name}:{line}:1: warning: not a `name: value` line: {text:?}");
            }
            Ok(())
        }
        Ok(ConfigFile::Xml(doc)) => {
            for w in doc.validate() {
                out!("{name}:{}: warning: {}", w.at, w.message());
            }
            Ok(())
        }
        Err(e @ cnfkit_config::Error::NotText { .. }) => Err(Failure::bad(e)),
        Err(e) => {
            let at = e.location().map_or_else(String::new, |l| format!("{l}:"));
            out!("{name}:{at} error: {e}");
            // Read again rather than held twice: a large file is not kept in memory for a note.
            let again = cli::read(file)?;
            if let Ok(doc) = CnfDocument::parse_owned(again, ParseOptions::lenient()) {
                for r in doc.repairs() {
                    out!("{name}:{}: note: --lenient would repair: {}", r.at, r.message());
                }
            }
            Err(Failure::Rejected(format!("{name} is not well-formed")))
        }
    }
}

fn set(file: &Path, assignments: &[Assignment], output: Option<&Path>) -> Outcome {
    let mut config = open(file, ParseOptions::strict())?;
    for assignment in assignments {
        config.apply(assignment).map_err(|e| Failure::Bad(format!("{assignment}: {e}")))?;
    }
    if let ConfigFile::Xml(doc) = &config {
        for w in doc.validate() {
            eprintln!("warning {w}");
        }
    }
    let bytes = config.into_bytes();
    match output {
        Some(out) => write_atomic(out, &bytes, false),
        None => write_atomic(file, &bytes, true),
    }
}

fn device_type(key: &str) -> Result<DeviceType, Failure> {
    DeviceType::from_key(key)
        .ok_or_else(|| Failure::Bad(format!("unknown device type or model {key:?}")))
}

fn new(kind: NewKind) -> Result<PathBuf, Failure> {
    match kind {
        NewKind::Default { call_managers, loads, urls, output } => {
            let mut b = DefaultBuilder::new();
            for cm in call_managers {
                b = b.call_manager(CallManagerSpec::new(cm));
            }
            for (t, load) in &loads {
                b = b.load(device_type(t)?, load);
            }
            for (el, url) in &urls {
                b = b.url(el, url);
            }
            let doc = b.build().map_err(Failure::bad)?;
            write_atomic(&output, doc.as_bytes(), true)?;
            Ok(output)
        }
        NewKind::Device {
            mac,
            model,
            protocol,
            lines,
            call_managers,
            load,
            locale,
            vendor,
            lower,
            dir,
        } => {
            let user_locale = locale.map(|l| match l.split_once(':') {
                Some((n, lang)) => (n.to_owned(), lang.to_owned()),
                None => (l, String::new()),
            });
            let vendor_config = vendor;
            let record = PhoneRecord {
                mac,
                model,
                protocol,
                lines,
                call_managers: call_managers.into_iter().map(CallManagerSpec::new).collect(),
                load,
                user_locale,
                vendor_config,
                ..PhoneRecord::default()
            };
            let (name, doc) =
                build_device(&record, if lower { MacCase::Lower } else { MacCase::Upper })
                    .map_err(Failure::bad)?;
            let path = dir.join(name);
            write_atomic(&path, doc.as_bytes(), true)?;
            Ok(path)
        }
    }
}

fn copy(file: &Path, output: &Path, repair: bool) -> Outcome {
    let options = if repair { ParseOptions::lenient() } else { ParseOptions::strict() };
    let bytes = match open(file, options)? {
        ConfigFile::Sip(cnf) => cnf.to_bytes(),
        ConfigFile::Xml(mut doc) => {
            if repair {
                let n = doc.apply_repairs().map_err(Failure::bad)?;
                eprintln!("{n} repair(s) applied");
            }
            doc.into_bytes()
        }
    };
    write_atomic(output, &bytes, false)
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Show { file, json, lenient } => show(&file, json, lenient),
        Command::Check { file } => check(&file),
        Command::Set { file, assignments, output } => set(&file, &assignments, output.as_deref()),
        Command::New { kind } => new(kind).and_then(|p| {
            out!("wrote {}", p.display());
            Ok(())
        }),
        Command::Copy { file, output, repair } => copy(&file, &output, repair),
    };
    cli::exit("cnf-edit", outcome)
}
