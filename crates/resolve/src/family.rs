//! Phone model families: how each asks for its files (cisco-cnf.md sections 2.3 and 4.2).
//!
//! Data, not code: [`ModelTable::builtin`] holds what the research supports, and a caller can add
//! or replace families (a lab with a model this table does not know) with [`ModelTable::insert`].

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

/// The digits of a model as users write it (`CP-7942G`, `Cisco 7942`, `IP Phone 7942`).
fn model_digits(model: &str) -> String {
    model.chars().filter(char::is_ascii_digit).collect()
}

impl ModelFamily {
    /// The model entry for `model` (`7942`, `CP-7942G`, `Cisco 7942`...), if in this family.
    #[must_use]
    pub fn model(&self, model: &str) -> Option<&Model> {
        let digits = model_digits(model);
        self.models.iter().find(|m| m.name.eq_ignore_ascii_case(model) || m.name == digits)
    }
}

/// The families a resolver or simulator knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelTable {
    families: Vec<ModelFamily>,
}

/// `(model, device types, termNN)` rows.
type ModelRows<'a> = &'a [(&'a str, &'a [u32], Option<u8>)];

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
            .map(|(model, types, term)| Model {
                name: (*model).to_owned(),
                device_types: types.to_vec(),
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
    /// The families cisco-cnf.md documents: 7940/7960, 7941/7961 (and 7911/7906), the
    /// 7942/7962/7945/7965/7975 generation, 69xx, and 78xx/88xx.
    #[must_use]
    pub fn builtin() -> Self {
        let ctl_only = TrustLists { ctl: true, itl: false };
        let both = TrustLists { ctl: true, itl: true };
        Self {
            families: vec![
                family(
                    "7940/7960",
                    &[("7940", &[8], None), ("7960", &[7], None)],
                    (true, true),
                    ConfigStyle::LegacySip,
                    ctl_only,
                ),
                family(
                    "7941/7961",
                    &[
                        ("7941", &[115, 309], Some(41)),
                        ("7961", &[30018, 308], Some(61)),
                        ("7911", &[307], Some(11)),
                        ("7906", &[369], Some(6)),
                    ],
                    (true, true),
                    ConfigStyle::Xml,
                    both,
                ),
                family(
                    "7942/7962/7945/7965/7975",
                    &[
                        ("7942", &[434], Some(42)),
                        ("7962", &[404], Some(62)),
                        ("7945", &[435], Some(45)),
                        ("7965", &[436], Some(65)),
                        ("7975", &[437], Some(75)),
                    ],
                    (true, true),
                    ConfigStyle::Xml,
                    both,
                ),
                family(
                    "69xx",
                    &[
                        ("6901", &[547], None),
                        ("6911", &[548], None),
                        ("6921", &[495], None),
                        ("6941", &[496], None),
                        ("6945", &[564], None),
                        ("6961", &[497], None),
                    ],
                    (true, true),
                    ConfigStyle::Xml,
                    both,
                ),
                family(
                    "78xx/88xx",
                    &[
                        ("7811", &[36213], None),
                        ("7821", &[621], None),
                        ("7841", &[622], None),
                        ("7861", &[623], None),
                        ("7832", &[36247], None),
                        ("8811", &[36217], None),
                        ("8831", &[659], None),
                        ("8832", &[36258], None),
                        ("8841", &[683], None),
                        ("8845", &[36224], None),
                        ("8851", &[684], None),
                        ("8861", &[685], None),
                        ("8865", &[36225], None),
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
