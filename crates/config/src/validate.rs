//! Validation: warnings a user can act on. Nothing here fails a document.

use std::fmt;

use serde::Serialize;

use crate::codes::{DeviceType, model_key};
use crate::doc::{CnfDocument, Element};
use crate::error::Location;
use crate::views::{LoadForm, RootKind, load_name};

/// What a [`Warning`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum WarningKind {
    /// A `model` text names another model than its device type number does (the phone keys
    /// on the number; see [device type
    /// numbers](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#device-type-numbers)).
    ModelMismatch {
        /// The number.
        device_type: DeviceType,
        /// The `model` attribute.
        model: String,
        /// The model the number stands for.
        known_model: &'static str,
    },
    /// The same device type number twice; the phone reads one of them.
    DuplicateDeviceType {
        /// The number.
        device_type: DeviceType,
    },
    /// A load element not spelled `loadInformation` (a generator wrote `loadinformation36213`;
    /// whether phones read it is unknown).
    LoadElementCase {
        /// The name as written.
        name: String,
    },
    /// A value longer than phones accept (processNodeName and NTP names 50, labels 30,
    /// phoneLabel 12, URLs 255).
    FieldTooLong {
        /// The element.
        field: String,
        /// Its length in characters.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A SEP file with no call manager to register to (phones then show "Protocol Application
    /// Invalid"; see [when a boot goes
    /// wrong](https://github.com/cnfkit/cnfkit/blob/main/docs/boot-sequence.md#when-a-boot-goes-wrong)).
    NoCallManager,
    /// A SEP file with no `loadInformation`.
    NoLoad,
    /// A template placeholder left in (`###DOMAIN###`, `x.x.x.x`).
    Placeholder {
        /// The value that holds it.
        value: String,
    },
}

/// A warning about a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// What.
    pub kind: WarningKind,
    /// The element path it is about (empty for the root or the whole file).
    pub path: String,
    /// Where.
    pub at: Location,
}

impl Warning {
    /// What the warning says, without its location (the [`Display`](fmt::Display) form is
    /// `line:column: message`).
    #[must_use]
    pub fn message(&self) -> String {
        struct Message<'a>(&'a Warning);
        impl fmt::Display for Message<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_message(f)
            }
        }
        Message(self).to_string()
    }

    fn write_message(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            WarningKind::ModelMismatch { device_type, model, known_model } => write!(
                f,
                "{}: model {model:?} but device type {} is {known_model}",
                self.path, device_type.0
            ),
            WarningKind::DuplicateDeviceType { device_type } => {
                write!(f, "{}: device type {} appears more than once", self.path, device_type.0)
            }
            WarningKind::LoadElementCase { name } => {
                write!(f, "<{name}> is not spelled loadInformation; phones may ignore it")
            }
            WarningKind::FieldTooLong { field, len, limit } => {
                write!(f, "{}: {field} is {len} characters, limit {limit}", self.path)
            }
            WarningKind::NoCallManager => {
                write!(f, "device file has no call manager (processNodeName) to register to")
            }
            WarningKind::NoLoad => write!(f, "device file has no loadInformation"),
            WarningKind::Placeholder { value } => {
                write!(f, "{}: placeholder left in {value:?}", self.path)
            }
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.at)?;
        self.write_message(f)
    }
}

fn limit_of(name: &str, parent: Option<&str>) -> Option<usize> {
    match name {
        "processNodeName" => Some(50),
        "name" if parent == Some("ntp") => Some(50),
        "featureLabel" => Some(30),
        "phoneLabel" => Some(12),
        n if n.ends_with("URL") => Some(255),
        _ => None,
    }
}

pub(crate) fn is_placeholder(value: &str) -> bool {
    if let Some(i) = value.find("###")
        && value[i + 3..].contains("###")
    {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    lower.contains("x.x.x.x") || lower.contains("xxx.xxx.xxx.xxx")
}

fn digits(model: &str) -> Option<String> {
    let key = model_key(model)?;
    let d: String =
        key.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    (!d.is_empty()).then_some(d)
}

impl CnfDocument {
    /// Warnings about the document: model texts that disagree with their numbers, duplicate
    /// numbers, field limits, a SEP file without call manager or load, placeholders left in.
    ///
    /// ```
    /// use cnfkit_config::{CnfDocument, WarningKind};
    /// let doc = CnfDocument::parse(br#"<device><devicePool><callManagerGroup><members><member priority="0">
    ///   <callManager><processNodeName>x.x.x.x</processNodeName></callManager></member></members>
    ///   </callManagerGroup></devicePool></device>"#)?;
    /// let kinds: Vec<_> = doc.validate().into_iter().map(|w| w.kind).collect();
    /// assert!(kinds.contains(&WarningKind::NoLoad));
    /// assert!(kinds.contains(&WarningKind::Placeholder { value: "x.x.x.x".into() }));
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    #[must_use]
    pub fn validate(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        let warn = |out: &mut Vec<Warning>, kind, e: &Element<'_>| {
            out.push(Warning { kind, path: e.path(), at: e.location() });
        };
        let mut seen = Vec::new();
        for e in self.root().children() {
            let name = e.name();
            if load_name(&name).is_some() && !name.starts_with("loadInformation") {
                warn(
                    &mut out,
                    WarningKind::LoadElementCase { name: name.clone().into_owned() },
                    &e,
                );
            }
        }
        for entry in self.firmware().entries {
            let (Some(t), LoadForm::Numbered) = (entry.device_type, entry.form) else { continue };
            let Some(e) = self.find(&entry.path) else { continue };
            if seen.contains(&t) {
                warn(&mut out, WarningKind::DuplicateDeviceType { device_type: t }, &e);
            }
            seen.push(t);
            if let (Some(model), Some(known)) = (&entry.model, t.model())
                && let (Some(a), Some(b)) = (digits(model), digits(known))
                && a != b
            {
                warn(
                    &mut out,
                    WarningKind::ModelMismatch {
                        device_type: t,
                        model: model.clone(),
                        known_model: known,
                    },
                    &e,
                );
            }
        }
        self.walk(self.root(), &mut |e| {
            let name = e.name();
            if !e.has_children() {
                let text = e.text();
                let parent = e.parent().map(|p| p.name().into_owned());
                if let Some(limit) = limit_of(&name, parent.as_deref()) {
                    let len = text.chars().count();
                    if len > limit {
                        warn(
                            &mut out,
                            WarningKind::FieldTooLong {
                                field: name.clone().into_owned(),
                                len,
                                limit,
                            },
                            e,
                        );
                    }
                }
                if is_placeholder(&text) {
                    warn(&mut out, WarningKind::Placeholder { value: text }, e);
                }
            }
            for (_, v) in e.attributes() {
                if is_placeholder(&v) {
                    warn(&mut out, WarningKind::Placeholder { value: v }, e);
                }
            }
        });
        if self.root_kind() == RootKind::Device {
            let has_cm = self.call_manager_group().is_some_and(|g| {
                g.members
                    .iter()
                    .any(|m| m.process_node_name.as_deref().is_some_and(|n| !n.is_empty()))
            });
            if !has_cm {
                warn(&mut out, WarningKind::NoCallManager, &self.root());
            }
            if !self
                .firmware()
                .entries
                .iter()
                .any(|e| e.form != LoadForm::Inactive && !e.load.is_empty())
            {
                warn(&mut out, WarningKind::NoLoad, &self.root());
            }
        }
        out
    }

    fn walk<'d>(&'d self, e: Element<'d>, f: &mut impl FnMut(&Element<'d>)) {
        f(&e);
        for c in e.children() {
            self.walk(c, f);
        }
    }
}
