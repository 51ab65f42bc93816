//! Typed views over a [`CnfDocument`]: owned snapshots read through the span index.
//!
//! Every view is read on demand from the document, so it always reflects the latest edit.
//! Values are trimmed text; an element that is absent reads as `None`, an empty one as
//! `Some("")`.

use serde::Serialize;

use crate::codes::{
    CapfAuthMode, DeviceSecurityMode, DeviceType, FeatureId, TransportLayerProtocol, model_key,
};
use crate::doc::{CnfDocument, Element};
use crate::error::Error;

/// What the root element says the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum RootKind {
    /// `<Default>` or `<default>`: an `XMLDefault.cnf.xml` (also served for a SEP request as
    /// a workaround; see [root
    /// element](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#root-element)).
    Default,
    /// `<device>`: a `SEP<MAC>.cnf.xml`.
    Device,
    /// Anything else (the name is [`CnfDocument::root`]'s).
    Other,
}

/// Where the call manager group sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GroupLocation {
    /// Directly under the root (XMLDefault).
    Root,
    /// Under `devicePool` (SEP files, and some XMLDefault files).
    DevicePool,
}

/// `ports` of a call manager.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Ports {
    /// `ethernetPhonePort` (SCCP, 2000).
    pub ethernet_phone_port: Option<u16>,
    /// `sipPort` (5060).
    pub sip_port: Option<u16>,
    /// `securedSipPort` (5061).
    pub secured_sip_port: Option<u16>,
    /// `mgcpPorts/listen` (2427).
    pub mgcp_listen: Option<u16>,
    /// `mgcpPorts/keepAlive` (2428).
    pub mgcp_keep_alive: Option<u16>,
}

/// One `callManagerGroup/members/member`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallManager {
    /// `priority` attribute: lower is tried first.
    pub priority: Option<u8>,
    /// `callManager/name`.
    pub name: Option<String>,
    /// `callManager/description`.
    pub description: Option<String>,
    /// `callManager/ports`.
    pub ports: Ports,
    /// `callManager/processNodeName`: the address the phone registers to.
    pub process_node_name: Option<String>,
    /// The element path of the member, for edits.
    pub path: String,
}

/// `callManagerGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallManagerGroup {
    /// Where it sits.
    pub location: GroupLocation,
    /// `name`.
    pub name: Option<String>,
    /// `tftpDefault`.
    pub tftp_default: Option<String>,
    /// Members in document order.
    pub members: Vec<CallManager>,
}

/// One `TVS/members/member` (trust verification service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TvsMember {
    /// `priority` attribute.
    pub priority: Option<u8>,
    /// `address`.
    pub address: Option<String>,
    /// `port` (2445).
    pub port: Option<u16>,
}

/// Which form a firmware load entry takes ([the forms
/// seen](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#loadinformation)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum LoadForm {
    /// `<loadInformationNNN model="...">`: per device type, in XMLDefault.
    Numbered,
    /// Plain `<loadInformation>`: the device's own load (SEP) or a catch-all (XMLDefault).
    Plain,
    /// `<inactiveLoadInformation>` (88xx/89xx/99xx).
    Inactive,
    /// `addOnModules/addOnModule[@idx]/loadInformation`.
    AddOnModule {
        /// The `idx` attribute (1..=3).
        idx: Option<u8>,
    },
}

/// One firmware load entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadEntry {
    /// The device type number (`434` of `loadInformation434`), or the add-on module's
    /// `deviceType` if numeric.
    pub device_type: Option<DeviceType>,
    /// The `model` attribute as written.
    pub model: Option<String>,
    /// The load name (without `.loads`); may be empty.
    pub load: String,
    /// Which form.
    pub form: LoadForm,
    /// Element path, for edits.
    pub path: String,
}

/// All load entries of a document, with lookups.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Firmware {
    /// Entries in document order.
    pub entries: Vec<LoadEntry>,
}

impl Firmware {
    /// The load a device type gets: its numbered entry, non-empty.
    #[must_use]
    pub fn for_device_type(&self, device_type: DeviceType) -> Option<&LoadEntry> {
        self.entries.iter().find(|e| {
            e.form == LoadForm::Numbered && e.device_type == Some(device_type) && !e.load.is_empty()
        })
    }

    /// The load for a model text (`"7942"`, `"CP-7942G"`, `"Cisco 7942"`): an entry whose
    /// `model` reads the same, else the entry for the model's known device type number.
    #[must_use]
    pub fn for_model(&self, model: &str) -> Option<&LoadEntry> {
        let key = model_key(model)?;
        self.entries
            .iter()
            .find(|e| {
                !e.load.is_empty()
                    && e.model.as_deref().and_then(model_key).as_deref() == Some(&key)
            })
            .or_else(|| DeviceType::from_model(model).and_then(|t| self.for_device_type(t)))
    }

    /// The plain `loadInformation` (a SEP file's own load).
    #[must_use]
    pub fn plain(&self) -> Option<&LoadEntry> {
        self.entries.iter().find(|e| e.form == LoadForm::Plain)
    }
}

/// One NTP server of `dateTimeSetting/ntps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ntp {
    /// `name` (max 50 characters).
    pub name: Option<String>,
    /// `nameV6`.
    pub name_v6: Option<String>,
    /// `ntpMode` (`Unicast`, `directedbroadcast`).
    pub mode: Option<String>,
}

/// `devicePool/dateTimeSetting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DateTimeSetting {
    /// `name`.
    pub name: Option<String>,
    /// `dateTemplate` (`D/M/Y`, `M/D/YA`).
    pub date_template: Option<String>,
    /// `timeZone` (Windows style: `W. Europe Standard/Daylight Time`).
    pub time_zone: Option<String>,
    /// `olsonTimeZone` (`Europe/Amsterdam`).
    pub olson_time_zone: Option<String>,
    /// `ntps/ntp`.
    pub ntps: Vec<Ntp>,
}

/// An SRST address and port pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SrstAddress {
    /// `ipAddrN` / `sipIpAddrN`.
    pub address: String,
    /// `portN` / `sipPortN`.
    pub port: Option<u16>,
}

/// `devicePool/srstInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SrstInfo {
    /// `name`.
    pub name: Option<String>,
    /// `srstOption` (`Disable`, `Enable`).
    pub srst_option: Option<String>,
    /// `userModifiable`.
    pub user_modifiable: Option<String>,
    /// Non-empty `ipAddr1..3` with their ports.
    pub addresses: Vec<SrstAddress>,
    /// Non-empty `sipIpAddr1..3` with their ports.
    pub sip_addresses: Vec<SrstAddress>,
    /// `isSecure`.
    pub is_secure: Option<String>,
}

/// `devicePool`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevicePool {
    /// `name`.
    pub name: Option<String>,
    /// `revertPriority`.
    pub revert_priority: Option<String>,
    /// `connectionMonitorDuration` (seconds).
    pub connection_monitor_duration: Option<u32>,
    /// `dateTimeSetting`.
    pub date_time: Option<DateTimeSetting>,
    /// `srstInfo`.
    pub srst: Option<SrstInfo>,
    /// `uuid` attribute (CUCM output).
    pub uuid: Option<String>,
}

/// Security fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Security {
    /// `deviceSecurityMode`.
    pub device_security_mode: Option<DeviceSecurityMode>,
    /// `certHash`.
    pub cert_hash: Option<String>,
    /// `encrConfig`.
    pub encr_config: Option<String>,
    /// `capfAuthMode`.
    pub capf_auth_mode: Option<CapfAuthMode>,
    /// `capfList/capf/phonePort`.
    pub capf_ports: Vec<u16>,
}

/// `userLocale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserLocale {
    /// `name` (`English_United_States`).
    pub name: Option<String>,
    /// `uid`.
    pub uid: Option<String>,
    /// `langCode` (`en_US`).
    pub lang_code: Option<String>,
    /// `version`: the phone only downloads the locale again when it changes.
    pub version: Option<String>,
    /// `winCharSet` (`iso-8859-1`, `utf-8`).
    pub win_char_set: Option<String>,
}

/// `networkLocale` and `networkLocaleInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkLocale {
    /// Text of `networkLocale` (`United_States`).
    pub name: Option<String>,
    /// `networkLocaleInfo/name`.
    pub info_name: Option<String>,
    /// `networkLocaleInfo/uid`.
    pub uid: Option<String>,
    /// `networkLocaleInfo/version`.
    pub version: Option<String>,
}

/// One `sipProfile/sipLines/line`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SipLine {
    /// `button` attribute.
    pub button: Option<u16>,
    /// `lineIndex` attribute.
    pub line_index: Option<u16>,
    /// `featureID`.
    pub feature_id: Option<FeatureId>,
    /// `featureLabel` (max 30 characters).
    pub feature_label: Option<String>,
    /// `proxy` (`USECALLMANAGER` or a host).
    pub proxy: Option<String>,
    /// `port`.
    pub port: Option<u16>,
    /// `name` (the user to register).
    pub name: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `authName`.
    pub auth_name: Option<String>,
    /// `authPassword`.
    pub auth_password: Option<String>,
    /// `contact`.
    pub contact: Option<String>,
    /// `speedDialNumber`.
    pub speed_dial_number: Option<String>,
    /// Element path, for edits.
    pub path: String,
}

/// `sipProfile` (SIP phones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SipProfile {
    /// `phoneLabel` (max 12 characters, no spaces, on 7900).
    pub phone_label: Option<String>,
    /// `sipProxies/outboundProxy`.
    pub outbound_proxy: Option<String>,
    /// `sipProxies/registerWithProxy`.
    pub register_with_proxy: Option<String>,
    /// `preferredCodec`.
    pub preferred_codec: Option<String>,
    /// `dialTemplate`.
    pub dial_template: Option<String>,
    /// `sipLines/line`.
    pub lines: Vec<SipLine>,
}

/// Everything the typed views read, in one serialisable value (what `cnf-edit show --json`
/// prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Root kind.
    pub root_kind: RootKind,
    /// Root name as written.
    pub root_name: String,
    /// `deviceProtocol`.
    pub device_protocol: Option<String>,
    /// `callManagerGroup`.
    pub call_manager_group: Option<CallManagerGroup>,
    /// `TVS` members.
    pub tvs: Vec<TvsMember>,
    /// Load entries.
    pub firmware: Firmware,
    /// `devicePool`.
    pub device_pool: Option<DevicePool>,
    /// URLs (`*URL` children of the root) and `idleTimeout`, in document order.
    pub urls: Vec<(String, String)>,
    /// `vendorConfig`.
    pub vendor_config: Vec<(String, String)>,
    /// Security fields.
    pub security: Security,
    /// `userLocale`.
    pub user_locale: Option<UserLocale>,
    /// `networkLocale`.
    pub network_locale: Option<NetworkLocale>,
    /// `versionStamp`.
    pub version_stamp: Option<String>,
    /// `transportLayerProtocol`.
    pub transport_layer_protocol: Option<TransportLayerProtocol>,
    /// `sipProfile`.
    pub sip_profile: Option<SipProfile>,
}

/// The summary as `cnf-edit show` prints it: one `name: value` line per setting that is there
/// (protocol, call managers by priority, loads, URLs, `vendorConfig`, security mode, SIP lines).
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_dash = |v: Option<u16>| v.map_or_else(|| "-".to_owned(), |p| p.to_string());
        if let Some(p) = &self.device_protocol {
            writeln!(f, "protocol: {p}")?;
        }
        if let Some(g) = &self.call_manager_group {
            writeln!(f, "call managers ({:?}):", g.location)?;
            for m in &g.members {
                writeln!(
                    f,
                    "  priority {}: {} (sccp {}, sip {})",
                    m.priority.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    m.process_node_name.as_deref().unwrap_or("-"),
                    or_dash(m.ports.ethernet_phone_port),
                    or_dash(m.ports.sip_port),
                )?;
            }
        }
        if !self.firmware.entries.is_empty() {
            writeln!(f, "loads:")?;
            for e in &self.firmware.entries {
                let t = e.device_type.map_or_else(|| "-".to_owned(), |t| t.to_string());
                let model = e.model.as_deref().unwrap_or("");
                writeln!(f, "  {t}: {:?} model={model:?} ({:?})", e.load, e.form)?;
            }
        }
        for (k, v) in &self.urls {
            writeln!(f, "{k}: {v}")?;
        }
        for (k, v) in &self.vendor_config {
            writeln!(f, "vendorConfig/{k}: {v}")?;
        }
        if let Some(m) = self.security.device_security_mode {
            writeln!(f, "deviceSecurityMode: {m}")?;
        }
        for l in self.sip_profile.iter().flat_map(|p| &p.lines) {
            let (name, label) = (l.name.as_deref().unwrap_or("-"), l.feature_label.as_deref());
            writeln!(f, "line {}: {name} ({})", l.button.unwrap_or(0), label.unwrap_or(""))?;
        }
        Ok(())
    }
}

fn num<T: std::str::FromStr>(e: &Element<'_>, name: &str) -> Option<T> {
    e.child_text(name).and_then(|t| t.parse().ok())
}

fn ports(cm: &Element<'_>) -> Ports {
    let Some(p) = cm.child("ports") else { return Ports::default() };
    let mgcp = p.child("mgcpPorts");
    Ports {
        ethernet_phone_port: num(&p, "ethernetPhonePort"),
        sip_port: num(&p, "sipPort"),
        secured_sip_port: num(&p, "securedSipPort"),
        mgcp_listen: mgcp.as_ref().and_then(|m| num(m, "listen")),
        mgcp_keep_alive: mgcp.as_ref().and_then(|m| num(m, "keepAlive")),
    }
}

/// How an element name reads as a load entry.
pub(crate) enum LoadName {
    /// `loadInformation`.
    Plain,
    /// `loadInformation` + digits (the number, if it fits).
    Numbered(Option<u32>),
}

/// `loadInformation`, `loadInformationNNN`; ASCII case-insensitive, since a generator wrote
/// `loadinformation36213` (docs/file-formats.md, loadInformation, item 4; validation warns
/// about it).
pub(crate) fn load_name(name: &str) -> Option<LoadName> {
    let prefix = name.get(..15)?;
    if !prefix.eq_ignore_ascii_case("loadInformation") {
        return None;
    }
    let rest = &name[15..];
    if rest.is_empty() {
        Some(LoadName::Plain)
    } else if rest.bytes().all(|b| b.is_ascii_digit()) {
        Some(LoadName::Numbered(rest.parse().ok()))
    } else {
        None
    }
}

impl CnfDocument {
    /// The root kind: `Default`/`default` or `device` (the exact spelling is
    /// `self.root().name()`).
    ///
    /// ```
    /// use cnfkit_config::{CnfDocument, RootKind};
    /// let doc = CnfDocument::parse(b"<default/>")?;
    /// assert_eq!((doc.root_kind(), &*doc.root().name()), (RootKind::Default, "default"));
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    #[must_use]
    pub fn root_kind(&self) -> RootKind {
        let name = self.root().name();
        if name.eq_ignore_ascii_case("default") {
            RootKind::Default
        } else if name.eq_ignore_ascii_case("device") {
            RootKind::Device
        } else {
            RootKind::Other
        }
    }

    /// `deviceProtocol` (`SCCP`, `SIP`).
    #[must_use]
    pub fn device_protocol(&self) -> Option<String> {
        self.root().child_text("deviceProtocol")
    }

    fn group_element(&self) -> Option<(Element<'_>, GroupLocation)> {
        let root = self.root();
        root.child("callManagerGroup").map(|g| (g, GroupLocation::Root)).or_else(|| {
            root.child("devicePool")?
                .child("callManagerGroup")
                .map(|g| (g, GroupLocation::DevicePool))
        })
    }

    /// The call manager group, wherever it sits (under the root or under `devicePool`).
    ///
    /// ```
    /// let doc = cnfkit_config::CnfDocument::parse(br#"<Default><callManagerGroup><members>
    ///   <member priority="0"><callManager><ports><ethernetPhonePort>2000</ethernetPhonePort></ports>
    ///   <processNodeName>10.0.0.1</processNodeName></callManager></member></members></callManagerGroup></Default>"#)?;
    /// let group = doc.call_manager_group().unwrap();
    /// assert_eq!(group.members[0].process_node_name.as_deref(), Some("10.0.0.1"));
    /// assert_eq!(group.members[0].ports.ethernet_phone_port, Some(2000));
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    #[must_use]
    pub fn call_manager_group(&self) -> Option<CallManagerGroup> {
        let (g, location) = self.group_element()?;
        let members = g
            .child("members")
            .map(|m| {
                m.children_named("member")
                    .map(|member| {
                        let cm = member.child("callManager");
                        let t = |n: &str| cm.as_ref().and_then(|c| c.child_text(n));
                        CallManager {
                            priority: member
                                .attribute("priority")
                                .and_then(|p| p.trim().parse().ok()),
                            name: t("name"),
                            description: t("description"),
                            ports: cm.as_ref().map(ports).unwrap_or_default(),
                            process_node_name: t("processNodeName"),
                            path: member.path(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(CallManagerGroup {
            location,
            name: g.child_text("name"),
            tftp_default: g.child_text("tftpDefault"),
            members,
        })
    }

    /// `TVS/members/member` entries.
    #[must_use]
    pub fn tvs(&self) -> Vec<TvsMember> {
        let Some(members) = self.root().find("TVS/members") else { return Vec::new() };
        members
            .children_named("member")
            .map(|m| TvsMember {
                priority: m.attribute("priority").and_then(|p| p.trim().parse().ok()),
                address: m.child_text("address"),
                port: num(&m, "port"),
            })
            .collect()
    }

    /// Every firmware load entry: numbered, plain, inactive and add-on module loads.
    ///
    /// ```
    /// use cnfkit_config::{CnfDocument, DeviceType};
    /// let doc = CnfDocument::parse(br#"<Default>
    ///   <loadInformation434    model="SCCP: Cisco 7942">SCCP42.9-4-2SR1-1S</loadInformation434>
    ///   <loadInformation683 model="Cisco 8841"></loadInformation683>
    /// </Default>"#)?;
    /// let fw = doc.firmware();
    /// assert_eq!(fw.for_device_type(DeviceType::CISCO_7942).unwrap().load, "SCCP42.9-4-2SR1-1S");
    /// assert_eq!(fw.for_model("CP-7942G").unwrap().load, "SCCP42.9-4-2SR1-1S");
    /// assert!(fw.for_model("8841").is_none()); // present but empty
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    #[must_use]
    pub fn firmware(&self) -> Firmware {
        let mut entries = Vec::new();
        let wanted = |name: &str| {
            load_name(name).is_some() || matches!(name, "inactiveLoadInformation" | "addOnModules")
        };
        for (e, path) in self.root().child_paths_named(wanted) {
            let name = e.name();
            if let Some(kind) = load_name(&name) {
                let (form, number) = match kind {
                    LoadName::Plain => (LoadForm::Plain, None),
                    LoadName::Numbered(n) => (LoadForm::Numbered, n),
                };
                entries.push(LoadEntry {
                    device_type: number.map(DeviceType),
                    model: e.attribute("model"),
                    load: e.text(),
                    form,
                    path,
                });
            } else if name == "inactiveLoadInformation" {
                entries.push(LoadEntry {
                    device_type: None,
                    model: None,
                    load: e.text(),
                    form: LoadForm::Inactive,
                    path,
                });
            } else if name == "addOnModules" {
                for m in e.children_named("addOnModule") {
                    if let Some(l) = m.child("loadInformation") {
                        entries.push(LoadEntry {
                            device_type: m
                                .child_text("deviceType")
                                .and_then(|t| t.parse().ok())
                                .map(DeviceType),
                            model: None,
                            load: l.text(),
                            form: LoadForm::AddOnModule {
                                idx: m.attribute("idx").and_then(|i| i.trim().parse().ok()),
                            },
                            path: l.path(),
                        });
                    }
                }
            }
        }
        Firmware { entries }
    }

    /// `devicePool` (with date/time and SRST settings).
    #[must_use]
    pub fn device_pool(&self) -> Option<DevicePool> {
        let p = self.root().child("devicePool")?;
        let date_time = p.child("dateTimeSetting").map(|d| DateTimeSetting {
            name: d.child_text("name"),
            date_template: d.child_text("dateTemplate"),
            time_zone: d.child_text("timeZone"),
            olson_time_zone: d.child_text("olsonTimeZone"),
            ntps: d
                .child("ntps")
                .map(|n| {
                    n.children_named("ntp")
                        .map(|ntp| Ntp {
                            name: ntp.child_text("name"),
                            name_v6: ntp.child_text("nameV6"),
                            mode: ntp.child_text("ntpMode"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        });
        let srst = p.child("srstInfo").map(|s| {
            let pairs = |addr: &str, port: &str| {
                (1..=3)
                    .filter_map(|i| {
                        let a = s.child_text(&format!("{addr}{i}")).filter(|a| !a.is_empty())?;
                        Some(SrstAddress { address: a, port: num(&s, &format!("{port}{i}")) })
                    })
                    .collect()
            };
            SrstInfo {
                name: s.child_text("name"),
                srst_option: s.child_text("srstOption"),
                user_modifiable: s.child_text("userModifiable"),
                addresses: pairs("ipAddr", "port"),
                sip_addresses: pairs("sipIpAddr", "sipPort"),
                is_secure: s.child_text("isSecure"),
            }
        });
        Some(DevicePool {
            name: p.child_text("name"),
            revert_priority: p.child_text("revertPriority"),
            connection_monitor_duration: num(&p, "connectionMonitorDuration"),
            date_time,
            srst,
            uuid: p.attribute("uuid"),
        })
    }

    /// The service URLs directly under the root (`servicesURL`, `directoryURL`, `idleURL`,
    /// `secure*URL`...) and `idleTimeout`, in document order, values trimmed.
    #[must_use]
    pub fn urls(&self) -> Vec<(String, String)> {
        self.root()
            .children()
            .filter(|e| {
                let n = e.name();
                n.ends_with("URL") || n == "idleTimeout"
            })
            .map(|e| (e.name().into_owned(), e.text()))
            .collect()
    }

    /// `vendorConfig` entries in document order: child name and trimmed text (for a child with
    /// children of its own, their texts are not included: read it with [`CnfDocument::find`]).
    #[must_use]
    pub fn vendor_config(&self) -> Vec<(String, String)> {
        self.root()
            .child("vendorConfig")
            .map(|v| v.children().map(|c| (c.name().into_owned(), c.text())).collect())
            .unwrap_or_default()
    }

    /// Security fields.
    #[must_use]
    pub fn security(&self) -> Security {
        let r = self.root();
        Security {
            device_security_mode: r
                .child_text("deviceSecurityMode")
                .and_then(|t| DeviceSecurityMode::parse(&t)),
            cert_hash: r.child_text("certHash"),
            encr_config: r.child_text("encrConfig"),
            capf_auth_mode: r.child_text("capfAuthMode").and_then(|t| CapfAuthMode::parse(&t)),
            capf_ports: r
                .child("capfList")
                .map(|l| l.children_named("capf").filter_map(|c| num(&c, "phonePort")).collect())
                .unwrap_or_default(),
        }
    }

    /// `userLocale`.
    #[must_use]
    pub fn user_locale(&self) -> Option<UserLocale> {
        let u = self.root().child("userLocale")?;
        Some(UserLocale {
            name: u.child_text("name"),
            uid: u.child_text("uid"),
            lang_code: u.child_text("langCode"),
            version: u.child_text("version"),
            win_char_set: u.child_text("winCharSet"),
        })
    }

    /// `networkLocale` and `networkLocaleInfo`.
    #[must_use]
    pub fn network_locale(&self) -> Option<NetworkLocale> {
        let r = self.root();
        let name = r.child_text("networkLocale");
        let info = r.child("networkLocaleInfo");
        if name.is_none() && info.is_none() {
            return None;
        }
        let t = |n: &str| info.as_ref().and_then(|i| i.child_text(n));
        Some(NetworkLocale { name, info_name: t("name"), uid: t("uid"), version: t("version") })
    }

    /// `versionStamp`, trimmed.
    #[must_use]
    pub fn version_stamp(&self) -> Option<String> {
        self.root().child_text("versionStamp")
    }

    /// `transportLayerProtocol`.
    #[must_use]
    pub fn transport_layer_protocol(&self) -> Option<TransportLayerProtocol> {
        self.root()
            .child_text("transportLayerProtocol")
            .and_then(|t| TransportLayerProtocol::parse(&t))
    }

    /// `sipProfile` and its lines.
    #[must_use]
    pub fn sip_profile(&self) -> Option<SipProfile> {
        let p = self.root().child("sipProfile")?;
        let proxies = p.child("sipProxies");
        let lines = p
            .child("sipLines")
            .map(|l| {
                l.children_named("line")
                    .map(|line| SipLine {
                        button: line.attribute("button").and_then(|b| b.trim().parse().ok()),
                        line_index: line.attribute("lineIndex").and_then(|b| b.trim().parse().ok()),
                        feature_id: line.child_text("featureID").and_then(|t| FeatureId::parse(&t)),
                        feature_label: line.child_text("featureLabel"),
                        proxy: line.child_text("proxy"),
                        port: num(&line, "port"),
                        name: line.child_text("name"),
                        display_name: line.child_text("displayName"),
                        auth_name: line.child_text("authName"),
                        auth_password: line.child_text("authPassword"),
                        contact: line.child_text("contact"),
                        speed_dial_number: line.child_text("speedDialNumber"),
                        path: line.path(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(SipProfile {
            phone_label: p.child_text("phoneLabel"),
            outbound_proxy: proxies.as_ref().and_then(|x| x.child_text("outboundProxy")),
            register_with_proxy: proxies.as_ref().and_then(|x| x.child_text("registerWithProxy")),
            preferred_codec: p.child_text("preferredCodec"),
            dial_template: p.child_text("dialTemplate"),
            lines,
        })
    }

    /// All views at once.
    #[must_use]
    pub fn summary(&self) -> Summary {
        Summary {
            root_kind: self.root_kind(),
            root_name: self.root().name().into_owned(),
            device_protocol: self.device_protocol(),
            call_manager_group: self.call_manager_group(),
            tvs: self.tvs(),
            firmware: self.firmware(),
            device_pool: self.device_pool(),
            urls: self.urls(),
            vendor_config: self.vendor_config(),
            security: self.security(),
            user_locale: self.user_locale(),
            network_locale: self.network_locale(),
            version_stamp: self.version_stamp(),
            transport_layer_protocol: self.transport_layer_protocol(),
            sip_profile: self.sip_profile(),
        }
    }

    /// Sets the load of a device type: the text of `loadInformationNNN` if present, else a new
    /// `<loadInformationNNN model="...">` after the last load entry (or at the end of the
    /// root), with the model from [`DeviceType::KNOWN`] when known.
    ///
    /// ```
    /// use cnfkit_config::{CnfDocument, DeviceType};
    /// let mut doc = CnfDocument::parse(b"<Default>\n  <loadInformation8 model=\"Cisco 7940\">P0030801SR02</loadInformation8>\n</Default>\n")?;
    /// doc.set_load(DeviceType::CISCO_7942, "SCCP42.9-4-2SR4-3S")?;
    /// assert_eq!(doc.firmware().for_model("7942").unwrap().load, "SCCP42.9-4-2SR4-3S");
    /// assert!(String::from_utf8_lossy(doc.as_bytes()).contains("\n  <loadInformation434 model=\"Cisco 7942\">"));
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidChar`] for a load name XML cannot carry.
    pub fn set_load(&mut self, device_type: DeviceType, load: &str) -> Result<(), Error> {
        let name = format!("loadInformation{}", device_type.0);
        if self.root().child(&name).is_some() {
            return self.set_text(&name, load);
        }
        self.insert_after_last_load(&name, load)?;
        if let Some(model) = device_type.model() {
            self.set_attribute(&name, "model", model)?;
        }
        Ok(())
    }

    /// Sets the document's own load: the text of the plain `<loadInformation>` (what a
    /// `SEP<MAC>.cnf.xml` names for its phone, or an XMLDefault's catch-all), else a new one
    /// after the last load entry (or at the end of the root). Numbered entries are left alone:
    /// for those, [`CnfDocument::set_load`].
    ///
    /// ```
    /// use cnfkit_config::CnfDocument;
    /// let mut doc = CnfDocument::parse(b"<device>\n  <loadInformation>SCCP42.9-4-2SR3-1S</loadInformation>\n</device>\n")?;
    /// doc.set_own_load("SCCP42.9-4-2SR4-3S")?;
    /// assert_eq!(doc.as_bytes(), b"<device>\n  <loadInformation>SCCP42.9-4-2SR4-3S</loadInformation>\n</device>\n");
    ///
    /// let mut bare = CnfDocument::parse(b"<device>\n  <versionStamp>1</versionStamp>\n</device>\n")?;
    /// bare.set_own_load("sip78xx.14-3-1-0001-89")?;
    /// assert_eq!(bare.find("loadInformation").unwrap().text(), "sip78xx.14-3-1-0001-89");
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidChar`] for a load name XML cannot carry.
    pub fn set_own_load(&mut self, load: &str) -> Result<(), Error> {
        if self.root().child("loadInformation").is_some() {
            return self.set_text("loadInformation", load);
        }
        self.insert_after_last_load("loadInformation", load)
    }

    /// Adds `<name>load</name>` after the last load entry of the root (an add-on module's
    /// does not count), or at the end of the root when there is none.
    fn insert_after_last_load(&mut self, name: &str, load: &str) -> Result<(), Error> {
        let last = self
            .firmware()
            .entries
            .iter()
            .rev()
            .find(|e| !matches!(e.form, LoadForm::AddOnModule { .. }))
            .map(|e| e.path.clone());
        match last {
            Some(p) => self.insert_element_after(&p, name, load),
            None => self.append_element("", name, load),
        }
    }

    /// Sets (or adds) a `vendorConfig` entry, creating `vendorConfig` if needed.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::InvalidChar`], [`Error::NotALeaf`].
    pub fn set_vendor_config(&mut self, key: &str, value: &str) -> Result<(), Error> {
        if key.contains(['/', '[']) {
            return Err(Error::InvalidName { name: key.to_owned() });
        }
        self.set_or_create(&format!("vendorConfig/{key}"), value)
    }
}
