//! The TFTP driver's handler: every read answered through the resolver.
//!
//! [`ProvisioningHandler`] is what `cnf-server` runs: every read request goes through a
//! [`Resolver`] (exact file, other letter case, per-device config from the inventory, signed on
//! the fly, XMLDefault rebuilt, or "File not found"), and writes, when enabled, land atomically
//! inside the root. Errors sent to phones never contain server paths.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};

use cnfkit_resolve::{
    Answer, Failure, FileKind, LoadsManifest, Mac, Recognised, Resolver, Transport,
};
use cnfkit_tftp::driver::is_out_of_descriptors;
use cnfkit_tftp::{DataSink, DataSource, Handler, Incoming, Open, Refusal};
use cnfkit_tftp_wire::ErrorCode;
use tracing::{debug, error, info, warn};

use crate::monitor::Monitor;
use crate::registry::{AnswerKind, RequestSeen, loads_named};
use crate::{OpenFile, Served, UploadRefusal, Uploads, open_file_limit};

/// Whether and how write requests are taken.
#[derive(Debug, Clone)]
pub enum Writes {
    /// WRQ refused with "Access violation" (the default: a TFTP server faces hostile input).
    Off,
    /// Writes land in the upload areas only, atomically, within the cap and the quota.
    On(Uploads),
}

/// The [`Handler`] of a provisioning server.
pub struct ProvisioningHandler<D> {
    /// Replaced whole by a reload; a request answers from the one it started with.
    resolver: RwLock<Arc<Resolver<D>>>,
    writes: Writes,
    monitor: Option<Arc<Monitor>>,
}

impl<D: OpenFile> ProvisioningHandler<D> {
    /// Serves through `resolver`; writes off; no monitor.
    pub fn new(resolver: Resolver<D>) -> Self {
        Self { resolver: RwLock::new(Arc::new(resolver)), writes: Writes::Off, monitor: None }
    }

    /// Feeds `monitor` (the phone registry, its boot lines, the live feed, the metrics) with
    /// every request and every TFTP transfer's end.
    #[must_use]
    pub fn with_monitor(mut self, monitor: Arc<Monitor>) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// The monitor, when there is one.
    pub fn monitor(&self) -> Option<&Arc<Monitor>> {
        self.monitor.as_ref()
    }

    /// Takes write requests as `writes` says.
    #[must_use]
    pub fn with_writes(mut self, writes: Writes) -> Self {
        self.writes = writes;
        self
    }

    /// The resolver.
    pub fn resolver(&self) -> Arc<Resolver<D>> {
        self.resolver.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Answers from `resolver` from now on (a reload: a new inventory, new defaults); requests
    /// already answered, and transfers already running, keep what they started with.
    pub fn replace_resolver(&self, resolver: Resolver<D>) {
        *self.resolver.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(resolver);
    }

    /// Answers an HTTP request for `name` (the TFTP name the URL path stands for) through the
    /// same resolver as TFTP, and records it in the monitor as coming over `transport`, with
    /// `mac` when the client named itself elsewhere (a Multiplatform phone's User-Agent).
    pub fn answer_http(
        &self,
        peer: SocketAddr,
        name: &[u8],
        transport: Transport,
        mac: Option<Mac>,
        model: Option<&str>,
    ) -> HttpAnswer {
        let text = String::from_utf8_lossy(name);
        let resolver = self.resolver();
        let (resolved, mut said) =
            self.resolve_logged(&resolver, peer.ip(), &text, name, transport);
        // Only the monitor needs the name's kind: parsed once, for both of its uses.
        let recognised = self.monitor.as_ref().map(|_| Recognised::parse(&text));
        self.learn(&resolver, peer.ip(), &text, recognised, &resolved);
        let result = match resolved {
            Resolved::File(path) => match resolver.directory().open_served(&path) {
                Ok(served) => HttpAnswer::File(served),
                Err(error) => {
                    // A file the tree has that the server could not read (permissions, descriptors).
                    said = AnswerKind::Refused;
                    match Unreadable::of(peer.ip(), &text, &error) {
                        Unreadable::OutOfDescriptors => {
                            warn!(%peer, file = %text, limit = open_file_limit(), "out of file descriptors: 503");
                            HttpAnswer::Unavailable
                        }
                        Unreadable::Denied => HttpAnswer::Forbidden,
                        Unreadable::Gone => HttpAnswer::NotFound,
                    }
                }
            },
            Resolved::Generated(bytes) => HttpAnswer::Generated(bytes),
            Resolved::NotFound => HttpAnswer::NotFound,
            Resolved::Refused => HttpAnswer::Forbidden,
            Resolved::Busy => HttpAnswer::Unavailable,
        };
        let bytes = match &result {
            HttpAnswer::File(served) => served.len,
            HttpAnswer::Generated(bytes) => bytes.len() as u64,
            _ => 0,
        };
        let seen = Seen { recognised, model, bytes: Some(bytes) };
        self.record(peer, &text, said, transport, mac, seen);
        result
    }

    /// Resolves `name` and logs what it came to (a miss at debug level: it is in the boot
    /// line; a refusal at info; a server failure as an error), the same for every transport.
    /// Returns the answer and what to record of it.
    fn resolve_logged(
        &self,
        resolver: &Resolver<D>,
        peer: IpAddr,
        text: &str,
        name: &[u8],
        transport: Transport,
    ) -> (Resolved, AnswerKind) {
        let answer = resolver.resolve_for(name, Some(peer));
        let said = answer.kind();
        let resolved = match answer {
            Answer::File { path, found } => {
                debug!(%peer, file = %text, ?found, %transport, "serving from the tree");
                Resolved::File(path)
            }
            Answer::Generated { bytes, made } => {
                debug!(%peer, file = %text, ?made, bytes = bytes.len(), %transport, "serving a generated file");
                Resolved::Generated(bytes)
            }
            Answer::NotFound { normal, why, .. } => {
                debug!(%peer, file = %text, %why, normal, %transport, "not found");
                Resolved::NotFound
            }
            Answer::Refused(reason) => {
                info!(%peer, file = %text, %reason, %transport, "refused");
                Resolved::Refused
            }
            Answer::Failed { failure: Failure::Signing(e), .. } if e.is_over_budget() => {
                // Counted by the signer; a line per request would be the flood's own log.
                debug!(%peer, file = %text, %e, %transport, "not signed now");
                Resolved::Busy
            }
            Answer::Failed { failure, .. } => {
                // A signing or read failure is the server's, and logged as such; the phone gets
                // "not found", as for any file it cannot have, so it goes on as it would.
                error!(%peer, file = %text, %failure, %transport, "cannot answer");
                Resolved::NotFound
            }
            _ => Resolved::NotFound,
        };
        (resolved, said)
    }

    /// Records a request in the monitor (the registry, the feed, the metrics).
    fn record(
        &self,
        peer: SocketAddr,
        name: &str,
        said: AnswerKind,
        transport: Transport,
        mac: Option<Mac>,
        seen: Seen<'_>,
    ) {
        if let (Some(monitor), Some(recognised)) = (&self.monitor, seen.recognised) {
            monitor.request(&RequestSeen {
                peer,
                name,
                recognised,
                answer: said,
                transport,
                mac,
                model: seen.model,
                bytes: seen.bytes,
            });
        }
    }
}

/// What the monitor learns of a request besides its name and answer.
#[derive(Clone, Copy, Default)]
struct Seen<'a> {
    /// The name's kind and MAC, parsed when there is a monitor.
    recognised: Option<Recognised>,
    /// The model the client gave (HTTP User-Agent).
    model: Option<&'a str>,
    /// Bytes sent, when known at once (HTTP).
    bytes: Option<u64>,
}

impl<D: OpenFile> ProvisioningHandler<D> {
    /// When several phones share `ip` (behind NAT), tells the monitor which loads a served
    /// configuration names and which images a served manifest lists, so that their MAC-less
    /// requests go to the right phones. A phone on its own address costs nothing here.
    fn learn(
        &self,
        resolver: &Resolver<D>,
        ip: IpAddr,
        name: &str,
        recognised: Option<Recognised>,
        resolved: &Resolved,
    ) {
        let (Some(monitor), Some(Recognised { kind, .. })) = (&self.monitor, recognised) else {
            return;
        };
        let config = matches!(
            kind,
            FileKind::DeviceConfig(_)
                | FileKind::SipDeviceConfig
                | FileKind::XmlDefault(_)
                | FileKind::SipDefault
        );
        if !(config || kind == FileKind::Loads) || !monitor.shares_address(ip) {
            return;
        }
        let read;
        let bytes: &[u8] = match resolved {
            Resolved::File(path) => match resolver.directory().read(path) {
                Ok(bytes) => {
                    read = bytes;
                    &read
                }
                Err(_) => return,
            },
            Resolved::Generated(bytes) => bytes,
            Resolved::NotFound | Resolved::Refused | Resolved::Busy => return,
        };
        if config {
            monitor.learn_config(name, loads_named(bytes));
        } else if let Ok(manifest) = LoadsManifest::parse(bytes) {
            let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
            let load = file.strip_suffix(".loads").unwrap_or(file);
            monitor.learn_manifest(load, manifest.images.into_iter().map(|i| i.name).collect());
        }
    }
}

/// What a request comes to, before a transport puts it in its own words.
enum Resolved {
    /// A file of the tree, at this path.
    File(String),
    /// Bytes made for the request.
    Generated(Vec<u8>),
    /// Nothing to send (a miss, or the server's failure, logged as such).
    NotFound,
    /// A name that could leave the tree.
    Refused,
    /// The server will not make it now (its signing budget is spent): no answer over TFTP, so
    /// the client asks again; 503 over HTTP.
    Busy,
}

/// What an HTTP request comes to ([`ProvisioningHandler::answer_http`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpAnswer {
    /// A file of the tree.
    File(Served),
    /// Bytes made for this request: a configuration generated from the inventory, signed on
    /// the fly, or a rebuilt default.
    Generated(Vec<u8>),
    /// 404 Not Found.
    NotFound,
    /// 403 Forbidden: the name could leave the tree, or the file cannot be read.
    Forbidden,
    /// 503 Service Unavailable: the server is out of file descriptors, or has spent its signing
    /// budget (a client retries).
    Unavailable,
}

/// Every answer is decided at once: files are opened and signatures made on the loop (both
/// bounded: the tree is local or mirrored, signing by its budget).
impl<D: OpenFile> Handler for ProvisioningHandler<D> {
    fn open_read(&self, peer: SocketAddr, request: &Incoming) -> Open<Box<dyn DataSource>> {
        Open::Ready(self.read(peer, request))
    }

    fn open_write(&self, peer: SocketAddr, request: &Incoming) -> Open<Box<dyn DataSink>> {
        Open::Ready(self.write(peer, request))
    }

    fn transfer_ended(&self, peer: SocketAddr, summary: &cnfkit_tftp::Summary) {
        self.ended(peer, summary);
    }
}

impl<D: OpenFile> ProvisioningHandler<D> {
    fn read(&self, peer: SocketAddr, request: &Incoming) -> Result<Box<dyn DataSource>, Refusal> {
        let name = String::from_utf8_lossy(request.filename());
        let resolver = self.resolver();
        let (resolved, mut said) =
            self.resolve_logged(&resolver, peer.ip(), &name, request.filename(), Transport::Tftp);
        let recognised = self.monitor.as_ref().map(|_| Recognised::parse(&name));
        self.learn(&resolver, peer.ip(), &name, recognised, &resolved);
        let result = match resolved {
            Resolved::File(path) => resolver.directory().open_source(&path).map_err(|error| {
                said = AnswerKind::Refused;
                Unreadable::of(peer.ip(), &name, &error).refusal()
            }),
            Resolved::Generated(bytes) => Ok(Box::new(bytes) as Box<dyn DataSource>),
            Resolved::NotFound => Err(not_found()),
            Resolved::Busy => Err(Refusal::Unanswered(SIGNING_BUDGET_SPENT)),
            Resolved::Refused => {
                Err(Refusal::Error(ErrorCode::ACCESS_VIOLATION, "Access violation".to_owned()))
            }
        };
        let seen = Seen { recognised, ..Seen::default() };
        self.record(peer, &name, said, Transport::Tftp, None, seen);
        result
    }

    fn write(&self, peer: SocketAddr, request: &Incoming) -> Result<Box<dyn DataSink>, Refusal> {
        let Writes::On(uploads) = &self.writes else {
            return Err(Refusal::Error(
                ErrorCode::ACCESS_VIOLATION,
                "Writes are not allowed".to_owned(),
            ));
        };
        let name = String::from_utf8_lossy(request.filename());
        let target = match uploads.check(request.filename(), request.announced_size()) {
            Ok(target) => target,
            Err(why) => {
                info!(%peer, file = %name, %why, "upload refused");
                return Err(match why {
                    UploadRefusal::TooLarge | UploadRefusal::OverQuota => Refusal::Error(
                        ErrorCode::DISK_FULL,
                        "Disk full or allocation exceeded".to_owned(),
                    ),
                    _ => Refusal::Error(ErrorCode::ACCESS_VIOLATION, "Access violation".to_owned()),
                });
            }
        };
        let path = target.path.as_str().to_owned();
        match uploads.open(target) {
            Ok(sink) => {
                info!(%peer, file = %path, "receiving an upload");
                Ok(sink)
            }
            // Create-only unless overwrites are enabled: of two phones writing one name, one
            // installs its file and the other's finish fails with AlreadyExists.
            Err(cnfkit_fs::Error::Exists { .. }) => {
                Err(Refusal::Error(ErrorCode::FILE_EXISTS, "File already exists".to_owned()))
            }
            Err(error) => {
                warn!(%peer, file = %path, %error, "cannot take an upload");
                Err(Refusal::Error(ErrorCode::ACCESS_VIOLATION, "Access violation".to_owned()))
            }
        }
    }

    fn ended(&self, peer: SocketAddr, summary: &cnfkit_tftp::Summary) {
        if let Some(monitor) = &self.monitor {
            monitor.transfer_ended(peer, summary);
        }
    }
}

/// Why a request for a signature went unanswered, in the server's summary of requests turned
/// away.
const SIGNING_BUDGET_SPENT: &str = "signing budget spent";

fn not_found() -> Refusal {
    Refusal::Error(ErrorCode::FILE_NOT_FOUND, "File not found".to_owned())
}

/// Why a file the tree has cannot be opened: the server's problem, said in the log. A phone is
/// told of a permission problem (TFTP ERROR 2, HTTP 403: not "not found", the file is there and
/// an admin reading a capture should see that), and gets no answer when the server is out of
/// descriptors, so that it retries once some are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreadable {
    /// Permission denied.
    Denied,
    /// EMFILE or ENFILE.
    OutOfDescriptors,
    /// Anything else (it vanished): answered as a miss.
    Gone,
}

impl Unreadable {
    /// Classifies `error` and writes the warning.
    fn of(peer: IpAddr, name: &str, error: &std::io::Error) -> Self {
        if is_out_of_descriptors(error) {
            // Counted, with the limit, in the TFTP server's summary of requests turned away,
            // and warned about by HTTP: not a line per request in a storm.
            debug!(%peer, file = %name, %error, "out of file descriptors");
            return Self::OutOfDescriptors;
        }
        warn!(%peer, file = %name, %error, "cannot open a file the tree has");
        if error.kind() == std::io::ErrorKind::PermissionDenied { Self::Denied } else { Self::Gone }
    }

    /// The TFTP answer.
    fn refusal(self) -> Refusal {
        match self {
            Self::Denied => {
                Refusal::Error(ErrorCode::ACCESS_VIOLATION, "Access violation".to_owned())
            }
            Self::OutOfDescriptors => Refusal::Unanswered(Refusal::OUT_OF_DESCRIPTORS),
            Self::Gone => not_found(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_file_is_access_violation_and_descriptor_exhaustion_goes_unanswered() {
        let peer = IpAddr::from([127, 0, 0, 1]);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            Unreadable::of(peer, "SEP001122334455.cnf.xml", &denied).refusal(),
            Refusal::Error(ErrorCode::ACCESS_VIOLATION, "Access violation".into())
        );
        let emfile = std::io::Error::from_raw_os_error(24);
        assert_eq!(
            Unreadable::of(peer, "x", &emfile).refusal(),
            Refusal::Unanswered(Refusal::OUT_OF_DESCRIPTORS)
        );
        let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(Unreadable::of(peer, "x", &gone).refusal(), not_found());
    }
}
