//! Builders for `XMLDefault.cnf.xml` and `SEP<MAC>.cnf.xml`, laid out the way a CUCM TFTP
//! service writes them (the element order of the [cnf.xml element
//! table](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#cnfxml-elements)),
//! two-space indented, LF, stable:
//! the same input always gives the same bytes.

use crate::codes::{DeviceSecurityMode, DeviceType, TransportLayerProtocol};
use crate::doc::{CnfDocument, ParseOptions};
use crate::encoding::{self, Context, Encoding};
use crate::error::Error;
use crate::identity::{Mac, MacCase, Protocol};

/// A call manager for a builder's `callManagerGroup`. Members get priorities 0, 1, 2... in
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallManagerSpec {
    /// `processNodeName`: address or host name (at most 50 characters).
    pub host: String,
    /// `callManager/name`.
    pub name: Option<String>,
    /// `callManager/description`.
    pub description: Option<String>,
    /// `ethernetPhonePort` (SCCP), 2000 by default.
    pub sccp_port: Option<u16>,
    /// `sipPort`, 5060 by default.
    pub sip_port: Option<u16>,
    /// `securedSipPort`, 5061 by default.
    pub secured_sip_port: Option<u16>,
}

impl CallManagerSpec {
    /// A call manager at `host` with the default ports (2000, 5060, 5061).
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            name: None,
            description: None,
            sccp_port: Some(2000),
            sip_port: Some(5060),
            secured_sip_port: Some(5061),
        }
    }
}

/// A SIP line of an inventory record (`sipProfile/sipLines/line`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineRecord {
    /// The directory number / user to register (`name`, `contact`).
    pub number: String,
    /// `featureLabel` (30 characters at most); the number if `None`.
    pub label: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `authName`; the number if `None`.
    pub auth_name: Option<String>,
    /// `authPassword`.
    pub password: Option<String>,
    /// `proxy`: `USECALLMANAGER` (register to the call manager group) if `None`.
    pub proxy: Option<String>,
    /// `port`, 5060 if `None`.
    pub port: Option<u16>,
}

impl std::str::FromStr for LineRecord {
    type Err = Error;

    /// The one line notation of the inventory CSV and `cnf-edit new device --line`:
    /// `NUMBER[:LABEL[:PASSWORD]]`. The password comes last so that it may hold `:`; an empty
    /// label or password is `None`.
    ///
    /// ```
    /// use cnfkit_config::LineRecord;
    /// let line: LineRecord = "1001:Front desk:s3c:ret".parse()?;
    /// assert_eq!(line.number, "1001");
    /// assert_eq!(line.label.as_deref(), Some("Front desk"));
    /// assert_eq!(line.password.as_deref(), Some("s3c:ret"));
    /// assert_eq!("1002".parse::<LineRecord>()?.label, None);
    /// assert!(":label".parse::<LineRecord>().is_err());
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    fn from_str(text: &str) -> Result<Self, Error> {
        let mut parts = text.splitn(3, ':');
        let number = parts.next().unwrap_or_default().trim();
        if number.is_empty() {
            return Err(Error::InvalidValue {
                field: "line",
                value: text.to_owned(),
                reason: "NUMBER[:LABEL[:PASSWORD]] with a number",
            });
        }
        let mut next = || parts.next().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let label = next();
        let password = next();
        Ok(Self { number: number.to_owned(), label, password, ..Self::default() })
    }
}

/// A small inventory record: what [`build_device`] needs to write a `SEP<MAC>.cnf.xml`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneRecord {
    /// MAC address.
    pub mac: Mac,
    /// Model (`7942`, `CP-7942G`), recorded in a comment and used to check the load family.
    pub model: String,
    /// SCCP or SIP.
    pub protocol: Protocol,
    /// SIP lines (SCCP phones get their lines from the call manager, not from the file).
    pub lines: Vec<LineRecord>,
    /// Call managers, in priority order.
    pub call_managers: Vec<CallManagerSpec>,
    /// `loadInformation`.
    pub load: Option<String>,
    /// `userLocale/name` (`English_United_States`) and `langCode` (`en_US`).
    pub user_locale: Option<(String, String)>,
    /// `networkLocale` (`United_States`).
    pub network_locale: Option<String>,
    /// `dateTimeSetting/timeZone` (Windows name) and `dateTemplate`.
    pub time_zone: Option<(String, String)>,
    /// NTP servers.
    pub ntp: Vec<String>,
    /// `vendorConfig` entries, in order.
    pub vendor_config: Vec<(String, String)>,
    /// `deviceSecurityMode`, [`DeviceSecurityMode::INSECURE`] if `None`.
    pub security_mode: Option<DeviceSecurityMode>,
    /// `sipProfile/phoneLabel` (SIP).
    pub phone_label: Option<String>,
}

/// Writes indented XML (the crate's own escaping, UTF-8).
struct Out {
    buf: Vec<u8>,
    depth: usize,
}

impl Out {
    fn new() -> Self {
        Self { buf: b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec(), depth: 0 }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.buf.extend_from_slice(b"  ");
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), Error> {
        self.indent();
        self.start_tag(name, attrs)?;
        self.buf.push(b'\n');
        self.depth += 1;
        Ok(())
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), Error> {
        if !encoding::is_xml_name(name) {
            return Err(Error::InvalidName { name: name.to_owned() });
        }
        self.buf.push(b'<');
        self.buf.extend_from_slice(name.as_bytes());
        for (k, v) in attrs {
            self.buf.push(b' ');
            self.buf.extend_from_slice(k.as_bytes());
            self.buf.extend_from_slice(b"=\"");
            let esc = encoding::escape(v, Context::Attribute(b'"'), Encoding::Utf8, k)?;
            self.buf.extend(esc);
            self.buf.push(b'"');
        }
        self.buf.push(b'>');
        Ok(())
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.buf.extend_from_slice(format!("</{name}>\n").as_bytes());
    }

    fn leaf_attrs(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> Result<(), Error> {
        self.indent();
        self.start_tag(name, attrs)?;
        self.buf.extend(encoding::escape(text, Context::Text, Encoding::Utf8, name)?);
        self.buf.extend_from_slice(format!("</{name}>\n").as_bytes());
        Ok(())
    }

    fn leaf(&mut self, name: &str, text: &str) -> Result<(), Error> {
        self.leaf_attrs(name, &[], text)
    }

    fn comment(&mut self, text: &str) {
        self.indent();
        let safe = text.replace("--", "- -");
        self.buf.extend_from_slice(format!("<!-- {safe} -->\n").as_bytes());
    }

    fn finish(self) -> Result<CnfDocument, Error> {
        CnfDocument::parse_owned(self.buf, ParseOptions::strict())
    }
}

fn call_manager_group(
    out: &mut Out,
    name: Option<&str>,
    cms: &[CallManagerSpec],
    protocol: Option<Protocol>,
) -> Result<(), Error> {
    out.open("callManagerGroup", &[])?;
    if let Some(n) = name {
        out.leaf("name", n)?;
        out.leaf("tftpDefault", "true")?;
    }
    out.open("members", &[])?;
    for (i, cm) in cms.iter().enumerate() {
        let prio = i.to_string();
        out.open("member", &[("priority", &prio)])?;
        out.open("callManager", &[])?;
        if let Some(n) = &cm.name {
            out.leaf("name", n)?;
        }
        if let Some(d) = &cm.description {
            out.leaf("description", d)?;
        }
        out.open("ports", &[])?;
        if let Some(p) = cm.sccp_port {
            out.leaf("ethernetPhonePort", &p.to_string())?;
        }
        if protocol != Some(Protocol::Sccp) {
            if let Some(p) = cm.sip_port {
                out.leaf("sipPort", &p.to_string())?;
            }
            if let Some(p) = cm.secured_sip_port {
                out.leaf("securedSipPort", &p.to_string())?;
            }
        }
        out.close("ports");
        out.leaf("processNodeName", &cm.host)?;
        out.close("callManager");
        out.close("member");
    }
    out.close("members");
    out.close("callManagerGroup");
    Ok(())
}

fn check_host(host: &str) -> Result<(), Error> {
    if host.trim().is_empty() {
        return Err(Error::InvalidValue {
            field: "processNodeName",
            value: host.into(),
            reason: "empty",
        });
    }
    if host.chars().count() > 50 {
        return Err(Error::InvalidValue {
            field: "processNodeName",
            value: host.into(),
            reason: "longer than 50 characters",
        });
    }
    Ok(())
}

/// Builds an `XMLDefault.cnf.xml` the way a CUCM TFTP service writes it.
///
/// ```
/// use cnfkit_config::{CallManagerSpec, DefaultBuilder, DeviceType};
/// let doc = DefaultBuilder::new()
///     .call_manager(CallManagerSpec::new("10.0.0.1"))
///     .load(DeviceType::CISCO_7942, "SCCP42.9-4-2SR4-3S")
///     .url("servicesURL", "http://10.0.0.2/services.xml")
///     .build()?;
/// assert_eq!(doc.call_manager_group().unwrap().members[0].process_node_name.as_deref(), Some("10.0.0.1"));
/// assert_eq!(doc.firmware().for_model("7942").unwrap().load, "SCCP42.9-4-2SR4-3S");
/// assert!(String::from_utf8_lossy(doc.as_bytes()).contains("<loadInformation434 model=\"Cisco 7942\">"));
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct DefaultBuilder {
    group_name: Option<String>,
    call_managers: Vec<CallManagerSpec>,
    loads: Vec<(DeviceType, String)>,
    urls: Vec<(String, String)>,
    tvs: Vec<(String, u16)>,
    auto_registration: Option<(String, bool)>,
}

impl DefaultBuilder {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the group (adds `name` and `tftpDefault`, as CUCM does).
    #[must_use]
    pub fn group_name(mut self, name: impl Into<String>) -> Self {
        self.group_name = Some(name.into());
        self
    }

    /// Adds a call manager (priority = order of calls).
    #[must_use]
    pub fn call_manager(mut self, cm: CallManagerSpec) -> Self {
        self.call_managers.push(cm);
        self
    }

    /// Sets the load of a device type (a later call for the same type replaces it). Loads are
    /// written sorted by device type number, so the output does not depend on call order.
    #[must_use]
    pub fn load(mut self, device_type: DeviceType, load: impl Into<String>) -> Self {
        self.loads.retain(|(t, _)| *t != device_type);
        self.loads.push((device_type, load.into()));
        self
    }

    /// Adds a URL element (`servicesURL`, `directoryURL`, `idleURL`...).
    #[must_use]
    pub fn url(mut self, element: impl Into<String>, url: impl Into<String>) -> Self {
        self.urls.push((element.into(), url.into()));
        self
    }

    /// Adds a TVS member (trust verification service; port 2445 on CUCM).
    #[must_use]
    pub fn tvs(mut self, address: impl Into<String>, port: u16) -> Self {
        self.tvs.push((address.into(), port));
        self
    }

    /// Writes `autoRegistrationName` and `autoRegistration` (88xx).
    #[must_use]
    pub fn auto_registration(mut self, name: impl Into<String>, enabled: bool) -> Self {
        self.auto_registration = Some((name.into(), enabled));
        self
    }

    /// Writes the file and parses it back.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] for no call manager, an empty or too long host, a URL over 255
    /// characters; [`Error::InvalidName`] for a bad URL element name; [`Error::InvalidChar`].
    pub fn build(&self) -> Result<CnfDocument, Error> {
        if self.call_managers.is_empty() {
            return Err(Error::InvalidValue {
                field: "call managers",
                value: String::new(),
                reason: "at least one is needed",
            });
        }
        let mut out = Out::new();
        out.open("Default", &[])?;
        for cm in &self.call_managers {
            check_host(&cm.host)?;
        }
        call_manager_group(&mut out, self.group_name.as_deref(), &self.call_managers, None)?;
        if !self.tvs.is_empty() {
            out.open("TVS", &[])?;
            out.open("members", &[])?;
            for (i, (addr, port)) in self.tvs.iter().enumerate() {
                out.open("member", &[("priority", &i.to_string())])?;
                out.leaf("port", &port.to_string())?;
                out.leaf("address", addr)?;
                out.close("member");
            }
            out.close("members");
            out.close("TVS");
        }
        if let Some((name, enabled)) = &self.auto_registration {
            out.leaf("autoRegistrationName", name)?;
            out.leaf("autoRegistration", if *enabled { "enabled" } else { "disabled" })?;
        }
        let mut loads = self.loads.clone();
        loads.sort_by_key(|(t, _)| *t);
        for (t, load) in &loads {
            let name = format!("loadInformation{}", t.0);
            match t.model() {
                Some(m) => out.leaf_attrs(&name, &[("model", m)], load)?,
                None => out.leaf(&name, load)?,
            }
        }
        for (el, url) in &self.urls {
            if url.chars().count() > 255 {
                return Err(Error::InvalidValue {
                    field: "URL",
                    value: url.clone(),
                    reason: "longer than 255 characters",
                });
            }
            out.leaf(el, url)?;
        }
        out.close("Default");
        out.finish()
    }
}

/// Builds a `SEP<MAC>.cnf.xml` for an SCCP or SIP phone from an inventory record. Returns the
/// file name (MAC in `case`) and the document.
///
/// ```
/// use cnfkit_config::{build_device, CallManagerSpec, LineRecord, MacCase, PhoneRecord, Protocol};
/// let record = PhoneRecord {
///     mac: "00:1b:54:ca:fe:01".parse()?,
///     model: "7942".into(),
///     protocol: Protocol::Sip,
///     lines: vec![LineRecord { number: "1001".into(), password: Some("pw".into()), ..Default::default() }],
///     call_managers: vec![CallManagerSpec::new("pbx.lab")],
///     load: Some("SIP42.9-4-2SR3-1S".into()),
///     ..Default::default()
/// };
/// let (name, doc) = build_device(&record, MacCase::Upper)?;
/// assert_eq!(name, "SEP001B54CAFE01.cnf.xml");
/// assert_eq!(doc.sip_profile().unwrap().lines[0].auth_password.as_deref(), Some("pw"));
/// assert!(doc.validate().is_empty());
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidValue`] (no call manager, a host over 50
/// characters, a label over 30, more than 5 call managers), [`Error::InvalidName`] for a bad
/// vendorConfig key, [`Error::InvalidChar`].
pub fn build_device(record: &PhoneRecord, case: MacCase) -> Result<(String, CnfDocument), Error> {
    let mac = record.mac;
    if record.call_managers.is_empty() {
        return Err(Error::InvalidValue {
            field: "call managers",
            value: String::new(),
            reason: "at least one is needed",
        });
    }
    if record.call_managers.len() > 5 {
        return Err(Error::InvalidValue {
            field: "call managers",
            value: record.call_managers.len().to_string(),
            reason: "at most 5 members",
        });
    }
    for cm in &record.call_managers {
        check_host(&cm.host)?;
    }
    let mut out = Out::new();
    out.open("device", &[])?;
    let model =
        DeviceType::from_model(&record.model).and_then(DeviceType::model).unwrap_or(&record.model);
    out.comment(&format!("{} {} for {}", mac.sep_file_name(case), record.protocol.as_str(), model));
    out.leaf("fullConfig", "true")?;
    out.leaf("deviceProtocol", record.protocol.as_str())?;
    out.open("devicePool", &[])?;
    if record.time_zone.is_some() || !record.ntp.is_empty() {
        out.open("dateTimeSetting", &[])?;
        if let Some((tz, template)) = &record.time_zone {
            out.leaf("dateTemplate", template)?;
            out.leaf("timeZone", tz)?;
        }
        if !record.ntp.is_empty() {
            out.open("ntps", &[])?;
            for n in &record.ntp {
                out.open("ntp", &[])?;
                out.leaf("name", n)?;
                out.leaf("ntpMode", "Unicast")?;
                out.close("ntp");
            }
            out.close("ntps");
        }
        out.close("dateTimeSetting");
    }
    call_manager_group(&mut out, None, &record.call_managers, Some(record.protocol))?;
    out.close("devicePool");
    if record.protocol == Protocol::Sip {
        sip_profile(&mut out, record)?;
    }
    if let Some(load) = &record.load {
        out.leaf("loadInformation", load)?;
    }
    if !record.vendor_config.is_empty() {
        out.open("vendorConfig", &[])?;
        for (k, v) in &record.vendor_config {
            out.leaf(k, v)?;
        }
        out.close("vendorConfig");
    }
    if let Some((name, lang)) = &record.user_locale {
        out.open("userLocale", &[])?;
        out.leaf("name", name)?;
        out.leaf("langCode", lang)?;
        out.leaf("winCharSet", "utf-8")?;
        out.close("userLocale");
    }
    if let Some(n) = &record.network_locale {
        out.leaf("networkLocale", n)?;
    }
    let mode = record.security_mode.unwrap_or(DeviceSecurityMode::INSECURE);
    out.leaf("deviceSecurityMode", &mode.0.to_string())?;
    if record.protocol == Protocol::Sip {
        out.leaf("transportLayerProtocol", &TransportLayerProtocol::UDP.0.to_string())?;
    }
    out.leaf("certHash", "")?;
    out.leaf("encrConfig", "false")?;
    out.close("device");
    Ok((mac.sep_file_name(case), out.finish()?))
}

fn sip_profile(out: &mut Out, record: &PhoneRecord) -> Result<(), Error> {
    out.open("sipProfile", &[])?;
    out.open("sipProxies", &[])?;
    out.leaf("registerWithProxy", "true")?;
    out.close("sipProxies");
    if let Some(label) = &record.phone_label {
        out.leaf("phoneLabel", label)?;
    }
    out.open("sipLines", &[])?;
    for (i, line) in record.lines.iter().enumerate() {
        let label = line.label.as_deref().unwrap_or(&line.number);
        if label.chars().count() > 30 {
            return Err(Error::InvalidValue {
                field: "featureLabel",
                value: label.into(),
                reason: "longer than 30 characters",
            });
        }
        let button = (i + 1).to_string();
        out.open("line", &[("button", &button)])?;
        out.leaf("featureID", "9")?;
        out.leaf("featureLabel", label)?;
        out.leaf("proxy", line.proxy.as_deref().unwrap_or("USECALLMANAGER"))?;
        out.leaf("port", &line.port.unwrap_or(5060).to_string())?;
        out.leaf("name", &line.number)?;
        out.leaf("displayName", line.display_name.as_deref().unwrap_or(&line.number))?;
        out.leaf("authName", line.auth_name.as_deref().unwrap_or(&line.number))?;
        out.leaf("authPassword", line.password.as_deref().unwrap_or(""))?;
        out.leaf("contact", &line.number)?;
        out.close("line");
    }
    out.close("sipLines");
    out.leaf("dialTemplate", "dialplan.xml")?;
    out.close("sipProfile");
    Ok(())
}
