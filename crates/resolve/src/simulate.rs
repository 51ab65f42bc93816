//! A phone's boot, simulated: the requests it makes, what each answer means, and the outcome.
//!
//! Sans-IO, like the TFTP engine: [`BootSimulation::next_request`] says which file the phone asks
//! for next, the caller fetches it however it likes (over TFTP from a real server, from a
//! directory, from memory) and reports the result with [`BootSimulation::answer`], until there is
//! no next request; then [`BootSimulation::report`] says what the phone did and why.

use cnfkit_config::{CnfDocument, DeviceType, ParseOptions, SipCnf, SipLayers};

use crate::{
    FirmwareDecision, LoadsManifest, ModelTable, OnMiss, PhoneSetup, PlannedRequest, Protocol,
    Purpose, boot_requests, firmware_decision,
};

/// What a request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The file, whole.
    Found(Vec<u8>),
    /// TFTP error 1, "File not found".
    NotFound,
    /// Anything else (timeout, another error code, a transfer that failed midway).
    Failed(String),
}

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestResult {
    /// The file arrived whole.
    Found,
    /// "File not found" (what that means for the phone is in the report).
    NotFound,
    /// The transfer failed (a timeout, another error code, a transfer cut off).
    Failed {
        /// Why, as the transport said.
        reason: String,
    },
}

impl RequestResult {
    /// Whether the transfer failed (a miss is not a failure).
    #[must_use]
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
}

impl std::fmt::Display for RequestResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Found => f.write_str("found"),
            Self::NotFound => f.write_str("not found"),
            Self::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

/// One request the phone made and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The file name asked for.
    pub name: String,
    /// What it got.
    pub result: RequestResult,
    /// Bytes received.
    pub bytes: u64,
}

/// Which configuration the phone ended up using, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUsed {
    /// The file name.
    pub name: String,
    /// Whether it is the phone's own file (`false`: it fell back to a default).
    pub own: bool,
}

/// The outcome of a boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootReport {
    /// Every request in order, with its result.
    pub requests: Vec<RequestRecord>,
    /// The configuration used, if any.
    pub config: Option<ConfigUsed>,
    /// The call managers (or SIP proxies) it will register to, in priority order.
    pub call_managers: Vec<String>,
    /// The load its configuration names, if any.
    pub load: Option<String>,
    /// What it does about firmware.
    pub firmware: FirmwareDecision,
    /// Why the phone is stuck, if it is: what a user sees and what to fix.
    pub stuck: Option<String>,
}

impl BootReport {
    /// Whether the phone finished its boot (it may still be changing firmware).
    #[must_use]
    pub fn ok(&self) -> bool {
        self.stuck.is_none()
    }
}

#[derive(Debug)]
enum Stage {
    /// Walking the planned requests (trust lists, configurations).
    Plan,
    /// Fetching a firmware manifest.
    Manifest(String),
    /// Fetching the images a manifest listed.
    Images(Vec<String>),
    Done,
}

/// A phone booting, one request at a time.
///
/// ```
/// use cnfkit_resolve::{BootSimulation, Fetch, ModelTable, PhoneSetup, Protocol};
///
/// let phone = PhoneSetup::new("001122AABBCC".parse()?, "7942", Protocol::Sccp);
/// let mut boot = BootSimulation::new(&ModelTable::builtin(), phone, Some("SCCP42.9-4-2SR3-1S"))?;
/// let xml_default = br#"<Default><callManagerGroup><members><member priority="0"><callManager>
///   <processNodeName>10.0.0.1</processNodeName></callManager></member></members></callManagerGroup>
///   <loadInformation434 model="Cisco 7942">SCCP42.9-4-2SR3-1S</loadInformation434></Default>"#;
/// while let Some(name) = boot.next_request() {
///     let answer = if name == "XMLDefault.cnf.xml" { Fetch::Found(xml_default.to_vec()) } else { Fetch::NotFound };
///     boot.answer(answer);
/// }
/// let report = boot.report();
/// assert_eq!(report.config.as_ref().map(|c| (c.name.as_str(), c.own)), Some(("XMLDefault.cnf.xml", false)));
/// assert_eq!(report.call_managers, ["10.0.0.1"]);
/// assert!(report.ok());
/// # Ok::<(), cnfkit_resolve::Error>(())
/// ```
#[derive(Debug)]
pub struct BootSimulation {
    phone: PhoneSetup,
    device_types: Vec<u32>,
    running_load: Option<String>,
    plan: Vec<PlannedRequest>,
    next: usize,
    stage: Stage,
    sip_default: Option<SipCnf>,
    factory_manifest: bool,
    report: BootReport,
}

impl BootSimulation {
    /// Starts the boot of `phone`, which runs `running_load` (`None`: unknown).
    ///
    /// # Errors
    /// As [`boot_requests`]: an unknown model or an unsupported protocol.
    pub fn new(
        table: &ModelTable,
        phone: PhoneSetup,
        running_load: Option<&str>,
    ) -> Result<Self, crate::Error> {
        let plan = boot_requests(table, &phone)?;
        let device_types =
            table.by_model(&phone.model).map(|(_, m)| m.device_types.clone()).unwrap_or_default();
        Ok(Self {
            phone,
            device_types,
            running_load: running_load.map(str::to_owned),
            plan,
            next: 0,
            stage: Stage::Plan,
            sip_default: None,
            factory_manifest: false,
            report: BootReport {
                requests: Vec::new(),
                config: None,
                call_managers: Vec::new(),
                load: None,
                firmware: FirmwareDecision::NoLoadNamed,
                stuck: None,
            },
        })
    }

    /// The file the phone asks for next, or `None` when the boot is over.
    #[must_use]
    pub fn next_request(&self) -> Option<String> {
        match &self.stage {
            Stage::Plan => self.plan.get(self.next).map(|r| r.name.clone()),
            Stage::Manifest(name) => Some(name.clone()),
            Stage::Images(images) => images.first().cloned(),
            Stage::Done => None,
        }
    }

    /// Reports what the last request got.
    pub fn answer(&mut self, fetch: Fetch) {
        let Some(name) = self.next_request() else { return };
        let (result, bytes) = match &fetch {
            Fetch::Found(bytes) => (RequestResult::Found, bytes.len() as u64),
            Fetch::NotFound => (RequestResult::NotFound, 0),
            Fetch::Failed(why) => (RequestResult::Failed { reason: why.clone() }, 0),
        };
        self.report.requests.push(RequestRecord { name: name.clone(), result, bytes });
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Plan => self.answer_planned(fetch),
            Stage::Manifest(name) => self.answer_manifest(&name, fetch),
            Stage::Images(mut images) => {
                images.remove(0);
                match fetch {
                    Fetch::Found(_) => {
                        self.stage = if images.is_empty() { self.after_firmware() } else { Stage::Images(images) };
                    }
                    _ => self.stick(format!(
                        "firmware image {name} is missing: the load change fails and the phone retries it on every boot"
                    )),
                }
            }
            Stage::Done => {}
        }
    }

    /// The outcome so far (complete once [`next_request`](Self::next_request) is `None`).
    #[must_use]
    pub fn report(&self) -> &BootReport {
        &self.report
    }

    /// Ends the boot as stuck.
    fn stick(&mut self, why: String) {
        self.report.stuck = Some(why);
        self.stage = Stage::Done;
    }

    fn answer_planned(&mut self, fetch: Fetch) {
        let planned = self.plan[self.next].clone();
        self.next += 1;
        self.stage = Stage::Plan;
        match (fetch, planned.purpose) {
            (Fetch::Found(bytes), Purpose::FactoryManifest) => {
                self.factory_manifest = true;
                match LoadsManifest::parse(&bytes) {
                    Ok(manifest) if !manifest.images.is_empty() => {
                        // The factory-default load runs first; the configuration comes after.
                        let images = manifest.images.into_iter().map(|i| i.name).collect();
                        self.stage = Stage::Images(images);
                    }
                    _ => self.stick(format!("{} lists no images", planned.name)),
                }
            }
            (Fetch::Found(_), Purpose::TrustList | Purpose::LoaderPointer) => {}
            (Fetch::Found(bytes), Purpose::DefaultConfig) if planned.name == "SIPDefault.cnf" => {
                self.sip_default = Some(SipCnf::parse(&bytes));
            }
            (Fetch::Found(bytes), Purpose::OwnConfig | Purpose::DefaultConfig) => {
                let own = planned.purpose == Purpose::OwnConfig;
                self.use_config(&planned.name, own, &bytes);
            }
            (Fetch::NotFound | Fetch::Failed(_), _) => match planned.on_miss {
                OnMiss::Continue | OnMiss::FallBack => {}
                OnMiss::Stuck(why) => self.stick(why),
            },
        }
        if matches!(self.stage, Stage::Plan) && self.next >= self.plan.len() {
            self.stage = Stage::Done;
        }
    }

    /// Reads the configuration the phone settled on, and decides firmware.
    fn use_config(&mut self, name: &str, own: bool, bytes: &[u8]) {
        // Later planned requests (the default after the own file) are not made.
        self.next = self.plan.len();
        self.report.config = Some(ConfigUsed { name: name.to_owned(), own });
        // A signed config (`.sgn`) is the signed header and then the plain file; the phone
        // checks the signature against its trust list and reads the rest. The simulator
        // does not check signatures (cnfkit-repack does), it reads past the header.
        let bytes = match crate::loads::signed_header_len(bytes) {
            Ok(header) => &bytes[header..],
            Err(_) => {
                self.stick(format!(
                    "{name}: the signed header is longer than the file: phones reject it"
                ));
                return;
            }
        };
        if name.ends_with(".cnf") {
            let device = SipCnf::parse(bytes);
            let empty = SipCnf::parse(b"");
            let layers = SipLayers::new(self.sip_default.as_ref().unwrap_or(&empty), &device);
            let settings = layers.settings();
            self.report.call_managers =
                settings.proxies.iter().filter_map(|p| p.address.clone()).collect();
            self.report.load = settings.image_version.filter(|v| !v.trim().is_empty());
        } else {
            let doc = match CnfDocument::parse_with(bytes, ParseOptions::strict()) {
                Ok(doc) => doc,
                Err(e) => {
                    self.stick(format!(
                        "{name} is not well-formed XML ({e}): phones may reject it"
                    ));
                    return;
                }
            };
            let mut members = doc.call_manager_group().map(|g| g.members).unwrap_or_default();
            members.sort_by_key(|m| m.priority.unwrap_or(u8::MAX));
            self.report.call_managers = members
                .into_iter()
                .filter_map(|m| m.process_node_name)
                .filter(|n| !n.is_empty())
                .collect();
            let firmware = doc.firmware();
            let entry = if own {
                firmware.plain()
            } else {
                self.device_types
                    .iter()
                    .find_map(|&t| firmware.for_device_type(DeviceType(t)))
                    .or_else(|| firmware.for_model(&self.phone.model))
                    .or_else(|| firmware.plain())
            };
            self.report.load = entry.map(|e| e.load.clone()).filter(|l| !l.trim().is_empty());
        }
        if self.report.call_managers.is_empty() {
            let what =
                if self.phone.protocol == Protocol::Sip { "SIP proxy" } else { "call manager" };
            self.stick(format!(
                "{name} names no {what}: the phone has nothing to register to (an empty SEP file shows \"Protocol Application Invalid\")"
            ));
            return;
        }
        self.decide_firmware();
    }

    fn decide_firmware(&mut self) {
        let running = if self.factory_manifest { None } else { self.running_load.as_deref() };
        let decision = firmware_decision(running, self.report.load.as_deref());
        self.report.firmware = decision.clone();
        self.stage = match decision {
            FirmwareDecision::Upgrade { to }
            | FirmwareDecision::Downgrade { to }
            | FirmwareDecision::Change { to } => Stage::Manifest(to.manifest_name()),
            FirmwareDecision::Blocked { reason, .. } => {
                self.stick(reason);
                Stage::Done
            }
            FirmwareDecision::NoLoadNamed | FirmwareDecision::UpToDate => Stage::Done,
        };
    }

    fn answer_manifest(&mut self, name: &str, fetch: Fetch) {
        let Fetch::Found(bytes) = fetch else {
            self.stick(format!(
                "the configuration names load {} but {name} is not on the server: the phone keeps its load and retries on every boot",
                self.report.load.as_deref().unwrap_or("?")
            ));
            return;
        };
        match LoadsManifest::parse(&bytes) {
            Ok(manifest) if !manifest.images.is_empty() => {
                self.stage = Stage::Images(manifest.images.into_iter().map(|i| i.name).collect());
            }
            Ok(_) => self.stick(format!("{name} lists no images")),
            Err(e) => self.stick(format!("{name}: {e}")),
        }
    }

    /// After the images of a manifest: the factory load leads on to the configuration requests;
    /// a configured load ends the boot.
    fn after_firmware(&mut self) -> Stage {
        if self.report.config.is_none() && self.next < self.plan.len() {
            Stage::Plan
        } else {
            Stage::Done
        }
    }
}
