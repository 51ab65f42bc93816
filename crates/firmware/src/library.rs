//! The firmware library: one folder per load, each holding the load's manifest (`.loads`), the
//! `termNN.default.loads` files that came with it, and its images.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use cnfkit_repack::{Certificate, SignedFile};
use cnfkit_resolve::LoadsManifest;

use crate::Error;
use crate::pack::{self, PackFormat, Staged};

/// A library of firmware loads in a folder of its own.
///
/// ```no_run
/// use cnfkit_firmware::Library;
/// let library = Library::open("/srv/firmware")?;
/// let imported = library.import("cmterm-7942_7962-sccp.9-4-2SR4-3.zip".as_ref(), None)?;
/// for load in library.loads()? {
///     println!("{}: {} images, terms {:?}", load.name, load.images.len(), load.terms);
/// }
/// # Ok::<(), cnfkit_firmware::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Library {
    dir: PathBuf,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The pack's format.
    pub format: PackFormat,
    /// The loads it held, each now in its folder.
    pub loads: Vec<String>,
    /// The loads that were in the library already, with the same files (nothing to do).
    pub already: Vec<String>,
    /// Files of the pack no manifest lists (read-me files, scripts), left out.
    pub left_out: Vec<String>,
    /// The signer a `.cop.sgn` names.
    pub signer: Option<String>,
}

/// One load of the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// Its name: the manifest's file name without `.loads` (`SCCP42.9-4-2SR4-3S`).
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// The `termNN.default.loads` files that came with it (`term42`, `term62`): the models a
    /// factory-reset phone of which asks for them.
    pub terms: Vec<String>,
    /// Its images, in the order the phone fetches them, with their sizes on disk.
    pub images: Vec<(String, u64)>,
    /// Who signed its manifest, when it has a Cisco signed header.
    pub signer: Option<String>,
    /// What is wrong with it (an image missing or of another size than announced).
    pub problems: Vec<String>,
}

/// Every file of the library by the flat name a phone asks for, ignoring case.
#[derive(Debug, Clone, Default)]
pub struct LibraryIndex {
    files: HashMap<String, PathBuf>,
    conflicts: BTreeMap<String, Vec<String>>,
}

impl LibraryIndex {
    /// The file a phone asking for `name` gets (any letter case), unless two loads hold
    /// different files under that name.
    #[must_use]
    pub fn find(&self, name: &str) -> Option<&Path> {
        self.files.get(&name.to_ascii_lowercase()).map(PathBuf::as_path)
    }

    /// Names two or more loads hold with different content, with those loads: never served
    /// (which one a phone got would be chance).
    #[must_use]
    pub fn conflicts(&self) -> &BTreeMap<String, Vec<String>> {
        &self.conflicts
    }

    /// Every file that can be served: its lower-cased name, and where it is.
    #[must_use]
    pub fn files(&self) -> &HashMap<String, PathBuf> {
        &self.files
    }

    /// Files that can be served.
    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

fn is_manifest(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".loads")
}

/// `term42` for `term42.default.loads` (any case); `None` for a load's own manifest.
fn term_of(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".default.loads")?;
    let digits = stem.strip_prefix("term")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| stem.to_owned())
}

fn load_name(manifest: &str) -> &str {
    let cut = manifest.len() - ".loads".len();
    &manifest[..cut]
}

impl Library {
    /// The library in `dir` (created when missing). Staging folders an interrupted import left
    /// are removed.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be made or read.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        for entry in std::fs::read_dir(&dir).map_err(Error::io(&dir))? {
            let entry = entry.map_err(Error::io(&dir))?;
            if entry.file_name().to_string_lossy().starts_with(".import-") {
                let path = entry.path();
                std::fs::remove_dir_all(&path).map_err(Error::io(&path))?;
            }
        }
        Ok(Self { dir })
    }

    /// Its folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Imports a firmware pack: unpacks it into a staging folder, checks that every image
    /// each manifest lists is there at the size it announces, and moves each load into its
    /// folder. A pack with an entry that would land outside the library, or whose manifests do
    /// not match its images, is refused with nothing written. `trust`: the certificate a
    /// `.cop.sgn` must verify against (without it, its header is read, not verified).
    ///
    /// # Errors
    /// [`Error::Unsafe`], [`Error::Unreadable`], [`Error::Signature`], [`Error::Incomplete`],
    /// [`Error::Conflict`] (a load already there with other files), [`Error::Io`].
    pub fn import(&self, pack: &Path, trust: Option<&Certificate>) -> Result<Imported, Error> {
        let staging = pack::staging_dir(&self.dir);
        std::fs::create_dir(&staging).map_err(Error::io(&staging))?;
        let result = self.import_staged(pack, &staging, trust);
        let _ = std::fs::remove_dir_all(&staging);
        result
    }

    fn import_staged(
        &self,
        pack: &Path,
        staging: &Path,
        trust: Option<&Certificate>,
    ) -> Result<Imported, Error> {
        let unpacked = pack::unpack(pack, staging, trust)?;
        let by_name: HashMap<String, &Staged> =
            unpacked.files.iter().map(|f| (f.name.to_ascii_lowercase(), f)).collect();
        let mut problems = Vec::new();
        // Each manifest with the images it lists, as staged.
        let mut manifests: Vec<(&Staged, Vec<&Staged>)> = Vec::new();
        for file in unpacked.files.iter().filter(|f| is_manifest(&f.name)) {
            // The load's folder is named after it: an empty name would be the library itself,
            // a leading dot a hidden folder that listing skips (an import that then lists
            // nothing). No Cisco load is named so.
            let load = load_name(&file.name);
            if load.is_empty() || load.starts_with('.') {
                problems.push(format!(
                    "{}: a load's name must not be empty or start with a dot",
                    file.name
                ));
                continue;
            }
            let bytes = std::fs::read(staging.join(&file.name)).map_err(Error::io(staging))?;
            let manifest = match LoadsManifest::parse(&bytes) {
                Ok(manifest) => manifest,
                Err(e) => {
                    problems.push(format!("{}: {e}", file.name));
                    continue;
                }
            };
            let mut images = Vec::new();
            for image in &manifest.images {
                match by_name.get(&image.name.to_ascii_lowercase()) {
                    None => problems
                        .push(format!("{} lists {}, which is missing", file.name, image.name)),
                    Some(staged) => {
                        if let Some(size) = image.size.filter(|size| *size != staged.size) {
                            problems.push(format!(
                                "{} is {} bytes, {} announces {size}",
                                staged.name, staged.size, file.name
                            ));
                        }
                        images.push(*staged);
                    }
                }
            }
            manifests.push((file, images));
        }
        let (terms, loads): (Vec<_>, Vec<_>) =
            manifests.into_iter().partition(|(m, _)| term_of(&m.name).is_some());
        if loads.is_empty() && problems.is_empty() {
            problems.push("no load manifest (NAME.loads): not a firmware pack".to_owned());
        }
        if !problems.is_empty() {
            return Err(Error::Incomplete { pack: pack.to_owned(), problems });
        }
        // Each load's folder: its manifest, its images, and the term files that list images of
        // its own (a 7942/7962 pack: term42 and term62 both name the 42 images).
        let mut used = std::collections::HashSet::new();
        let mut plans = Vec::new();
        for (manifest, images) in &loads {
            let mut files: Vec<&Staged> = vec![manifest];
            files.extend(images.iter().copied());
            for (term, term_images) in &terms {
                if term_images.iter().all(|t| images.iter().any(|i| i.name == t.name)) {
                    files.push(term);
                }
            }
            files.sort_by(|a, b| a.name.cmp(&b.name));
            files.dedup_by(|a, b| a.name == b.name);
            used.extend(files.iter().map(|f| f.name.clone()));
            plans.push((load_name(&manifest.name).to_owned(), files));
        }
        let left_out: Vec<String> = unpacked
            .files
            .iter()
            .filter(|f| !used.contains(&f.name))
            .map(|f| f.name.clone())
            .collect();
        // Every target is checked before any moves: a pack is imported whole or not at all.
        let mut already = Vec::new();
        let mut fresh = Vec::new();
        for (load, files) in plans {
            let target = self.dir.join(&load);
            if target.exists() {
                if same_files(staging, &target, &files)? {
                    already.push(load);
                    continue;
                }
                return Err(Error::Conflict { load, dir: target });
            }
            fresh.push((load, files));
        }
        let mut loads = Vec::new();
        for (load, files) in fresh {
            let folder = staging.join(format!(".load-{load}"));
            std::fs::create_dir(&folder).map_err(Error::io(&folder))?;
            for file in files {
                let from = staging.join(&file.name);
                std::fs::hard_link(&from, folder.join(&file.name))
                    .or_else(|_| std::fs::copy(&from, folder.join(&file.name)).map(drop))
                    .map_err(Error::io(&from))?;
            }
            let target = self.dir.join(&load);
            std::fs::rename(&folder, &target).map_err(Error::io(&target))?;
            loads.push(load);
        }
        Ok(Imported { format: unpacked.format, loads, already, left_out, signer: unpacked.signer })
    }

    /// The loads in the library, by name.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be read.
    pub fn loads(&self) -> Result<Vec<Load>, Error> {
        let mut loads = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(Error::io(&self.dir))? {
            let entry = entry.map_err(Error::io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            loads.push(read_load(&entry.path(), &name)?);
        }
        loads.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(loads)
    }

    /// Every file of every load by the flat name a phone asks for, with the names two loads
    /// hold with different content set apart.
    ///
    /// # Errors
    /// [`Error::Io`] when a folder cannot be read.
    pub fn index(&self) -> Result<LibraryIndex, Error> {
        let mut seen: HashMap<String, (PathBuf, String)> = HashMap::new();
        let mut index = LibraryIndex::default();
        for load in self.loads()? {
            for entry in std::fs::read_dir(&load.dir).map_err(Error::io(&load.dir))? {
                let entry = entry.map_err(Error::io(&load.dir))?;
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let key = entry.file_name().to_string_lossy().to_ascii_lowercase();
                let path = entry.path();
                match seen.get(&key) {
                    None => {
                        seen.insert(key, (path, load.name.clone()));
                    }
                    Some((other, first)) => {
                        if !same_content(other, &path)? {
                            let loads =
                                index.conflicts.entry(key).or_insert_with(|| vec![first.clone()]);
                            loads.push(load.name.clone());
                        }
                    }
                }
            }
        }
        index.files = seen
            .into_iter()
            .filter(|(key, _)| !index.conflicts.contains_key(key))
            .map(|(key, (path, _))| (key, path))
            .collect();
        Ok(index)
    }
}

fn read_load(dir: &Path, name: &str) -> Result<Load, Error> {
    let mut load = Load {
        name: name.to_owned(),
        dir: dir.to_owned(),
        terms: Vec::new(),
        images: Vec::new(),
        signer: None,
        problems: Vec::new(),
    };
    let mut files: HashMap<String, (String, u64)> = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let size = entry.metadata().map_err(Error::io(entry.path()))?.len();
        if let Some(term) = term_of(&file) {
            load.terms.push(term);
        }
        files.insert(file.to_ascii_lowercase(), (file, size));
    }
    load.terms.sort();
    let manifest_name = format!("{name}.loads").to_ascii_lowercase();
    let Some((manifest_file, _)) = files.get(&manifest_name) else {
        load.problems.push(format!("no {name}.loads in the folder"));
        return Ok(load);
    };
    let path = dir.join(manifest_file);
    let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
    load.signer = SignedFile::parse(&bytes).ok().map(|signed| signed.signer().name);
    match LoadsManifest::parse(&bytes) {
        Ok(manifest) => {
            for image in manifest.images {
                match files.get(&image.name.to_ascii_lowercase()) {
                    Some((_, size)) => {
                        if let Some(announced) = image.size.filter(|a| a != size) {
                            load.problems.push(format!(
                                "{} is {size} bytes, the manifest announces {announced}",
                                image.name
                            ));
                        }
                        load.images.push((image.name, *size));
                    }
                    None => load.problems.push(format!("{} is missing", image.name)),
                }
            }
        }
        Err(e) => load.problems.push(format!("{manifest_file}: {e}")),
    }
    Ok(load)
}

/// Whether the load folder `target` holds exactly `files` of `staging`, byte for byte.
fn same_files(staging: &Path, target: &Path, files: &[&Staged]) -> Result<bool, Error> {
    for file in files {
        let there = target.join(&file.name);
        if !there.exists() || !same_content(&staging.join(&file.name), &there)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn same_content(a: &Path, b: &Path) -> Result<bool, Error> {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).map_err(Error::io(p));
    if len(a)? != len(b)? {
        return Ok(false);
    }
    let read = |p: &Path| std::fs::read(p).map_err(Error::io(p));
    Ok(read(a)? == read(b)?)
}
