//! The inventory (which phone is which) and the device defaults (what XMLDefault says), as admins
//! keep them: a CSV with a header row, and a small TOML file.

use std::collections::BTreeMap;

use cnfkit_config::{
    CallManagerSpec, CnfDocument, DefaultBuilder, DeviceType, LineRecord, LoadForm, MacCase,
    PhoneRecord, Protocol, build_device,
};
use serde::Deserialize;

use crate::{ConfigGenerator, DefaultsProblem, Error, FileKind, Mac, Rollout, Rollouts};

/// One problem in an inventory file, with its line (1-based, the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The line in the file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl core::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A csv error without its position (the row problem carries the line).
fn csv_error(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_owned(),
        csv::ErrorKind::Io(e) => e.to_string(),
        _ => error.to_string(),
    }
}

/// The columns an inventory may have (header names compare ignoring case, `_` and spaces).
const COLUMNS: &[&str] = &[
    "mac",
    "model",
    "protocol",
    "description",
    "lines",
    "load",
    "locale",
    "callmanagers",
    "label",
];

fn column_key(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, '_' | ' ' | '-'))
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Phones by MAC, read from a CSV with a header row.
///
/// Columns: `mac` and `model` (required), `protocol` (`SCCP` or `SIP`, default SCCP),
/// `description`, `lines` (`100:Alice;101:Bob:secret`, each `NUMBER[:LABEL[:PASSWORD]]` as
/// [`LineRecord`](cnfkit_config::LineRecord) parses it), `load`, `locale`
/// (`English_United_States`), `call_managers` (`10.0.0.1;10.0.0.2`, else the defaults'),
/// `label`, and any number of `vendor:NAME` columns that go into `vendorConfig`.
///
/// ```
/// use cnfkit_resolve::Inventory;
///
/// let csv = "mac,model,protocol,lines,vendor:webAccess\n001122AABBCC,7942,SIP,100:Alice,0\n";
/// let inventory = Inventory::parse_csv(csv)?;
/// let phone = inventory.get(&"001122aabbcc".parse()?).unwrap();
/// assert_eq!(phone.lines[0].label.as_deref(), Some("Alice"));
/// assert_eq!(phone.vendor_config, [("webAccess".to_owned(), "0".to_owned())]);
/// # Ok::<(), cnfkit_resolve::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    phones: BTreeMap<Mac, PhoneRecord>,
}

impl Inventory {
    /// Reads an inventory. Every bad row is reported, none skipped silently.
    ///
    /// # Errors
    /// [`Error::BadInventory`] listing each problem with its line number.
    pub fn parse_csv(text: &str) -> Result<Self, Error> {
        let mut problems = Vec::new();
        // RFC 4180 through the csv crate: quoted fields may hold commas, quotes and line
        // breaks; `#` starts a comment line; a leading UTF-8 BOM (spreadsheet exports) is
        // dropped. Rows are checked against the header here, each with its line number.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.strip_prefix('\u{feff}').unwrap_or(text).as_bytes());
        let line_of = |position: Option<&csv::Position>| {
            position.map_or(1, |p| usize::try_from(p.line()).unwrap_or(usize::MAX))
        };
        let mut rows = reader.records().filter(|row| {
            // A line of spaces is a record of one empty field: no row.
            !matches!(row, Ok(record) if record.iter().all(str::is_empty))
        });
        let header = match rows.next() {
            Some(Ok(header)) => header,
            Some(Err(e)) => {
                return Err(Error::BadInventory {
                    problems: vec![RowProblem {
                        line: line_of(e.position()),
                        message: csv_error(&e),
                    }],
                });
            }
            None => {
                return Err(Error::BadInventory {
                    problems: vec![RowProblem {
                        line: 1,
                        message: "empty file: a header row is needed".into(),
                    }],
                });
            }
        };
        let header_line = line_of(header.position());
        let headers: Vec<String> = header.iter().map(str::to_owned).collect();
        for h in &headers {
            if !COLUMNS.contains(&column_key(h).as_str())
                && !h.to_ascii_lowercase().starts_with("vendor:")
            {
                problems.push(RowProblem {
                    line: header_line,
                    message: format!("unknown column {h:?}"),
                });
            }
        }
        let column = |name: &str| headers.iter().position(|h| column_key(h) == name);
        let (Some(mac_col), Some(model_col)) = (column("mac"), column("model")) else {
            problems.push(RowProblem {
                line: header_line,
                message: "the columns mac and model are required".into(),
            });
            return Err(Error::BadInventory { problems });
        };
        let mut phones = BTreeMap::new();
        for row in rows {
            let number = match &row {
                Ok(record) => line_of(record.position()),
                Err(e) => line_of(e.position()),
            };
            let mut fail = |message: String| problems.push(RowProblem { line: number, message });
            let fields: Vec<String> = match row {
                Ok(record) if record.len() == headers.len() => {
                    record.iter().map(str::to_owned).collect()
                }
                Ok(record) => {
                    fail(format!("{} fields, the header has {}", record.len(), headers.len()));
                    continue;
                }
                Err(e) => {
                    fail(csv_error(&e));
                    continue;
                }
            };
            let get =
                |name: &str| column(name).map(|i| fields[i].as_str()).filter(|v| !v.is_empty());
            let mac: Mac = match fields[mac_col].parse() {
                Ok(mac) => mac,
                Err(_) => {
                    fail(format!("{:?} is not a MAC address", fields[mac_col]));
                    continue;
                }
            };
            if fields[model_col].is_empty() {
                fail("model is empty".into());
                continue;
            }
            let protocol = match get("protocol").map(str::parse::<Protocol>).transpose() {
                Ok(protocol) => protocol.unwrap_or_default(),
                Err(e) => {
                    fail(e.to_string());
                    continue;
                }
            };
            let lines: Result<Vec<LineRecord>, _> = get("lines")
                .map(|spec| {
                    spec.split(';').filter(|l| !l.trim().is_empty()).map(str::parse).collect()
                })
                .unwrap_or_else(|| Ok(Vec::new()));
            let lines = match lines {
                Ok(lines) => lines,
                Err(e) => {
                    fail(format!("lines: {e}"));
                    continue;
                }
            };
            let vendor_config = headers
                .iter()
                .zip(&fields)
                .filter_map(|(h, v)| {
                    Some((
                        h.get(7..)
                            .filter(|_| h.to_ascii_lowercase().starts_with("vendor:"))?
                            .to_owned(),
                        v.clone(),
                    ))
                })
                .filter(|(_, v)| !v.is_empty())
                .collect();
            let record = PhoneRecord {
                mac,
                model: fields[model_col].clone(),
                protocol,
                lines,
                call_managers: get("callmanagers")
                    .map(|s| {
                        s.split(';')
                            .filter(|h| !h.trim().is_empty())
                            .map(|h| CallManagerSpec::new(h.trim()))
                            .collect()
                    })
                    .unwrap_or_default(),
                load: get("load").map(str::to_owned),
                user_locale: get("locale").map(|l| (l.to_owned(), String::new())),
                vendor_config,
                phone_label: get("label").or_else(|| get("description")).map(str::to_owned),
                ..PhoneRecord::default()
            };
            if phones.insert(mac, record).is_some() {
                fail(format!("MAC {mac} appears twice"));
            }
        }
        if problems.is_empty() {
            Ok(Self { phones })
        } else {
            Err(Error::BadInventory { problems })
        }
    }

    /// The record of a phone.
    #[must_use]
    pub fn get(&self, mac: &Mac) -> Option<&PhoneRecord> {
        self.phones.get(mac)
    }

    /// The phones, by MAC address in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Mac, &PhoneRecord)> {
        self.phones.iter()
    }

    /// Number of phones.
    #[must_use]
    pub fn len(&self) -> usize {
        self.phones.len()
    }

    /// Whether there is no phone.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.phones.is_empty()
    }

    /// Adds or replaces a phone.
    pub fn insert(&mut self, mac: Mac, record: PhoneRecord) {
        self.phones.insert(mac, record);
    }
}

/// What every phone gets unless its inventory record says otherwise: the contents of the
/// generated `XMLDefault.cnf.xml`.
///
/// ```
/// use cnfkit_resolve::DeviceDefaults;
///
/// let defaults = DeviceDefaults::parse_toml(r#"
/// call_managers = ["10.0.0.1", "10.0.0.2"]
/// [loads]
/// 434 = "SCCP42.9-4-2SR3-1S"   # by device type number
/// "8845" = "sip8845_65.14-2-1-0001-14"   # or by model
/// [urls]
/// servicesURL = "http://10.0.0.3/services.xml"
/// "#)?;
/// let xml = String::from_utf8(defaults.xml_default()?)?;
/// assert!(xml.contains("<loadInformation434"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDefaults {
    /// Call managers in priority order (host names or addresses).
    pub call_managers: Vec<String>,
    /// Loads by device type number or model (`"434"` or `"7942"`).
    #[serde(default)]
    pub loads: BTreeMap<String, String>,
    /// URL elements (`servicesURL`, `directoryURL`...).
    #[serde(default)]
    pub urls: BTreeMap<String, String>,
    /// The call manager group's name.
    #[serde(default)]
    pub group_name: Option<String>,
    /// Staged rollouts by model (`[rollouts."7942"]`): a new load for a share of the model's
    /// inventoried phones ([`Rollout`]).
    #[serde(default)]
    pub rollouts: BTreeMap<String, Rollout>,
}

impl DeviceDefaults {
    /// Defaults with one call manager and no loads.
    #[must_use]
    pub fn with_call_manager(host: &str) -> Self {
        Self { call_managers: vec![host.to_owned()], ..Self::default() }
    }

    /// Reads the TOML form.
    ///
    /// # Errors
    /// [`Error::BadDefaults`] with the TOML parser's message (line and column).
    pub fn parse_toml(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|e| Error::BadDefaults(DefaultsProblem::Toml(e)))
    }

    /// The device type a `loads` key names: a number, or a model the device type table knows.
    /// Builds `XMLDefault.cnf.xml`.
    ///
    /// # Errors
    /// [`Error::BadDefaults`] when a load key is neither a device type number nor a known model,
    /// or the builder refuses a value (no call manager, a host over 50 characters...).
    pub fn xml_default(&self) -> Result<Vec<u8>, Error> {
        let mut builder = DefaultBuilder::new();
        if let Some(name) = &self.group_name {
            builder = builder.group_name(name);
        }
        for host in &self.call_managers {
            builder = builder.call_manager(CallManagerSpec::new(host));
        }
        for (key, load) in &self.loads {
            let device_type = DeviceType::from_key(key)
                .ok_or_else(|| Error::BadDefaults(DefaultsProblem::UnknownLoadKey(key.clone())))?;
            builder = builder.load(device_type, load);
        }
        for (element, url) in &self.urls {
            builder = builder.url(element, url);
        }
        let doc = builder.build().map_err(|e| Error::BadDefaults(DefaultsProblem::Build(e)))?;
        Ok(doc.into_bytes())
    }

    /// The defaults an existing default configuration carries: its call managers (by priority),
    /// its numbered loads (keyed by device type number), its call manager group's name and its
    /// URLs. This is how an `XMLDefault.cnf.xml.old` an admin left behind rebuilds the file.
    ///
    /// ```
    /// use cnfkit_config::CnfDocument;
    /// use cnfkit_resolve::DeviceDefaults;
    ///
    /// let mut defaults = DeviceDefaults::with_call_manager("10.0.0.5");
    /// defaults.loads.insert("7942".into(), "SCCP42.9-4-2SR3-1S".into());
    /// let old = CnfDocument::parse(&defaults.xml_default()?)?;
    /// let back = DeviceDefaults::from_document(&old)?;
    /// assert_eq!(back.call_managers, ["10.0.0.5"]);
    /// assert_eq!(back.loads.get("434").map(String::as_str), Some("SCCP42.9-4-2SR3-1S"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BadDefaults`] when the document names no call manager.
    pub fn from_document(doc: &CnfDocument) -> Result<Self, Error> {
        let group = doc.call_manager_group();
        let mut members = group.as_ref().map(|g| g.members.clone()).unwrap_or_default();
        members.sort_by_key(|m| m.priority.unwrap_or(u8::MAX));
        let call_managers: Vec<String> =
            members.into_iter().filter_map(|m| m.process_node_name).collect();
        if call_managers.is_empty() {
            return Err(Error::BadDefaults(DefaultsProblem::NoCallManager));
        }
        let loads = doc
            .firmware()
            .entries
            .into_iter()
            .filter(|e| e.form == LoadForm::Numbered && !e.load.is_empty())
            .filter_map(|e| Some((e.device_type?.0.to_string(), e.load)))
            .collect();
        Ok(Self {
            call_managers,
            loads,
            urls: doc.urls().into_iter().filter(|(name, _)| name.ends_with("URL")).collect(),
            group_name: group.and_then(|g| g.name),
            rollouts: BTreeMap::new(),
        })
    }

    /// The load the defaults give a model, if any.
    #[must_use]
    pub fn load_for_model(&self, model: &str) -> Option<&str> {
        let device_type = DeviceType::from_model(model);
        self.loads
            .iter()
            .find(|(key, _)| {
                key.eq_ignore_ascii_case(model)
                    || (device_type.is_some() && DeviceType::from_key(key) == device_type)
            })
            .map(|(_, load)| load.as_str())
    }
}

/// A [`ConfigGenerator`] from an inventory and device defaults: `SEP<MAC>.cnf.xml` for every
/// inventoried phone (call managers and load from the defaults unless its record sets them), and
/// `XMLDefault.cnf.xml` from the defaults.
#[derive(Debug, Clone)]
pub struct InventoryGenerator {
    /// The phones.
    pub inventory: Inventory,
    /// The defaults.
    pub defaults: DeviceDefaults,
    /// Where the defaults' rollouts stand ([`InventoryGenerator::new`] makes them).
    pub rollouts: Rollouts,
}

impl InventoryGenerator {
    /// A generator for `inventory` with `defaults`, its rollouts not started.
    #[must_use]
    pub fn new(inventory: Inventory, defaults: DeviceDefaults) -> Self {
        let rollouts = Rollouts::new(&defaults.rollouts);
        Self { inventory, defaults, rollouts }
    }

    /// The full record a phone's file is built from: its own fields over the defaults.
    #[must_use]
    pub fn effective_record(&self, mac: &Mac) -> Option<PhoneRecord> {
        let mut record = self.inventory.get(mac)?.clone();
        if record.call_managers.is_empty() {
            record.call_managers =
                self.defaults.call_managers.iter().map(CallManagerSpec::new).collect();
        }
        if record.load.is_none() {
            record.load = self
                .rollouts
                .load_for(&record.model, *mac)
                .or_else(|| self.defaults.load_for_model(&record.model))
                .map(str::to_owned);
        }
        Some(record)
    }
}

impl ConfigGenerator for InventoryGenerator {
    fn device_config(&self, mac: Mac, kind: FileKind) -> Option<Vec<u8>> {
        if kind != FileKind::DeviceConfig(crate::Protection::Plain) {
            return None;
        }
        let record = self.effective_record(&mac)?;
        build_device(&record, MacCase::Upper).ok().map(|(_, doc)| doc.into_bytes())
    }

    fn default_config(&self) -> Option<Vec<u8>> {
        self.defaults.xml_default().ok()
    }

    fn device_macs(&self) -> Vec<Mac> {
        self.inventory.phones.keys().copied().collect()
    }
}
