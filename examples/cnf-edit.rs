//! `cnf-edit`: show, check, edit, generate and copy Cisco phone configuration files
//! (`XMLDefault.cnf.xml`, `SEP<MAC>.cnf.xml`, `SIPDefault.cnf`, `SIP<MAC>.cnf`).
//!
//! ```text
//! cargo run --example cnf-edit --features config -- show SEP001122334455.cnf.xml --json
//! cargo run --example cnf-edit --features config -- check XMLDefault.cnf.xml
//! cargo run --example cnf-edit --features config -- set SEP001122334455.cnf.xml loadInformation=SCCP42.9-4-2SR4-3S vendorConfig/webAccess=1
//! cargo run --example cnf-edit --features config -- new device --mac 00:11:22:33:44:55 --model 7942 --sip --line 1001:secret --cm 10.0.0.1 --dir /tftpboot
//! ```
//!
//! A thin front end: every decision is cnfkit-config's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cnfkit::fs::Install;
use cnfkit_config::{
    CallManagerSpec, CnfDocument, DefaultBuilder, DeviceType, LineRecord, MacCase, ParseOptions,
    PhoneRecord, Protocol, SipCnf, build_device,
};

#[derive(Parser)]
#[command(
    name = "cnf-edit",
    about = "Show, check, edit, generate and copy Cisco phone configuration files"
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
        /// `FIELD=VALUE` pairs.
        #[arg(required = true)]
        assignments: Vec<String>,
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
        #[arg(long = "load")]
        loads: Vec<String>,
        /// URL element: `servicesURL=http://...`.
        #[arg(long = "url")]
        urls: Vec<String>,
        /// Output file (default: XMLDefault.cnf.xml in the current directory).
        #[arg(short, long, default_value = "XMLDefault.cnf.xml")]
        output: PathBuf,
    },
    /// SEP<MAC>.cnf.xml.
    Device {
        /// MAC address.
        #[arg(long)]
        mac: String,
        /// Model (7942, CP-7962G...).
        #[arg(long)]
        model: String,
        /// A SIP phone (default SCCP).
        #[arg(long)]
        sip: bool,
        /// SIP line: `NUMBER[:PASSWORD[:LABEL]]` (repeat).
        #[arg(long = "line")]
        lines: Vec<String>,
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
        #[arg(long = "vendor")]
        vendor: Vec<String>,
        /// Lower-case MAC in the file name (7902/7905/7912).
        #[arg(long)]
        lower: bool,
        /// Directory to write SEP<MAC>.cnf.xml into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// A file as cnf-edit sees it.
enum File {
    Xml(CnfDocument),
    Sip(SipCnf),
}

fn is_sip(path: &Path, bytes: &[u8]) -> bool {
    let name =
        path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let first = bytes
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF);
    (name.ends_with(".cnf") && !name.ends_with(".cnf.xml")) || first.is_some_and(|b| b != b'<')
}

fn open(path: &Path, options: ParseOptions) -> Result<File, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if is_sip(path, &bytes) {
        return Ok(File::Sip(SipCnf::parse(&bytes)));
    }
    CnfDocument::parse_owned(bytes, options)
        .map(File::Xml)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn split_pair(s: &str) -> Result<(&str, &str), String> {
    s.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

/// Writes `bytes` to `target` through the one atomic writer, keeping the previous file as
/// `<target>.old` with `keep_old`.
fn write_atomic(target: &Path, bytes: &[u8], keep_old: bool) -> Result<(), String> {
    let install = if keep_old { Install::KeepOld } else { Install::Replace };
    cnfkit::fs::write(target, bytes, install).map(|_| ()).map_err(|e| e.to_string())
}

fn show(file: &Path, json: bool, lenient: bool) -> Result<(), String> {
    let options = if lenient { ParseOptions::lenient() } else { ParseOptions::strict() };
    match open(file, options)? {
        File::Sip(cnf) => {
            if json {
                let out =
                    serde_json::json!({ "settings": cnf.settings(), "entries": cnf.entries() });
                println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
            } else {
                for (k, v) in cnf.entries() {
                    println!("{k}: {v:?}");
                }
            }
        }
        File::Xml(doc) => {
            let summary = doc.summary();
            if json {
                let out = serde_json::json!({
                    "encoding": doc.encoding(),
                    "encoding_source": doc.encoding_source(),
                    "summary": summary,
                    "warnings": doc.validate(),
                    "repairs": doc.repairs(),
                });
                println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
                return Ok(());
            }
            println!(
                "root: <{}> ({:?}), {:?} ({:?})",
                summary.root_name,
                summary.root_kind,
                doc.encoding(),
                doc.encoding_source()
            );
            if let Some(p) = &summary.device_protocol {
                println!("protocol: {p}");
            }
            if let Some(g) = &summary.call_manager_group {
                println!("call managers ({:?}):", g.location);
                for m in &g.members {
                    let p = &m.ports;
                    println!(
                        "  priority {}: {} (sccp {}, sip {})",
                        m.priority.map_or("-".into(), |p| p.to_string()),
                        m.process_node_name.as_deref().unwrap_or("-"),
                        p.ethernet_phone_port.map_or("-".into(), |p| p.to_string()),
                        p.sip_port.map_or("-".into(), |p| p.to_string()),
                    );
                }
            }
            if !summary.firmware.entries.is_empty() {
                println!("loads:");
                for e in &summary.firmware.entries {
                    let t = e.device_type.map_or_else(|| "-".to_owned(), |t| t.to_string());
                    println!(
                        "  {t}: {:?} model={:?} ({:?})",
                        e.load,
                        e.model.as_deref().unwrap_or(""),
                        e.form
                    );
                }
            }
            for (k, v) in &summary.urls {
                println!("{k}: {v}");
            }
            for (k, v) in &summary.vendor_config {
                println!("vendorConfig/{k}: {v}");
            }
            if let Some(m) = summary.security.device_security_mode {
                println!("deviceSecurityMode: {m}");
            }
            if let Some(p) = &summary.sip_profile {
                for l in &p.lines {
                    println!(
                        "line {}: {} ({})",
                        l.button.unwrap_or(0),
                        l.name.as_deref().unwrap_or("-"),
                        l.feature_label.as_deref().unwrap_or("")
                    );
                }
            }
            for r in doc.repairs() {
                println!("repaired {r}");
            }
            for w in doc.validate() {
                println!("warning {w}");
            }
        }
    }
    Ok(())
}

fn check(file: &Path) -> Result<bool, String> {
    let name = file.display();
    let bytes = fs::read(file).map_err(|e| format!("{name}: {e}"))?;
    if is_sip(file, &bytes) {
        let cnf = SipCnf::parse(&bytes);
        for (line, text) in cnf.unparsed_lines() {
            println!("{name}:{line}:1: warning: not a `name: value` line: {text:?}");
        }
        return Ok(true);
    }
    match CnfDocument::parse(&bytes) {
        Ok(doc) => {
            for w in doc.validate() {
                println!(
                    "{name}:{}: warning: {}",
                    w.at,
                    w.to_string().split_once(": ").map_or("", |x| x.1)
                );
            }
            Ok(true)
        }
        Err(e) => {
            let at = e.location().map_or_else(String::new, |l| format!("{l}:"));
            println!("{name}:{at} error: {e}");
            if let Ok(doc) = CnfDocument::parse_with(&bytes, ParseOptions::lenient()) {
                for r in doc.repairs() {
                    println!(
                        "{name}:{}: note: --lenient would repair: {}",
                        r.at,
                        r.to_string().split_once(": ").map_or("", |x| x.1)
                    );
                }
            }
            Ok(false)
        }
    }
}

fn set(file: &Path, assignments: &[String], output: Option<&Path>) -> Result<(), String> {
    let bytes = match open(file, ParseOptions::strict())? {
        File::Sip(mut cnf) => {
            for a in assignments {
                let (k, v) = split_pair(a)?;
                cnf.set(k, v).map_err(|e| e.to_string())?;
            }
            cnf.to_bytes()
        }
        File::Xml(mut doc) => {
            for a in assignments {
                let (field, v) = split_pair(a)?;
                match field.rsplit_once('@') {
                    Some((path, attr)) => doc.set_attribute(path, attr, v),
                    None => doc.set_or_create(field, v),
                }
                .map_err(|e| e.to_string())?;
            }
            for w in doc.validate() {
                eprintln!("warning {w}");
            }
            doc.into_bytes()
        }
    };
    match output {
        Some(out) => write_atomic(out, &bytes, false),
        None => write_atomic(file, &bytes, true),
    }
}

fn device_type(key: &str) -> Result<DeviceType, String> {
    key.parse()
        .map(DeviceType)
        .ok()
        .or_else(|| DeviceType::from_model(key))
        .ok_or_else(|| format!("unknown device type or model {key:?}"))
}

fn new(kind: NewKind) -> Result<PathBuf, String> {
    match kind {
        NewKind::Default { call_managers, loads, urls, output } => {
            let mut b = DefaultBuilder::new();
            for cm in call_managers {
                b = b.call_manager(CallManagerSpec::new(cm));
            }
            for l in &loads {
                let (t, load) = split_pair(l)?;
                b = b.load(device_type(t)?, load);
            }
            for u in &urls {
                let (el, url) = split_pair(u)?;
                b = b.url(el, url);
            }
            let doc = b.build().map_err(|e| e.to_string())?;
            write_atomic(&output, doc.as_bytes(), true)?;
            Ok(output)
        }
        NewKind::Device {
            mac,
            model,
            sip,
            lines,
            call_managers,
            load,
            locale,
            vendor,
            lower,
            dir,
        } => {
            let lines = lines
                .iter()
                .map(|l| {
                    let mut parts = l.splitn(3, ':');
                    LineRecord {
                        number: parts.next().unwrap_or_default().to_owned(),
                        password: parts.next().map(str::to_owned),
                        label: parts.next().map(str::to_owned),
                        ..LineRecord::default()
                    }
                })
                .collect();
            let user_locale = locale.map(|l| match l.split_once(':') {
                Some((n, lang)) => (n.to_owned(), lang.to_owned()),
                None => (l, String::new()),
            });
            let vendor_config = vendor
                .iter()
                .map(|v| split_pair(v).map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<Result<_, _>>()?;
            let record = PhoneRecord {
                mac,
                model,
                protocol: if sip { Protocol::Sip } else { Protocol::Sccp },
                lines,
                call_managers: call_managers.into_iter().map(CallManagerSpec::new).collect(),
                load,
                user_locale,
                vendor_config,
                ..PhoneRecord::default()
            };
            let (name, doc) =
                build_device(&record, if lower { MacCase::Lower } else { MacCase::Upper })
                    .map_err(|e| e.to_string())?;
            let path = dir.join(name);
            write_atomic(&path, doc.as_bytes(), true)?;
            Ok(path)
        }
    }
}

fn copy(file: &Path, output: &Path, repair: bool) -> Result<(), String> {
    let options = if repair { ParseOptions::lenient() } else { ParseOptions::strict() };
    let bytes = match open(file, options)? {
        File::Sip(cnf) => cnf.to_bytes(),
        File::Xml(mut doc) => {
            if repair {
                let n = doc.apply_repairs().map_err(|e| e.to_string())?;
                eprintln!("{n} repair(s) applied");
            }
            doc.into_bytes()
        }
    };
    write_atomic(output, &bytes, false)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Show { file, json, lenient } => show(&file, json, lenient).map(|()| true),
        Command::Check { file } => check(&file),
        Command::Set { file, assignments, output } => {
            set(&file, &assignments, output.as_deref()).map(|()| true)
        }
        Command::New { kind } => new(kind).map(|p| {
            println!("wrote {}", p.display());
            true
        }),
        Command::Copy { file, output, repair } => copy(&file, &output, repair).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cnf-edit: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cnf-edit-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn set_in_place_is_atomic_and_keeps_the_previous_file_as_old() {
        let dir = scratch("set");
        let file = dir.join("SEP001122334455.cnf.xml");
        let before = b"<device>\r\n\t<loadInformation>A</loadInformation>\r\n</device>\r\n";
        fs::write(&file, before).unwrap();
        set(&file, &["loadInformation=B&C".into(), "@ctiid=7".into()], None).unwrap();
        assert_eq!(fs::read(dir.join("SEP001122334455.cnf.xml.old")).unwrap(), before);
        assert_eq!(
            fs::read(&file).unwrap(),
            b"<device ctiid=\"7\">\r\n\t<loadInformation>B&amp;C</loadInformation>\r\n</device>\r\n"
        );
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        // A bad path leaves the file alone.
        assert!(set(&file, &["a[0]=x".into()], None).is_err());
        assert!(fs::read(&file).unwrap().starts_with(b"<device ctiid"));
    }

    #[test]
    fn sip_files_are_recognised_and_edited_as_text() {
        let dir = scratch("sip");
        let file = dir.join("SIPDefault.cnf");
        fs::write(&file, b"image_version: \"P0S3-8-12-00\"\r\n").unwrap();
        let out = dir.join("out.cnf");
        set(&file, &["image_version=P0S3-9-0-00".into()], Some(&out)).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"image_version: \"P0S3-9-0-00\"\r\n");
        assert!(!dir.join("SIPDefault.cnf.old").exists(), "-o leaves the input alone");
    }

    #[test]
    fn check_fails_on_not_well_formed_files_and_copy_repair_fixes_them() {
        let dir = scratch("check");
        let file = dir.join("bad.cnf.xml");
        fs::write(&file, b"<device><WlanProfile2>0</WlanProfile1></device>").unwrap();
        assert_eq!(check(&file), Ok(false));
        let fixed = dir.join("fixed.cnf.xml");
        assert!(copy(&file, &fixed, false).is_err());
        copy(&file, &fixed, true).unwrap();
        assert_eq!(fs::read(&fixed).unwrap(), b"<device><WlanProfile2>0</WlanProfile2></device>");
        assert_eq!(check(&fixed), Ok(true));
    }

    #[test]
    fn new_device_writes_sep_mac_file_named_in_upper_case() {
        let dir = scratch("new");
        let path = new(NewKind::Device {
            mac: "00:11:22:aa:bb:cc".into(),
            model: "7942".into(),
            sip: true,
            lines: vec!["1001:pw:Desk".into()],
            call_managers: vec!["10.0.0.1".into()],
            load: Some("SIP42.9-4-2SR3-1S".into()),
            locale: Some("English_United_States:en_US".into()),
            vendor: vec!["webAccess=0".into()],
            lower: false,
            dir: dir.clone(),
        })
        .unwrap();
        assert_eq!(path, dir.join("SEP001122AABBCC.cnf.xml"));
        let doc = CnfDocument::parse(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc.sip_profile().unwrap().lines[0].feature_label.as_deref(), Some("Desk"));
    }
}
