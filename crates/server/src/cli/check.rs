//! `cnf-server check`: every problem a phone would hit, found before a phone finds it.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use cnfkit_repack::SignedFile;
use cnfkit_resolve::{Answer, Directory as _, FsDirectory, Inventory, Resolver};

use super::Settings;
use crate::Error;
use crate::mirror::{Mirror, MirrorOptions};
use crate::plan::{Missing, missing_pieces};
use crate::registry::loads_named;
use crate::tls::ServedCertificate;

/// One problem `check` found: the file, what is wrong, and who it hurts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (in the tree, or given by a flag), or the address.
    pub file: String,
    /// What is wrong.
    pub what: String,
    /// The phones or models it hurts, or what stops working.
    pub hurts: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (hurts: {})", self.file, self.what, self.hurts)
    }
}

/// Who a configuration serves.
fn served_by(config: &str) -> String {
    let lower = config.to_ascii_lowercase();
    if lower.starts_with("xmldefault") {
        "every phone without a configuration of its own".to_owned()
    } else if let Some(device) = config.strip_suffix(".cnf.xml") {
        format!("phone {device}")
    } else {
        format!("the phones served {config}")
    }
}

/// Checks what `settings` would serve, without serving: the tree's configurations and the
/// generated ones (do they parse, is each load they name in the tree, with every image its
/// manifest lists at its size), the `.sgn` files against the signing certificate, the
/// inventory, the defaults, the keys, the writable directories and the ports. The problems
/// found, empty when a phone would hit none.
///
/// # Errors
/// [`Error::Cli`] when there is nothing to check (the demo tree) or the tree cannot be opened.
pub fn check(settings: &Settings) -> Result<Vec<Problem>, Error> {
    let mut problems = Vec::new();
    let mut problem = |file: &dyn std::fmt::Display, what: String, hurts: &str| {
        problems.push(Problem { file: file.to_string(), what, hurts: hurts.to_owned() });
    };
    let root = match (&settings.root, &settings.source, &settings.cache_dir) {
        (Some(root), ..) => root.clone(),
        (None, Some(source), Some(cache_dir)) => {
            // The mirror as it is now: the store is not asked.
            let options = MirrorOptions::new(source, cache_dir);
            Mirror::open(options)?.files().to_owned()
        }
        _ => {
            return Err(Error::Cli("check needs --root or --source: the demo tree is ours".into()));
        }
    };
    let signer = match settings.signer() {
        Ok(signer) => signer,
        Err(e) => {
            problem(&"--sign-key/--sign-cert", e.to_string(), "every signed configuration");
            None
        }
    };
    // The inventory and the defaults on their own, so that a bad one does not hide the tree.
    let site = match settings.site(root.clone(), signer.clone(), None) {
        Ok(site) => site,
        Err(e) => {
            let file = match &e {
                Error::InFile { path, .. } | Error::Io { path, .. } => path.display().to_string(),
                _ => "--inventory/--defaults".to_owned(),
            };
            problem(&file, e.to_string(), "the phones it would configure");
            let bare = Settings { inventory: None, defaults: None, ..settings.clone() };
            bare.site(root.clone(), signer.clone(), None).map_err(|e| Error::Cli(e.to_string()))?
        }
    };
    for warning in &site.warnings {
        problem(&root.display(), warning.to_string(), "phones booting from this tree");
    }
    // A check writes nothing: a default rebuilt from the defaults is looked at, not saved.
    let resolver = site.resolver.write_back_default(false);
    check_configs(&resolver, settings, &mut problem);
    if let Some(signer) = &signer {
        for name in resolver.directory().list("") {
            if !name.to_ascii_lowercase().ends_with(".sgn") {
                continue;
            }
            let Ok(bytes) = resolver.directory().read(&name) else { continue };
            let verdict = SignedFile::parse(&bytes)
                .and_then(|signed| signed.verify_with(signer.certificate()));
            if let Err(e) = verdict {
                let plain = name.strip_suffix(".sgn").unwrap_or(&name);
                problem(
                    &name,
                    format!("does not verify against the signing certificate: {e}"),
                    &format!("{}, refused by a phone trusting that certificate", served_by(plain)),
                );
            }
        }
    }
    if let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key)
        && let Err(e) = ServedCertificate::load(cert, key)
    {
        problem(&cert.display(), e.to_string(), "HTTPS (phones fetching on 6971)");
    }
    for (dir, what) in writable_dirs(settings) {
        if let Err(e) = rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK) {
            problem(&dir.display(), format!("not writable: {e}"), what);
        }
    }
    for (addr, tcp, what) in listeners(settings) {
        let bound =
            if tcp { TcpListener::bind(addr).map(drop) } else { UdpSocket::bind(addr).map(drop) };
        if let Err(e) = bound {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => " (another server has it)",
                std::io::ErrorKind::PermissionDenied => {
                    " (ports below 1024: start as root with --user, or give CAP_NET_BIND_SERVICE)"
                }
                _ => "",
            };
            problem(&addr, format!("cannot listen: {e}{hint}"), what);
        }
    }
    Ok(problems)
}

/// Every configuration the server would serve (the tree's, the inventory's, the rebuilt
/// default): does it parse, and is each load it names there with all its images.
fn check_configs(
    resolver: &Resolver<FsDirectory>,
    settings: &Settings,
    problem: &mut impl FnMut(&dyn std::fmt::Display, String, &str),
) {
    let mut configs: Vec<String> = resolver
        .directory()
        .list("")
        .into_iter()
        .filter(|name| name.to_ascii_lowercase().ends_with(".cnf.xml"))
        .collect();
    let inventory = settings
        .inventory
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| Inventory::parse_csv(&text).ok())
        .unwrap_or_default();
    configs.extend(inventory.iter().map(|(mac, _)| format!("SEP{mac}.cnf.xml")));
    configs.push("XMLDefault.cnf.xml".to_owned());
    let mut seen = std::collections::HashSet::new();
    configs.retain(|name| seen.insert(name.to_ascii_lowercase()));
    // Each load once, with the configurations that name it.
    let mut loads: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for config in &configs {
        let bytes = match resolver.resolve(config.as_bytes()) {
            Answer::File { path, .. } => match resolver.directory().read(&path) {
                Ok(bytes) => bytes.to_vec(),
                Err(e) => {
                    problem(config, format!("cannot be read: {e}"), &served_by(config));
                    continue;
                }
            },
            Answer::Generated { bytes, .. } => bytes.to_vec(),
            Answer::Failed { failure, .. } => {
                problem(config, format!("cannot be made: {failure}"), &served_by(config));
                continue;
            }
            _ => continue,
        };
        if let Err(e) = cnfkit_config::CnfDocument::parse(&bytes) {
            problem(config, format!("does not parse: {e}"), &served_by(config));
            continue;
        }
        for load in loads_named(&bytes) {
            loads.entry(load).or_default().push(config.clone());
        }
    }
    for (load, named_by) in loads {
        let hurts = named_by.iter().map(|c| served_by(c)).collect::<Vec<_>>().join(", ");
        check_load(resolver, &load, &hurts, problem);
    }
}

/// A load a configuration names: its manifest (or, for the oldest phones, its one image), and
/// every image the manifest lists at the size it announces.
fn check_load(
    resolver: &Resolver<FsDirectory>,
    load: &str,
    hurts: &str,
    problem: &mut impl FnMut(&dyn std::fmt::Display, String, &str),
) {
    for missing in missing_pieces(resolver, load) {
        let what = match &missing {
            Missing::Manifest(_) => format!(
                "missing: load {load} is named, and the tree has neither its manifest nor its image"
            ),
            Missing::Image { manifest, .. } => format!("missing: listed by {manifest}"),
            Missing::Size { len, announced, manifest, .. } => {
                format!("{len} bytes, {manifest} announces {announced}")
            }
            Missing::Unreadable { why, .. } => why.clone(),
        };
        let hurts = match &missing {
            Missing::Manifest(_) => format!("{hurts}, stuck asking for it"),
            _ => format!("{hurts}, whose upgrade fails"),
        };
        problem(&missing.file(), what, &hurts);
    }
}

/// The directories the server will write to, with what needs them.
fn writable_dirs(settings: &Settings) -> Vec<(PathBuf, &'static str)> {
    let mut dirs = Vec::new();
    if let Some(state) = &settings.state {
        let dir = state.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        dirs.push((dir.to_owned(), "the registry's state file (--state)"));
    }
    if let Some(cache) = &settings.cache_dir {
        let dir =
            if cache.exists() { cache.clone() } else { cache.parent().unwrap_or(cache).to_owned() };
        dirs.push((dir, "the mirror of --source (--cache-dir)"));
    }
    if settings.allow_write
        && let Some(root) = &settings.root
    {
        for area in &settings.upload_dir {
            dirs.push((root.join(area), "uploads (--upload-dir)"));
        }
    }
    dirs
}

/// Every address the server would listen on: (address, TCP, what it serves).
fn listeners(settings: &Settings) -> Vec<(SocketAddr, bool, &'static str)> {
    let mut all = vec![(settings.bind, false, "TFTP: every phone")];
    if let Some(addr) = settings.http {
        all.push((addr, true, "HTTP (phones that fetch on 6970)"));
    }
    if let Some(addr) = settings.https {
        all.push((addr, true, "HTTPS (phones that fetch on 6971)"));
    }
    if let Some(addr) = settings.admin {
        all.push((addr, true, "the admin listener"));
    }
    all
}
