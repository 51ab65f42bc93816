//! A simulated phone booting over the network: cnfkit-resolve's [`BootSimulation`] (what a
//! phone asks for next, what each answer means) driven by cnfkit-tftp's client. `phone-sim`
//! runs thousands of these; the scenario tests run one per story.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cnfkit_resolve::{BootReport, BootSimulation, Fetch, ModelTable, PhoneSetup};
use cnfkit_tftp::driver;
use cnfkit_tftp::{ClientOptions, Error, Outcome, Policy, SharedBuffer};
use cnfkit_tftp_wire::ErrorCode;

use crate::Error as ServerError;

/// What one phone's boot came to.
#[derive(Debug, Clone)]
pub struct PhoneBoot {
    /// The requests, the config used, the firmware decision, or why it is stuck.
    pub report: BootReport,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Datagrams the phone's TFTP client sent again after a timeout.
    pub retransmits: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Every file received, in request order (name and content), when asked to keep them.
    pub files: Vec<(String, Vec<u8>)>,
    /// When the boot started.
    pub started: Instant,
    /// When each request of [`BootReport::requests`] started and how long it took, in the
    /// same order.
    pub timings: Vec<RequestTiming>,
}

/// When one request of a simulated boot ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTiming {
    /// From the start of the boot to the request.
    pub start: Duration,
    /// Until its answer (the whole file, or the error).
    pub duration: Duration,
    /// Datagrams the phone sent again in it.
    pub retransmits: u64,
}

/// How the simulated phone talks TFTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhoneClient {
    /// The local address to send from (`None`: any): give each simulated phone its own
    /// 127.x.y.z so the server sees distinct peers.
    pub local: Option<IpAddr>,
    /// Options the phone asks for.
    pub options: ClientOptions,
    /// Keep the content of every file received in [`PhoneBoot::files`].
    pub keep_files: bool,
    /// Try HTTP on this port of the server's address first, as phones on CUCM-era firmware
    /// (78xx, 88xx, 99xx) do on 6970; a refused connection sends this and every later request
    /// of the boot to TFTP. Needs the `http` feature (without it, every request goes to TFTP).
    pub http_port: Option<u16>,
}

/// A phone's HTTP connection to its server, kept alive across its requests.
#[cfg(feature = "http")]
#[derive(Default)]
struct HttpPath {
    sender: Option<hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>>,
    /// The server refused the connection: TFTP from now on.
    refused: bool,
}

/// Without the `http` feature a simulated phone has no HTTP client: every request goes to TFTP.
#[cfg(not(feature = "http"))]
#[derive(Default)]
struct HttpPath(());

#[cfg(not(feature = "http"))]
impl HttpPath {
    #[allow(clippy::unused_async)] // The same signature as the HTTP client's.
    async fn get(&mut self, _: &PhoneClient, _: SocketAddr, _: &str) -> Option<Fetch> {
        None
    }
}

#[cfg(feature = "http")]
impl HttpPath {
    /// Fetches `name` over HTTP; `None` when the phone must fall back to TFTP.
    async fn get(&mut self, client: &PhoneClient, server: SocketAddr, name: &str) -> Option<Fetch> {
        use http_body_util::BodyExt as _;
        let port = client.http_port.filter(|_| !self.refused)?;
        if self.sender.as_ref().is_none_or(hyper::client::conn::http1::SendRequest::is_closed) {
            let target = SocketAddr::new(server.ip(), port);
            let socket = if target.is_ipv4() {
                tokio::net::TcpSocket::new_v4()
            } else {
                tokio::net::TcpSocket::new_v6()
            };
            let connected = async {
                let socket = socket?;
                if let Some(local) = client.local {
                    socket.bind(SocketAddr::new(local, 0))?;
                }
                socket.connect(target).await
            };
            let stream = match connected.await {
                Ok(stream) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    self.refused = true;
                    return None;
                }
                Err(e) => return Some(Fetch::Failed(format!("HTTP connect: {e}"))),
            };
            let io = hyper_util::rt::TokioIo::new(stream);
            let (sender, connection) = match hyper::client::conn::http1::handshake(io).await {
                Ok(pair) => pair,
                Err(e) => return Some(Fetch::Failed(format!("HTTP: {e}"))),
            };
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut()?;
        // The connection takes the next request only once it is done with the last one.
        if let Err(e) = sender.ready().await {
            self.sender = None;
            return Some(Fetch::Failed(format!("HTTP: {e}")));
        }
        let request = hyper::Request::get(format!("/{name}"))
            .header(hyper::header::HOST, server.ip().to_string())
            .header(hyper::header::USER_AGENT, "cnfkit-phone-sim")
            .body(http_body_util::Empty::new());
        let Ok(request) = request else {
            return Some(Fetch::Failed(format!("HTTP: {name:?} is not a request target")));
        };
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(e) => return Some(Fetch::Failed(format!("HTTP: {e}"))),
        };
        let status = response.status();
        match response.into_body().collect().await {
            Ok(body) if status == hyper::StatusCode::OK => {
                Some(Fetch::Found(body.to_bytes().to_vec()))
            }
            Ok(_) if status == hyper::StatusCode::NOT_FOUND => Some(Fetch::NotFound),
            Ok(_) => Some(Fetch::Failed(format!("HTTP {status}"))),
            Err(e) => Some(Fetch::Failed(format!("HTTP: {e}"))),
        }
    }
}

/// Boots `setup` (running `running_load`) against the TFTP server at `server` (over HTTP
/// first when [`PhoneClient::http_port`] says so).
///
/// A "File not found" answer is a miss (the simulation decides what it means); any other
/// failure is recorded as a failed request.
///
/// # Errors
/// [`Error::Resolve`](ServerError::Resolve) when the model or protocol is unknown to `table`.
pub async fn boot_over_tftp(
    table: &ModelTable,
    server: SocketAddr,
    setup: PhoneSetup,
    running_load: Option<&str>,
    client: PhoneClient,
) -> Result<PhoneBoot, ServerError> {
    let mut boot = BootSimulation::new(table, setup, running_load)?;
    let started = Instant::now();
    let (mut retransmits, mut bytes, mut files) = (0, 0, Vec::new());
    let mut timings = Vec::new();
    let mut http = HttpPath::default();
    while let Some(name) = boot.next_request() {
        let asked = Instant::now();
        let before = retransmits;
        let timed = |timings: &mut Vec<RequestTiming>, retransmits: u64| {
            timings.push(RequestTiming {
                start: asked - started,
                duration: asked.elapsed(),
                retransmits: retransmits - before,
            });
        };
        if let Some(fetch) = http.get(&client, server, &name).await {
            if let Fetch::Found(content) = &fetch {
                bytes += content.len() as u64;
                if client.keep_files {
                    files.push((name.clone(), content.clone()));
                }
            }
            timed(&mut timings, retransmits);
            boot.answer(fetch);
            continue;
        }
        let received = SharedBuffer::new();
        let got = driver::get_from(
            client.local,
            server,
            name.as_bytes(),
            client.options,
            Box::new(received.clone()),
            Policy::default(),
            |_| {},
        )
        .await;
        let fetch = match got {
            Ok(summary) => {
                retransmits += summary.retransmits;
                bytes += summary.bytes;
                let content = received.contents();
                if client.keep_files {
                    files.push((name.clone(), content.clone()));
                }
                Fetch::Found(content)
            }
            Err(Error::Transfer(summary)) => {
                retransmits += summary.retransmits;
                match summary.outcome {
                    Outcome::PeerError { code: ErrorCode::FILE_NOT_FOUND, .. } => Fetch::NotFound,
                    other => Fetch::Failed(format!("{other:?}")),
                }
            }
            Err(e) => Fetch::Failed(e.to_string()),
        };
        timed(&mut timings, retransmits);
        boot.answer(fetch);
    }
    Ok(PhoneBoot {
        report: boot.report().clone(),
        elapsed: started.elapsed(),
        retransmits,
        bytes,
        files,
        started,
        timings,
    })
}

/// Fetches `name` once over TFTP as `client` would, discarding the bytes: one request of a
/// storm that measures what a request costs the server (`phone-sim --only-config`).
///
/// # Errors
/// What the transfer came to when it did not complete ("File not found" included).
pub async fn fetch_once(
    server: SocketAddr,
    name: &str,
    client: PhoneClient,
) -> Result<RequestTiming, String> {
    let asked = Instant::now();
    let got = driver::get_from(
        client.local,
        server,
        name.as_bytes(),
        client.options,
        Box::new(Vec::new()),
        Policy::default(),
        |_| {},
    )
    .await
    .map_err(|e| format!("{name}: {e}"))?;
    Ok(RequestTiming {
        start: Duration::ZERO,
        duration: asked.elapsed(),
        retransmits: got.retransmits,
    })
}

impl PhoneBoot {
    /// Whether a request failed in transport (a timeout, an error other than "not found"): the
    /// server or the network is at fault, not the tree.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.report.requests.iter().any(|r| r.result.is_failure())
    }
}

/// The figures of a storm of simulated boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StormSummary {
    /// Phones booted (or tried).
    pub phones: usize,
    /// Booted: no failed request, not stuck.
    pub ok: usize,
    /// Stuck: the boot cannot finish (a missing image, no configuration).
    pub stuck: usize,
    /// A request failed in transport, or the phone could not be simulated.
    pub failed: usize,
    /// Booted on a default configuration instead of their own.
    pub fallback: usize,
    /// Median boot time.
    pub p50: Duration,
    /// 99th percentile boot time.
    pub p99: Duration,
    /// Slowest boot.
    pub max: Duration,
    /// Datagrams the phones sent again after a timeout.
    pub retransmits: u64,
}

impl StormSummary {
    /// Sums up boots; `errors` more phones could not be simulated at all.
    ///
    /// ```
    /// let summary = cnfkit_server::StormSummary::of(&[], 2);
    /// assert_eq!((summary.phones, summary.failed, summary.ok), (2, 2, 0));
    /// ```
    #[must_use]
    pub fn of(boots: &[PhoneBoot], errors: usize) -> Self {
        let mut times: Vec<Duration> = boots.iter().map(|b| b.elapsed).collect();
        times.sort();
        let pct = |p: usize| times.get(times.len().saturating_sub(1) * p / 100).copied();
        // Every boot is exactly one of failed, ok or stuck.
        let (failed, ok) =
            boots.iter().fold((0, 0), |(failed, ok), b| match (b.failed(), b.report.ok()) {
                (true, _) => (failed + 1, ok),
                (false, true) => (failed, ok + 1),
                (false, false) => (failed, ok),
            });
        Self {
            phones: boots.len() + errors,
            ok,
            stuck: boots.len() - failed - ok,
            failed: failed + errors,
            fallback: boots
                .iter()
                .filter(|b| b.report.config.as_ref().is_some_and(|c| !c.own))
                .count(),
            p50: pct(50).unwrap_or_default(),
            p99: pct(99).unwrap_or_default(),
            max: times.last().copied().unwrap_or_default(),
            retransmits: boots.iter().map(|b| b.retransmits).sum(),
        }
    }

    /// Sums up single fetches ([`fetch_once`]): each is a phone, ok when its file came.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cnfkit_server::{RequestTiming, StormSummary};
    ///
    /// let took = |ms| Ok(RequestTiming { start: Duration::ZERO, duration: Duration::from_millis(ms), retransmits: 0 });
    /// let summary = StormSummary::of_fetches(&[took(4), took(6), Err("lost".into())]);
    /// assert_eq!((summary.phones, summary.ok, summary.failed), (3, 2, 1));
    /// assert_eq!(summary.max, Duration::from_millis(6));
    /// ```
    #[must_use]
    pub fn of_fetches(fetches: &[Result<RequestTiming, String>]) -> Self {
        let mut times: Vec<Duration> = fetches.iter().flatten().map(|t| t.duration).collect();
        times.sort();
        let pct = |p: usize| times.get(times.len().saturating_sub(1) * p / 100).copied();
        Self {
            phones: fetches.len(),
            ok: times.len(),
            stuck: 0,
            failed: fetches.len() - times.len(),
            fallback: 0,
            p50: pct(50).unwrap_or_default(),
            p99: pct(99).unwrap_or_default(),
            max: times.last().copied().unwrap_or_default(),
            retransmits: fetches.iter().flatten().map(|t| t.retransmits).sum(),
        }
    }
}
