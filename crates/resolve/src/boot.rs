//! The requests a phone makes when it boots, and what a miss on each means.

use crate::{ConfigStyle, Error, Mac, ModelTable, Protocol};

/// The device security mode the phone runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityMode {
    /// Plain configuration files.
    #[default]
    NonSecure,
    /// Signed configuration files (`.sgn`).
    Authenticated,
    /// Encrypted configuration files (`.enc.sgn`).
    Encrypted,
}

/// What a phone knows about itself when it starts asking for files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneSetup {
    /// Its MAC.
    pub mac: Mac,
    /// Its model (`7942`, `CP-8845`...).
    pub model: String,
    /// The protocol of the firmware it runs.
    pub protocol: Protocol,
    /// Its security mode.
    pub security: SecurityMode,
    /// Whether it holds a trust list (CTL or ITL): then it asks for signed configurations.
    pub has_trust_list: bool,
    /// Whether it was factory reset: then it asks for `termNN.default.loads` for its firmware.
    pub factory_reset: bool,
    /// Upper-case MAC in file names (the default); the 7902/7905/7912 family uses lower case.
    pub lower_case_mac: bool,
}

impl PhoneSetup {
    /// A non-secure phone with no trust list, not factory reset.
    #[must_use]
    pub fn new(mac: Mac, model: &str, protocol: Protocol) -> Self {
        Self {
            mac,
            model: model.to_owned(),
            protocol,
            security: SecurityMode::NonSecure,
            has_trust_list: false,
            factory_reset: false,
            lower_case_mac: false,
        }
    }

    fn mac_text(&self) -> String {
        if self.lower_case_mac { self.mac.to_lower_hex() } else { self.mac.to_string() }
    }
}

/// What a miss (TFTP "File not found") on a request means to the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnMiss {
    /// Normal: it goes on with the next request (trust lists on a non-secure site).
    Continue,
    /// It falls back to the next configuration request.
    FallBack,
    /// It cannot go on, and says why a user sees it stuck.
    Stuck(String),
}

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// A trust list.
    TrustList,
    /// The 7940/7960 universal application loader pointer.
    LoaderPointer,
    /// The phone's own configuration.
    OwnConfig,
    /// A default configuration.
    DefaultConfig,
    /// The factory-default firmware manifest.
    FactoryManifest,
}

/// One request of the boot sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRequest {
    /// The file name as the phone asks for it.
    pub name: String,
    /// What it is for.
    pub purpose: Purpose,
    /// What a miss means.
    pub on_miss: OnMiss,
}

impl PlannedRequest {
    fn new(name: String, purpose: Purpose, on_miss: OnMiss) -> Self {
        Self { name, purpose, on_miss }
    }
}

/// The ordered requests a phone makes before it knows its configuration ([request
/// order by model family](https://github.com/cnfkit/cnfkit/blob/main/docs/boot-sequence.md#request-order-by-model-family)):
/// trust lists, then its own configuration in the variant its security calls for, then the
/// default. Firmware requests follow from the configuration it gets; see
/// [`crate::firmware_decision`].
///
/// ```
/// use cnfkit_resolve::{ModelTable, PhoneSetup, Protocol, boot_requests};
///
/// let phone = PhoneSetup::new("001122AABBCC".parse()?, "7942", Protocol::Sccp);
/// let names: Vec<String> = boot_requests(&ModelTable::builtin(), &phone)?.into_iter().map(|r| r.name).collect();
/// assert_eq!(names, [
///     "CTLSEP001122AABBCC.tlv",
///     "ITLSEP001122AABBCC.tlv",
///     "ITLFile.tlv",
///     "SEP001122AABBCC.cnf.xml",
///     "XMLDefault.cnf.xml",
/// ]);
/// # Ok::<(), cnfkit_resolve::Error>(())
/// ```
///
/// # Errors
/// [`Error::UnknownModel`] when the table has no family for the model, and
/// [`Error::UnsupportedProtocol`] when the family has no firmware for the protocol (SCCP on an 8845).
pub fn boot_requests(table: &ModelTable, phone: &PhoneSetup) -> Result<Vec<PlannedRequest>, Error> {
    let (family, model) = table
        .by_model(&phone.model)
        .ok_or_else(|| Error::UnknownModel { model: phone.model.clone() })?;
    let supported = match phone.protocol {
        Protocol::Sccp => family.sccp,
        Protocol::Sip => family.sip,
    };
    if !supported {
        return Err(Error::UnsupportedProtocol { model: phone.model.clone() });
    }
    let mac = phone.mac_text();
    let mut plan = Vec::new();
    if let Some(nn) = model.term_family.filter(|_| phone.factory_reset) {
        plan.push(PlannedRequest::new(
            format!("term{nn:02}.default.loads"),
            Purpose::FactoryManifest,
            OnMiss::Stuck(format!(
                "a factory-reset {} loops on \"Upgrading\" until term{nn:02}.default.loads and its images exist",
                model.name
            )),
        ));
    }
    let style = if phone.protocol == Protocol::Sip { family.sip_style } else { ConfigStyle::Xml };
    if style == ConfigStyle::LegacySip {
        plan.push(PlannedRequest::new(
            "OS79XX.TXT".into(),
            Purpose::LoaderPointer,
            OnMiss::Continue,
        ));
        plan.push(PlannedRequest::new(
            "SIPDefault.cnf".into(),
            Purpose::DefaultConfig,
            OnMiss::Continue,
        ));
        plan.push(PlannedRequest::new(
            format!("SIP{mac}.cnf"),
            Purpose::OwnConfig,
            OnMiss::Stuck(format!(
                "a 7940/7960 on SIP needs SIP{mac}.cnf (it does not read SEP files)"
            )),
        ));
        return Ok(plan);
    }
    if family.trust_lists.ctl {
        plan.push(PlannedRequest::new(
            format!("CTLSEP{mac}.tlv"),
            Purpose::TrustList,
            OnMiss::Continue,
        ));
    }
    if family.trust_lists.itl {
        plan.push(PlannedRequest::new(
            format!("ITLSEP{mac}.tlv"),
            Purpose::TrustList,
            OnMiss::Continue,
        ));
        plan.push(PlannedRequest::new("ITLFile.tlv".into(), Purpose::TrustList, OnMiss::Continue));
    }
    if phone.security == SecurityMode::Encrypted {
        plan.push(PlannedRequest::new(
            format!("SEP{mac}.cnf.xml.enc.sgn"),
            Purpose::OwnConfig,
            OnMiss::FallBack,
        ));
    }
    let own = if phone.has_trust_list || phone.security != SecurityMode::NonSecure {
        format!("SEP{mac}.cnf.xml.sgn")
    } else {
        format!("SEP{mac}.cnf.xml")
    };
    plan.push(PlannedRequest::new(own, Purpose::OwnConfig, OnMiss::FallBack));
    plan.push(PlannedRequest::new(
        "XMLDefault.cnf.xml".into(),
        Purpose::DefaultConfig,
        OnMiss::Stuck(
            "no configuration at all: the phone retries its TFTP requests forever".into(),
        ),
    ));
    Ok(plan)
}
