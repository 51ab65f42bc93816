//! What firmware every model and every known phone will be told to run, and what is missing
//! for it: `cnf-fw plan`, before a phone finds out.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use cnfkit_config::{CnfDocument, LoadForm, Mac};
use cnfkit_resolve::{
    Answer, Directory as _, FirmwareDecision, FsDirectory, Inventory, LoadsManifest, Resolver,
    firmware_decision,
};

use crate::{Error, Site, SiteOptions};

/// What a plan is made from: the tree, its firmware library, inventory and defaults as the
/// server would serve them, and the registry's state file for what each phone runs.
#[derive(Debug, Default, Clone)]
pub struct PlanOptions {
    /// The tree.
    pub root: PathBuf,
    /// The firmware library (`--firmware`).
    pub firmware: Option<PathBuf>,
    /// The inventory (`--inventory`).
    pub inventory: Option<PathBuf>,
    /// The device defaults (`--defaults`).
    pub defaults: Option<PathBuf>,
    /// The registry's state file (`--state`): the load each phone went for at its last boot.
    pub state: Option<PathBuf>,
}

/// The load the default configuration gives one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPlan {
    /// The model as the configuration names it (`Cisco 7942`, or the device type `434`), or
    /// `any other model` for the plain `<loadInformation>`.
    pub model: String,
    /// The load.
    pub load: String,
    /// What is missing for it.
    pub missing: Vec<String>,
}

/// One known phone: what it runs, what it will be told to run, and what that means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonePlan {
    /// The phone.
    pub mac: Mac,
    /// Its model, when the inventory or the registry knows it.
    pub model: Option<String>,
    /// The configuration it gets (`SEP<MAC>.cnf.xml`, or `XMLDefault.cnf.xml` when it has none).
    pub config: String,
    /// The load it went for at its last boot, as the registry recorded it.
    pub running: Option<String>,
    /// The load its configuration names for it.
    pub target: Option<String>,
    /// Upgrade, downgrade, nothing, or blocked.
    pub decision: FirmwareDecision,
    /// What is missing for the target load.
    pub missing: Vec<String>,
}

/// The plan: every model of the default configuration, every known phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// By model.
    pub models: Vec<ModelPlan>,
    /// By phone (inventory, state file and the tree's own `SEP` files), by MAC.
    pub phones: Vec<PhonePlan>,
}

impl Plan {
    /// Whether any piece is missing.
    #[must_use]
    pub fn has_missing(&self) -> bool {
        self.models.iter().any(|m| !m.missing.is_empty())
            || self.phones.iter().any(|p| !p.missing.is_empty())
    }
}

impl fmt::Display for ModelPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model {}: {}", self.model, self.load)?;
        if !self.missing.is_empty() {
            write!(f, "; missing: {}", self.missing.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for PhonePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = self.model.as_deref().unwrap_or("model unknown");
        let running = self.running.as_deref().unwrap_or("unknown");
        let target = self.target.as_deref().unwrap_or("none");
        let what = match &self.decision {
            FirmwareDecision::Upgrade { .. } => "upgrade".to_owned(),
            FirmwareDecision::Downgrade { .. } => "downgrade".to_owned(),
            FirmwareDecision::Change { .. } if self.running.is_none() => {
                "change (running load unknown)".to_owned()
            }
            FirmwareDecision::Change { .. } => "change".to_owned(),
            FirmwareDecision::Blocked { .. } => format!("blocked: {}", self.decision),
            FirmwareDecision::NoLoadNamed => "no load named".to_owned(),
            _ => "nothing".to_owned(),
        };
        write!(f, "SEP{} ({model}) {}: {running} -> {target}: {what}", self.mac, self.config)?;
        if !self.missing.is_empty() {
            write!(f, "; missing: {}", self.missing.join(", "))?;
        }
        Ok(())
    }
}

/// Makes the plan.
///
/// # Errors
/// The site's own errors (a tree, inventory, defaults or library that cannot be read), and a
/// state file that cannot be read.
pub fn plan(options: &PlanOptions) -> Result<Plan, Error> {
    let site = Site::load(SiteOptions {
        inventory: options.inventory.clone(),
        defaults: options.defaults.clone(),
        firmware: options.firmware.clone(),
        ..SiteOptions::new(&options.root)
    })?;
    // A plan writes nothing: a default rebuilt from the defaults is read, not saved.
    let resolver = &site.resolver.write_back_default(false);
    let default =
        config_bytes(resolver, "XMLDefault.cnf.xml").and_then(|b| CnfDocument::parse(&b).ok());
    let mut plan = Plan::default();
    if let Some(doc) = &default {
        for entry in doc.firmware().entries {
            if entry.load.trim().is_empty() || entry.form == LoadForm::Inactive {
                continue;
            }
            let model = match (&entry.model, entry.device_type, entry.form) {
                (Some(model), ..) => model.clone(),
                (None, Some(device_type), _) => format!("device type {}", device_type.0),
                (None, None, LoadForm::Plain) => "any other model".to_owned(),
                (None, None, _) => continue,
            };
            let missing = strings(missing_pieces(resolver, entry.load.trim()));
            plan.models.push(ModelPlan { model, load: entry.load.trim().to_owned(), missing });
        }
    }
    // Every phone known: the inventory's, the registry's, the tree's own SEP files.
    let mut phones: BTreeMap<Mac, (Option<String>, Option<String>)> = BTreeMap::new();
    if let Some(path) = &options.inventory {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.clone(), source })?;
        let inventory = Inventory::parse_csv(&text).map_err(|e| Error::in_file(path, e))?;
        for (mac, record) in inventory.iter() {
            phones.entry(*mac).or_default().0 = Some(record.model.clone());
        }
    }
    #[cfg(feature = "admin")]
    if let Some(path) = &options.state {
        let (records, _) = crate::state::StateFile::read(path)?;
        for record in records {
            let Some(mac) = record.mac else { continue };
            let entry = phones.entry(mac).or_default();
            if entry.0.is_none() {
                entry.0 = record.model.clone();
            }
            entry.1 = record.load.clone();
        }
    }
    for name in resolver.directory().list("") {
        let upper = name.to_ascii_uppercase();
        if let Some(mac) = upper
            .strip_prefix("SEP")
            .and_then(|rest| rest.strip_suffix(".CNF.XML"))
            .and_then(|hex| hex.parse::<Mac>().ok())
        {
            phones.entry(mac).or_default();
        }
    }
    for (mac, (model, running)) in phones {
        let own = format!("SEP{mac}.cnf.xml");
        let (config, target) =
            match config_bytes(resolver, &own).and_then(|b| CnfDocument::parse(&b).ok()) {
                Some(doc) => (own, doc.firmware().plain().map(|e| e.load.trim().to_owned())),
                None => {
                    let target = default.as_ref().and_then(|doc| {
                        let firmware = doc.firmware();
                        model
                            .as_deref()
                            .and_then(|m| firmware.for_model(m))
                            .or_else(|| firmware.plain())
                            .map(|e| e.load.trim().to_owned())
                    });
                    ("XMLDefault.cnf.xml".to_owned(), target)
                }
            };
        let target = target.filter(|t| !t.is_empty());
        let decision = firmware_decision(running.as_deref(), target.as_deref());
        let moves = matches!(
            decision,
            FirmwareDecision::Upgrade { .. }
                | FirmwareDecision::Downgrade { .. }
                | FirmwareDecision::Change { .. }
        );
        let missing = match (&target, moves) {
            (Some(load), true) => strings(missing_pieces(resolver, load)),
            _ => Vec::new(),
        };
        plan.phones.push(PhonePlan { mac, model, config, running, target, decision, missing });
    }
    Ok(plan)
}

fn strings(missing: Vec<Missing>) -> Vec<String> {
    missing.iter().map(ToString::to_string).collect()
}

/// The configuration `name` as the server would serve it (the tree's, or generated).
fn config_bytes(resolver: &Resolver<FsDirectory>, name: &str) -> Option<Vec<u8>> {
    match resolver.resolve(name.as_bytes()) {
        Answer::File { path, .. } => resolver.directory().read(&path).ok(),
        Answer::Generated { bytes, .. } => Some(bytes),
        _ => None,
    }
}

/// A piece of a load a phone would miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Neither the manifest (`<load>.loads`) nor, for the oldest 79xx loads, the one image.
    Manifest(String),
    /// An image the manifest lists.
    Image { image: String, manifest: String },
    /// An image of another size than the manifest announces.
    Size { image: String, len: u64, announced: u64, manifest: String },
    /// A file that is there but cannot be read or parsed.
    Unreadable { file: String, why: String },
}

impl Missing {
    /// The file concerned.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn file(&self) -> &str {
        match self {
            Self::Manifest(file)
            | Self::Image { image: file, .. }
            | Self::Size { image: file, .. }
            | Self::Unreadable { file, .. } => file,
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Manifest(file) => f.write_str(file),
            Self::Image { image, .. } => f.write_str(image),
            Self::Size { image, len, announced, .. } => {
                write!(f, "{image} ({len} bytes, {announced} announced)")
            }
            Self::Unreadable { file, why } => write!(f, "{file} ({why})"),
        }
    }
}

/// What a phone told to run `load` would miss.
pub(crate) fn missing_pieces<D: crate::OpenFile>(
    resolver: &Resolver<D>,
    load: &str,
) -> Vec<Missing> {
    let found = |name: &str| match resolver.resolve(name.as_bytes()) {
        Answer::File { path, .. } => Some(path),
        _ => None,
    };
    let manifest_name = format!("{load}.loads");
    let Some(manifest_path) = found(&manifest_name) else {
        if ["sbn", "bin", "sb2", "zz"].iter().any(|ext| found(&format!("{load}.{ext}")).is_some()) {
            return Vec::new();
        }
        return vec![Missing::Manifest(manifest_name)];
    };
    let manifest = match resolver.directory().read(&manifest_path).map(|b| LoadsManifest::parse(&b))
    {
        Ok(Ok(manifest)) => manifest,
        Ok(Err(e)) => {
            return vec![Missing::Unreadable {
                file: manifest_path,
                why: format!("does not parse: {e}"),
            }];
        }
        Err(e) => {
            return vec![Missing::Unreadable {
                file: manifest_path,
                why: format!("cannot be read: {e}"),
            }];
        }
    };
    let mut missing = Vec::new();
    for image in manifest.images {
        match found(&image.name) {
            None => {
                missing.push(Missing::Image { image: image.name, manifest: manifest_path.clone() });
            }
            Some(path) => {
                match (resolver.directory().open_served(&path).map(|s| s.len), image.size) {
                    (Ok(len), Some(announced)) if len != announced => missing.push(Missing::Size {
                        image: path,
                        len,
                        announced,
                        manifest: manifest_path.clone(),
                    }),
                    (Err(e), _) => missing.push(Missing::Unreadable {
                        file: path,
                        why: format!("cannot be read: {e}"),
                    }),
                    _ => {}
                }
            }
        }
    }
    missing
}
