//! A served tree on disk, with what the resolver generates from: the inventory, the device
//! defaults, and the signer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cnfkit_config::{CnfDocument, ParseOptions};
use cnfkit_resolve::{
    DeviceDefaults, Directory, FsDirectory, Inventory, InventoryGenerator, Resolver, Rollouts,
    TreeObserver,
};

use crate::{ConfigSigner, Error};

/// The default configuration every new phone falls back to.
const XML_DEFAULT: &str = "XMLDefault.cnf.xml";
/// Where admins leave it when they want it rebuilt.
const XML_DEFAULT_OLD: &str = "XMLDefault.cnf.xml.old";

/// What a [`Site`] is loaded from.
#[derive(Debug)]
pub struct SiteOptions {
    /// The tree to serve.
    pub root: PathBuf,
    /// Phones (CSV with a header row): their `SEP<MAC>.cnf.xml` is generated when the tree has
    /// none.
    pub inventory: Option<PathBuf>,
    /// Device defaults (TOML: `call_managers`, `[loads]`, `[urls]`).
    pub defaults: Option<PathBuf>,
    /// The call manager the generated files name when neither `defaults` nor an
    /// `XMLDefault.cnf.xml.old` says (usually the server's own address).
    pub call_manager: Option<String>,
    /// Serve `.sgn` variants signed on the fly with this signer.
    pub signer: Option<ConfigSigner>,
    /// Told of misses and created files (the `Mirror` of an object store that fills the
    /// tree).
    pub observer: Option<Arc<dyn TreeObserver>>,
    /// A firmware library (cnfkit-firmware) whose manifests and images are served by the flat
    /// name a phone asks for, in any letter case, when the tree has no file of that name.
    pub firmware: Option<PathBuf>,
}

impl SiteOptions {
    /// A tree served as it is: no inventory, no defaults, no signing.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            inventory: None,
            defaults: None,
            call_manager: None,
            signer: None,
            observer: None,
            firmware: None,
        }
    }
}

/// Where the device defaults of a [`Site`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultsSource {
    /// None: a missing `XMLDefault.cnf.xml` cannot be rebuilt.
    None,
    /// The defaults file given.
    File(PathBuf),
    /// `XMLDefault.cnf.xml.old` in the tree (its call managers and loads), because no defaults
    /// file was given and `XMLDefault.cnf.xml` is missing.
    OldDefault,
    /// Only the call manager of [`SiteOptions::call_manager`].
    CallManager(String),
}

/// A tree ready to serve.
pub struct Site {
    /// The resolver over the tree.
    pub resolver: Resolver<FsDirectory>,
    /// The tree (for writes: [`Writes::On`](crate::Writes::On) takes it).
    pub directory: FsDirectory,
    /// Phones in the inventory.
    pub inventory_len: usize,
    /// Where the device defaults came from.
    pub defaults: DefaultsSource,
    /// Whether the tree has an `XMLDefault.cnf.xml` now.
    pub has_xml_default: bool,
    /// Problems worth a warning that do not stop the server.
    pub warnings: Vec<SiteWarning>,
    /// Temporary files of writes a killed process left (uploads, edits), removed at load.
    pub stale_temps_removed: Vec<PathBuf>,
    /// The firmware library served: its folder, its loads, the files served from it.
    pub firmware: Option<(PathBuf, usize, usize)>,
    /// The defaults' staged rollouts, for the registry to judge
    /// ([`Monitor::attach_rollouts`](crate::Monitor::attach_rollouts)).
    pub rollouts: Rollouts,
}

impl Site {
    /// Opens the tree and reads the inventory and defaults.
    ///
    /// Without a defaults file, and while `XMLDefault.cnf.xml` itself is missing, an
    /// `XMLDefault.cnf.xml.old` in the tree stands in for one: its call managers and loads rebuild
    /// the file (the rebuild is cnfkit's own feature; see the resolver's documentation).
    ///
    /// # Errors
    /// [`Error::Io`] when the root or a named file cannot be read; [`Error::InFile`] naming the
    /// inventory or defaults file when its content is refused.
    pub fn load(options: SiteOptions) -> Result<Self, Error> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let mut directory = FsDirectory::new(&options.root).map_err(io(&options.root))?;
        if let Some(observer) = options.observer {
            directory = directory.with_observer(observer);
        }
        let mut warnings = Vec::new();
        let mut firmware = None;
        if let Some(dir) = &options.firmware {
            let library = cnfkit_firmware::Library::open(dir)?;
            let loads = library.loads()?;
            let index = library.index()?;
            for load in &loads {
                for problem in &load.problems {
                    warnings.push(SiteWarning::Firmware(format!("load {}: {problem}", load.name)));
                }
            }
            for (name, holders) in index.conflicts() {
                warnings.push(SiteWarning::Firmware(format!(
                    "{name} differs between loads {}: served from none of them (keep one, or \
                     put the one to serve in the tree)",
                    holders.join(" and ")
                )));
            }
            firmware = Some((dir.clone(), loads.len(), index.len()));
            directory = directory.with_library(index.files().clone());
        }
        let stale_temps_removed = cnfkit_fs::remove_stale_temps_in_tree(directory.root(), 16);
        let read = |path: &Path| std::fs::read_to_string(path).map_err(io(path));
        let inventory = match &options.inventory {
            Some(path) => {
                Some(Inventory::parse_csv(&read(path)?).map_err(|e| Error::in_file(path, e))?)
            }
            None => None,
        };
        let has_xml_default = directory.find_ignore_case("", XML_DEFAULT).is_some();
        let (defaults, source) = match &options.defaults {
            Some(path) => {
                let defaults = DeviceDefaults::parse_toml(&read(path)?)
                    .map_err(|e| Error::in_file(path, e))?;
                defaults.xml_default().map_err(|e| Error::in_file(path, e))?;
                (Some(defaults), DefaultsSource::File(path.clone()))
            }
            // Only while the file itself is missing: every edit leaves a .old, and the
            // previous version must not stand in for the current one.
            None if has_xml_default => (None, DefaultsSource::None),
            None => match old_defaults(&directory) {
                Some(Ok(defaults)) => (Some(defaults), DefaultsSource::OldDefault),
                Some(Err(why)) => {
                    warnings.push(SiteWarning::OldDefaultUnusable(why));
                    (None, DefaultsSource::None)
                }
                None => (None, DefaultsSource::None),
            },
        };
        let (defaults, source) = match (defaults, &options.call_manager) {
            (None, Some(host)) if inventory.is_some() => (
                Some(DeviceDefaults::with_call_manager(host)),
                DefaultsSource::CallManager(host.clone()),
            ),
            (defaults, _) => (defaults, source),
        };
        let inventory_len = inventory.as_ref().map_or(0, Inventory::len);
        let mut resolver = Resolver::new(directory.clone());
        let mut rollouts = Rollouts::default();
        if let Some(defaults) = defaults {
            let generator = InventoryGenerator::new(inventory.unwrap_or_default(), defaults);
            rollouts = generator.rollouts.clone();
            resolver = resolver.with_generator(generator);
        }
        if let Some(signer) = options.signer {
            resolver = resolver.with_signer(signer);
        }
        // Ring lists, image lists and thumbnails, when the tree has none of its own.
        resolver = resolver.with_derived(crate::media::PhoneMedia::new());
        Ok(Self {
            has_xml_default,
            resolver,
            directory,
            inventory_len,
            defaults: source,
            warnings,
            stale_temps_removed,
            firmware,
            rollouts,
        })
    }
}

/// A problem with a tree that does not stop the server.
#[derive(Debug)]
#[non_exhaustive]
pub enum SiteWarning {
    /// `XMLDefault.cnf.xml` is missing and its `.old` cannot stand in for the defaults.
    OldDefaultUnusable(Error),
    /// A firmware library's load with a missing or damaged image, or a name two loads hold
    /// with different content (served from none of them).
    Firmware(String),
}

/// What an admin should know at start about a site's default configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultsNote {
    /// Worth a line.
    Info(&'static str),
    /// New phones cannot boot.
    Warning(&'static str),
}

/// A line for the admin at start: what [`Site::start_notes`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteNote {
    /// A problem (new phones may not boot, a file cannot be used), not just information.
    pub warning: bool,
    /// The line, without the tool's name.
    pub text: String,
}

impl Site {
    /// Everything worth a line at start, in order: warnings, the temporary files removed, the
    /// inventory's size (when `inventory_given`), and the note about the default
    /// configuration.
    #[must_use]
    pub fn start_notes(&self, inventory_given: bool) -> Vec<SiteNote> {
        let note = |warning, text: String| SiteNote { warning, text };
        let mut notes: Vec<SiteNote> =
            self.warnings.iter().map(|w| note(true, w.to_string())).collect();
        notes.extend(self.stale_temps_removed.iter().map(|temp| {
            note(
                false,
                format!("removed {} (a write a stopped server left unfinished)", temp.display()),
            )
        }));
        if inventory_given {
            notes.push(note(false, format!("{} phones in the inventory", self.inventory_len)));
        }
        if let Some((dir, loads, files)) = &self.firmware {
            let text = format!("firmware library {}: {loads} loads, {files} files", dir.display());
            notes.push(note(false, text));
        }
        match self.defaults_note() {
            Some(DefaultsNote::Info(text)) => notes.push(note(false, text.to_owned())),
            Some(DefaultsNote::Warning(text)) => notes.push(note(true, text.to_owned())),
            None => {}
        }
        notes
    }

    /// The note about the default configuration, if there is one to make.
    #[must_use]
    pub fn defaults_note(&self) -> Option<DefaultsNote> {
        match (&self.defaults, self.has_xml_default) {
            (DefaultsSource::OldDefault, false) => Some(DefaultsNote::Info(
                "XMLDefault.cnf.xml is missing: it is rebuilt from the call managers and loads of \
                 XMLDefault.cnf.xml.old at the first request",
            )),
            (DefaultsSource::OldDefault, true) => {
                Some(DefaultsNote::Info("device defaults taken from XMLDefault.cnf.xml.old"))
            }
            (DefaultsSource::None, false) => Some(DefaultsNote::Warning(
                "no XMLDefault.cnf.xml, no XMLDefault.cnf.xml.old and no --defaults to build it: \
                 new phones cannot boot",
            )),
            _ => None,
        }
    }
}

impl std::fmt::Display for SiteWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OldDefaultUnusable(why) => {
                write!(f, "{XML_DEFAULT_OLD} cannot stand in for defaults: {why}")
            }
            Self::Firmware(what) => write!(f, "firmware library: {what}"),
        }
    }
}

/// The device defaults an `XMLDefault.cnf.xml.old` holds, if the tree has one.
fn old_defaults(directory: &FsDirectory) -> Option<Result<DeviceDefaults, Error>> {
    let name = directory.find_ignore_case("", XML_DEFAULT_OLD)?;
    let path = directory.root().join(&name);
    let parsed = directory
        .read(&name)
        .map_err(|source| Error::Io { path: path.clone(), source })
        .and_then(|bytes| {
            let doc = CnfDocument::parse_owned(bytes, ParseOptions::default())
                .map_err(|e| Error::in_file(&path, e))?;
            DeviceDefaults::from_document(&doc).map_err(|e| Error::in_file(&path, e))
        });
    Some(parsed)
}
