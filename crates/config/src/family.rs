//! Phone model families: how each asks for its files (see the repository's
//! `docs/boot-sequence.md`).
//!
//! Data, not code: [`ModelTable::builtin`] holds the families cnfkit knows, and a caller can add
//! or replace families (a lab with a model this table does not know) with [`ModelTable::insert`].
//! The device type numbers of each model come from the one number table, [`DeviceType::KNOWN`].

use crate::codes::{DeviceType, model_key};

/// How a family finds its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigStyle {
    /// `SEP<MAC>.cnf.xml` (signed variants with a trust list), then `XMLDefault.cnf.xml`.
    Xml,
    /// 7940/7960 on SIP firmware: `OS79XX.TXT`, `SIPDefault.cnf`, then `SIP<MAC>.cnf`.
    LegacySip,
}

/// Which trust lists a family asks for before its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrustLists {
    /// `CTLSEP<MAC>.tlv`.
    pub ctl: bool,
    /// `ITLSEP<MAC>.tlv` then `ITLFile.tlv` (firmware with Security By Default).
    pub itl: bool,
}

/// One model of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The model number as a user types it (`7942`).
    pub name: String,
    /// Its CUCM device type numbers (the `NNN` of `loadInformationNNN`; GE variants have their own).
    pub device_types: Vec<u32>,
    /// The `NN` of the `termNN.default.loads` it asks for after a factory reset.
    pub term_family: Option<u8>,
}

/// A family of phone models that boot the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFamily {
    /// A short name (`7942`, `78xx/88xx`...).
    pub name: String,
    /// The models.
    pub models: Vec<Model>,
    /// Whether the family runs SCCP firmware.
    pub sccp: bool,
    /// Whether the family runs SIP firmware.
    pub sip: bool,
    /// How the family finds its configuration on SIP firmware.
    pub sip_style: ConfigStyle,
    /// Trust lists it asks for.
    pub trust_lists: TrustLists,
}

/// Whether a model text (`CP-7942G`, `Cisco 7942`, `Cisco 7961G-GE`) names the model `name`
/// (`7942`), its Gigabit variant included: the same comparison [`DeviceType::from_model`] makes.
fn names_model(text: &str, name: &str) -> bool {
    model_key(text).is_some_and(|key| {
        key.eq_ignore_ascii_case(name) || key.strip_suffix("G-GE").is_some_and(|k| k == name)
    })
}

impl ModelFamily {
    /// The model entry for `model` (`7942`, `CP-7942G`, `Cisco 7942`...), if in this family.
    #[must_use]
    pub fn model(&self, model: &str) -> Option<&Model> {
        self.models
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(model) || names_model(model, &m.name))
    }
}

/// The device type numbers of a model, from the one table of numbers ([`DeviceType::KNOWN`]):
/// the model's own first, then its Gigabit (`G-GE`) variant.
fn device_types_of(name: &str) -> Vec<u32> {
    let own = DeviceType::KNOWN.iter().filter(|(_, m)| model_key(m).as_deref() == Some(name));
    let ge = DeviceType::KNOWN
        .iter()
        .filter(|(_, m)| model_key(m).is_some_and(|k| k.strip_suffix("G-GE") == Some(name)));
    own.chain(ge).map(|(n, _)| *n).collect()
}

/// The families a resolver or simulator knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelTable {
    families: Vec<ModelFamily>,
}

/// `(model, termNN)` rows; device type numbers come from [`DeviceType::KNOWN`].
type ModelRows<'a> = &'a [(&'a str, Option<u8>)];

fn family(
    name: &str,
    rows: ModelRows<'_>,
    protocols: (bool, bool),
    sip_style: ConfigStyle,
    trust_lists: TrustLists,
) -> ModelFamily {
    ModelFamily {
        name: name.to_owned(),
        models: rows
            .iter()
            .map(|(model, term)| Model {
                name: (*model).to_owned(),
                device_types: device_types_of(model),
                term_family: *term,
            })
            .collect(),
        sccp: protocols.0,
        sip: protocols.1,
        sip_style,
        trust_lists,
    }
}

impl ModelTable {
    /// The families the [boot
    /// sequence](https://github.com/cnfkit/cnfkit/blob/main/docs/boot-sequence.md#request-order-by-model-family)
    /// documents: 7940/7960, 7941/7961 (and 7911/7906), the
    /// 7942/7962/7945/7965/7975 generation, 69xx, and 78xx/88xx.
    #[must_use]
    pub fn builtin() -> Self {
        let ctl_only = TrustLists { ctl: true, itl: false };
        let both = TrustLists { ctl: true, itl: true };
        Self {
            families: vec![
                family(
                    "7940/7960",
                    &[("7940", None), ("7960", None)],
                    (true, true),
                    ConfigStyle::LegacySip,
                    ctl_only,
                ),
                family(
                    "7941/7961",
                    &[
                        ("7941", Some(41)),
                        ("7961", Some(61)),
                        ("7911", Some(11)),
                        ("7906", Some(6)),
                    ],
                    (true, true),
                    ConfigStyle::Xml,
                    both,
                ),
                family(
                    "7942/7962/7945/7965/7975",
                    &[
                        ("7942", Some(42)),
                        ("7962", Some(62)),
                        ("7945", Some(45)),
                        ("7965", Some(65)),
                        ("7975", Some(75)),
                    ],
                    (true, true),
                    ConfigStyle::Xml,
                    both,
                ),
                family(
                    "69xx",
                    &[
                        ("6901", None),
                        ("6911", None),
                        ("6921", None),
                        ("6941", None),
                        ("6945", None),
                        ("6961", None),
                    ],
                    (true, true),
                    ConfigStyle::Xml,
                    both,
                ),
                family(
                    "78xx/88xx",
                    &[
                        ("7811", None),
                        ("7821", None),
                        ("7841", None),
                        ("7861", None),
                        ("7832", None),
                        ("8811", None),
                        ("8831", None),
                        ("8832", None),
                        ("8841", None),
                        ("8845", None),
                        ("8851", None),
                        ("8861", None),
                        ("8865", None),
                    ],
                    (false, true),
                    ConfigStyle::Xml,
                    both,
                ),
            ],
        }
    }

    /// Adds a family, or replaces the one with the same name.
    pub fn insert(&mut self, family: ModelFamily) {
        match self.families.iter_mut().find(|f| f.name == family.name) {
            Some(existing) => *existing = family,
            None => self.families.push(family),
        }
    }

    /// The family of a model name (`7942`, `CP-7942G`...).
    #[must_use]
    pub fn by_model(&self, model: &str) -> Option<(&ModelFamily, &Model)> {
        self.families.iter().find_map(|f| Some((f, f.model(model)?)))
    }

    /// The family of a CUCM device type number.
    #[must_use]
    pub fn by_device_type(&self, device_type: u32) -> Option<(&ModelFamily, &Model)> {
        self.families.iter().find_map(|f| {
            Some((f, f.models.iter().find(|m| m.device_types.contains(&device_type))?))
        })
    }

    /// Every family.
    pub fn iter(&self) -> impl Iterator<Item = &ModelFamily> {
        self.families.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_model_has_its_device_types_from_the_number_table() {
        let table = ModelTable::builtin();
        let types = |m: &str| table.by_model(m).map(|(_, model)| model.device_types.clone());
        // The numbers the table carried by hand before it took them from `DeviceType::KNOWN`:
        // deriving them changed none (the model's own number first, then its Gigabit variant).
        let expected: &[(&str, &[u32])] = &[
            ("7940", &[8][..]),
            ("7960", &[7][..]),
            ("7941", &[115, 309][..]),
            ("7961", &[30018, 308][..]),
            ("7911", &[307][..]),
            ("7906", &[369][..]),
            ("7942", &[434][..]),
            ("7962", &[404][..]),
            ("7945", &[435][..]),
            ("7965", &[436][..]),
            ("7975", &[437][..]),
            ("6901", &[547][..]),
            ("6911", &[548][..]),
            ("6921", &[495][..]),
            ("6941", &[496][..]),
            ("6945", &[564][..]),
            ("6961", &[497][..]),
            ("7811", &[36213][..]),
            ("7821", &[621][..]),
            ("7841", &[622][..]),
            ("7861", &[623][..]),
            ("7832", &[36247][..]),
            ("8811", &[36217][..]),
            ("8831", &[659][..]),
            ("8832", &[36258][..]),
            ("8841", &[683][..]),
            ("8845", &[36224][..]),
            ("8851", &[684][..]),
            ("8861", &[685][..]),
            ("8865", &[36225][..]),
        ];
        for (model, numbers) in expected {
            assert_eq!(types(model).as_deref(), Some(*numbers), "{model}");
        }
        assert_eq!(table.iter().map(|f| f.models.len()).sum::<usize>(), expected.len());
        assert_eq!(types("CP-7942G"), Some(vec![434]));
        assert_eq!(types("Cisco 7961G-GE").map(|t| t[0]), Some(30018));
        for family in table.iter() {
            for model in &family.models {
                assert!(!model.device_types.is_empty(), "{} has no device type", model.name);
                for n in &model.device_types {
                    assert_eq!(table.by_device_type(*n).map(|(_, m)| &m.name), Some(&model.name));
                }
            }
        }
    }
}
