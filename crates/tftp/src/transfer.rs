//! One transfer, either side: the sans-IO state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use cnfkit_tftp_wire::{ErrorCode, Mode, Options, Packet, Request, netascii};

use crate::negotiate::{Negotiated, OackPairs};
use crate::{DataSink, DataSource, Policy};

/// What ended a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every byte went through.
    Completed,
    /// The peer stopped answering after the policy's retries.
    TimedOut,
    /// The peer sent an ERROR (a client probing `tsize` sends ERROR 8 after the OACK).
    PeerError {
        /// Its code.
        code: ErrorCode,
        /// Its message, lossily decoded.
        message: String,
    },
    /// We refused the peer's OACK (an option we did not ask for, a value out of range).
    OptionRefused(String),
    /// The local source or sink failed, or a write went over the size limit.
    Local(String),
    /// This side stopped it ([`Transfer::stop`]: a server shutting down); the peer was sent an
    /// ERROR.
    Stopped,
}

/// A finished transfer's figures: what the caller logs and counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// How it ended.
    pub outcome: Outcome,
    /// Payload bytes sent or received (after netascii translation on the receiving side).
    pub bytes: u64,
    /// From the start of the transfer to its end.
    pub duration: Duration,
    /// Datagrams sent again after a timeout (DATA, ACK, OACK or request).
    pub retransmits: u64,
    /// The options in force.
    pub options: Negotiated,
}

/// How it ended, in a few words (`completed`, `the peer sent ERROR 1: File not found`...).
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Completed => f.write_str("completed"),
            Self::TimedOut => f.write_str("the peer stopped answering"),
            Self::PeerError { code, message } => write!(f, "the peer sent ERROR {code}: {message}"),
            Self::OptionRefused(why) => write!(f, "refused the server's options: {why}"),
            Self::Local(why) => f.write_str(why),
            Self::Stopped => f.write_str("stopped by this side"),
        }
    }
}

/// One line: `completed: 40960 bytes in 12 ms, 0 retransmits, blksize 1468 windowsize 1`.
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} bytes in {} ms, {} retransmits, blksize {} windowsize {}",
            self.outcome,
            self.bytes,
            self.duration.as_millis(),
            self.retransmits,
            self.options.blksize,
            self.options.windowsize
        )
    }
}

/// What the transfer reports as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The client learned the size (from `tsize` in the OACK).
    Size(u64),
    /// The transfer ended (the side that sent the last ACK may still dally afterwards).
    Finished(Summary),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Client: request sent, waiting for OACK, DATA 1 (get) or ACK 0 (put).
    AwaitReply,
    /// Server: OACK sent, waiting for ACK 0 (read) or DATA 1 (write).
    AwaitOackAck,
    Transferring,
    /// Final ACK sent: re-ACK a repeated last DATA until the deadline.
    Dallying,
    Done,
}

/// A datagram to build when the caller polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Request,
    Oack,
    Ack(u64),
    Data(u64),
    Error(ErrorCode, &'static str),
}

enum Role {
    Sender {
        source: Box<dyn DataSource>,
        acked: u64,
        sent: u64,
        last: Option<u64>,
    },
    Receiver {
        sink: Box<dyn DataSink>,
        received: u64,
        since_ack: u16,
        nudged: bool,
        decoder: Option<netascii::Decoder>,
    },
}

/// Options a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Transfer mode.
    pub mode: Mode,
    /// `blksize` to ask for.
    pub blksize: Option<u16>,
    /// `windowsize` to ask for.
    pub windowsize: Option<u16>,
    /// `timeout` (seconds) to ask for.
    pub timeout: Option<u8>,
    /// Whether to ask for (get) or announce (put) `tsize`.
    pub tsize: bool,
}

impl Default for ClientOptions {
    /// Octet mode, blksize 1468 (an Ethernet frame), tsize; no window.
    fn default() -> Self {
        Self {
            mode: Mode::Octet,
            blksize: Some(1468),
            windowsize: None,
            timeout: None,
            tsize: true,
        }
    }
}

impl ClientOptions {
    /// RFC 1350 only: no option at all.
    #[must_use]
    pub const fn none(mode: Mode) -> Self {
        Self { mode, blksize: None, windowsize: None, timeout: None, tsize: false }
    }
}

/// One TFTP transfer, sans IO.
///
/// Feed it datagrams from the peer with [`handle`](Self::handle) and the clock with
/// [`handle_timeout`](Self::handle_timeout); after every input, drain
/// [`poll_transmit`](Self::poll_transmit) until it returns `None` and [`poll_event`](Self::poll_event)
/// likewise, then wait until [`poll_timeout`](Self::poll_timeout) or the next datagram. It never
/// reads the clock, opens a socket or touches a file.
pub struct Transfer {
    role: Role,
    phase: Phase,
    opts: Negotiated,
    policy: Policy,
    // Client side: the request to (re)send and the options asked for.
    request: Option<(Vec<u8>, bool, ClientOptions)>,
    oack: OackPairs,
    /// The OACK's encoded length, taken once: [`Self::max_datagram_len`] runs before each
    /// datagram, and reading the pairs again cost a cache miss each time.
    oack_len: usize,
    out: VecDeque<Out>,
    events: VecDeque<Event>,
    deadline: Option<Instant>,
    rto: Duration,
    retries: u32,
    retransmits: u64,
    bytes: u64,
    started: Instant,
    now: Instant,
    last_ack: u64,
    finished: bool,
    /// Whether the peer has answered once (an ACK or DATA that moved the transfer on).
    answered: bool,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("phase", &self.phase)
            .field("options", &self.opts)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Transfer {
    fn new(role: Role, phase: Phase, opts: Negotiated, policy: Policy, now: Instant) -> Self {
        let rto = opts.timeout.unwrap_or(policy.initial_timeout);
        Self {
            role,
            phase,
            opts,
            request: None,
            oack: OackPairs::default(),
            oack_len: 2,
            out: VecDeque::new(),
            events: VecDeque::new(),
            deadline: Some(now + rto),
            rto,
            retries: 0,
            retransmits: 0,
            bytes: 0,
            started: now,
            now,
            last_ack: 0,
            finished: false,
            answered: false,
            policy,
        }
    }

    /// Server, read request accepted: OACK (then wait for ACK 0) or DATA 1 straight away.
    pub(crate) fn server_read(
        source: Box<dyn DataSource>,
        opts: Negotiated,
        oack: OackPairs,
        policy: Policy,
        now: Instant,
    ) -> Self {
        let role = Role::Sender { source, acked: 0, sent: 0, last: None };
        let phase = if opts.oack { Phase::AwaitOackAck } else { Phase::Transferring };
        let mut t = Self::new(role, phase, opts, policy, now);
        t.set_oack(oack);
        if opts.oack {
            t.out.push_back(Out::Oack);
        } else {
            t.send_window();
        }
        t
    }

    /// Server, write request accepted: OACK or ACK 0, then wait for DATA 1.
    pub(crate) fn server_write(
        sink: Box<dyn DataSink>,
        opts: Negotiated,
        oack: OackPairs,
        netascii: bool,
        policy: Policy,
        now: Instant,
    ) -> Self {
        let decoder = netascii.then(netascii::Decoder::new);
        let role = Role::Receiver { sink, received: 0, since_ack: 0, nudged: false, decoder };
        let phase = if opts.oack { Phase::AwaitOackAck } else { Phase::Transferring };
        let mut t = Self::new(role, phase, opts, policy, now);
        t.set_oack(oack);
        t.out.push_back(if opts.oack { Out::Oack } else { Out::Ack(0) });
        t
    }

    /// Server: a transfer that only sends an ERROR and ends (refusals found after accepting,
    /// such as a netascii file too large to translate).
    pub(crate) fn error_only(
        code: ErrorCode,
        message: &'static str,
        policy: Policy,
        now: Instant,
    ) -> Self {
        let role = Role::Receiver {
            sink: Box::new(Vec::new()),
            received: 0,
            since_ack: 0,
            nudged: false,
            decoder: None,
        };
        let mut t = Self::new(role, Phase::Done, Negotiated::default(), policy, now);
        t.out.push_back(Out::Error(code, message));
        t.finish(Outcome::Local(message.to_owned()));
        t
    }

    /// Client: read `filename` from the server into `sink`. The first datagram to send is the
    /// RRQ; it goes to the server's well-known port, and the server answers from a new one
    /// (RFC 1350 TIDs: the driver's business).
    #[must_use]
    pub fn get(
        filename: &[u8],
        options: ClientOptions,
        sink: Box<dyn DataSink>,
        policy: Policy,
        now: Instant,
    ) -> Self {
        let netascii = options.mode == Mode::Netascii;
        let decoder = netascii.then(netascii::Decoder::new);
        let role = Role::Receiver { sink, received: 0, since_ack: 0, nudged: false, decoder };
        let opts = Negotiated {
            timeout: options.timeout.map(|s| Duration::from_secs(u64::from(s))),
            ..Negotiated::default()
        };
        let mut t = Self::new(role, Phase::AwaitReply, opts, policy, now);
        t.request = Some((filename.to_vec(), false, options));
        t.out.push_back(Out::Request);
        t
    }

    /// Client: write `source` to `filename` on the server.
    #[must_use]
    pub fn put(
        filename: &[u8],
        options: ClientOptions,
        source: Box<dyn DataSource>,
        policy: Policy,
        now: Instant,
    ) -> Self {
        let role = Role::Sender { source, acked: 0, sent: 0, last: None };
        let opts = Negotiated {
            timeout: options.timeout.map(|s| Duration::from_secs(u64::from(s))),
            ..Negotiated::default()
        };
        let mut t = Self::new(role, Phase::AwaitReply, opts, policy, now);
        t.request = Some((filename.to_vec(), true, options));
        t.out.push_back(Out::Request);
        t
    }

    /// Payload bytes so far: sent (sender) or received and written (receiver).
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The bytes one window may put in flight, for sizing socket buffers: the negotiated window,
    /// or for a client before the answer, the window it asks for.
    #[must_use]
    pub fn window_bytes_hint(&self) -> usize {
        let (blksize, windowsize) = match &self.request {
            Some((_, _, asked)) if self.phase == Phase::AwaitReply => {
                (asked.blksize.unwrap_or(512), asked.windowsize.unwrap_or(1))
            }
            _ => (self.opts.blksize, self.opts.windowsize),
        };
        // Each datagram costs more than its payload in a socket buffer.
        (usize::from(blksize) + 64) * usize::from(windowsize)
    }

    /// The options in force (final once the first reply has arrived).
    #[must_use]
    pub fn options(&self) -> Negotiated {
        self.opts
    }

    /// Whether the peer has answered at least once with an ACK or DATA that moved the transfer
    /// on. A server's transfer that stays unanswered came from a peer that is gone, or from a
    /// forged source address: an endpoint may give its slot to someone else.
    #[must_use]
    pub fn peer_answered(&self) -> bool {
        self.answered
    }

    /// Stops the transfer now: the peer is sent ERROR 0 with `message` (a server shutting down
    /// says so, so that a phone retries instead of waiting out its timeouts), a receive is
    /// aborted (nothing installed), and the transfer finishes with [`Outcome::Stopped`]. A
    /// transfer that has already finished only stops dallying.
    pub fn stop(&mut self, message: &'static str) {
        if self.finished {
            self.phase = Phase::Done;
            self.deadline = None;
            return;
        }
        self.fail(Outcome::Stopped, Some((ErrorCode::NOT_DEFINED, message)));
    }

    /// The summary of a transfer that is done without having reported how it ended.
    pub(crate) fn unfinished(&self) -> Summary {
        Summary {
            outcome: Outcome::Local("ended without a result".into()),
            bytes: self.bytes,
            duration: Duration::ZERO,
            retransmits: 0,
            options: self.opts,
        }
    }

    /// Whether the transfer is over, dally included: the caller may drop it.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done && self.out.is_empty()
    }

    /// The largest datagram this transfer can emit: size the transmit buffer with it.
    #[must_use]
    pub fn max_datagram_len(&self) -> usize {
        let request = self.request.as_ref().map_or(0, |(name, _, _)| name.len() + 64);
        (usize::from(self.opts.blksize) + 4).max(516).max(request).max(self.oack_len)
    }

    fn set_oack(&mut self, oack: OackPairs) {
        self.oack_len = 2 + oack.0.iter().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>();
        self.oack = oack;
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Done { None } else { self.deadline }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn finish(&mut self, outcome: Outcome) {
        if self.finished {
            return;
        }
        self.finished = true;
        // A completed receive was installed before its final ACK (see `on_data`).
        if let Role::Receiver { sink, .. } = &mut self.role
            && outcome != Outcome::Completed
        {
            sink.abort();
        }
        let event = self.summary(outcome);
        self.events.push_back(event);
    }

    fn summary(&self, outcome: Outcome) -> Event {
        Event::Finished(Summary {
            outcome,
            bytes: self.bytes,
            duration: self.now.saturating_duration_since(self.started),
            retransmits: self.retransmits,
            options: self.opts,
        })
    }

    fn fail(&mut self, outcome: Outcome, error: Option<(ErrorCode, &'static str)>) {
        if let Some((code, message)) = error {
            self.out.push_back(Out::Error(code, message));
        }
        self.phase = Phase::Done;
        self.deadline = None;
        self.finish(outcome);
    }

    fn arm(&mut self, now: Instant) {
        self.deadline = Some(now + self.rto);
    }

    fn progress(&mut self, now: Instant) {
        self.answered = true;
        self.retries = 0;
        self.rto = self.opts.timeout.unwrap_or(self.policy.initial_timeout);
        self.arm(now);
    }

    fn wire(&self, index: u64) -> u16 {
        self.policy.rollover.wire(index)
    }

    /// Queues the next window of DATA (sender): blocks after the last acknowledged one.
    fn send_window(&mut self) {
        let windowsize = u64::from(self.opts.windowsize);
        let Role::Sender { acked, sent, last, .. } = &mut self.role else { return };
        let end = last.map_or(*acked + windowsize, |last| last.min(*acked + windowsize));
        for index in (*sent).max(*acked) + 1..=end {
            self.out.push_back(Out::Data(index));
        }
        *sent = end.max(*sent);
    }

    /// Handles a datagram from the peer (already checked to come from the transfer's TID).
    /// Malformed datagrams and ones that do not belong to this phase are ignored: a stray
    /// packet must not end a transfer.
    pub fn handle(&mut self, now: Instant, datagram: &[u8]) {
        self.now = self.now.max(now);
        if self.phase == Phase::Done {
            return;
        }
        let Ok(packet) = Packet::parse(datagram) else { return };
        match packet {
            Packet::Error { code, message } => {
                let message = String::from_utf8_lossy(message).into_owned();
                self.fail(Outcome::PeerError { code, message }, None);
            }
            Packet::Oack(options) if self.phase == Phase::AwaitReply => {
                self.client_oack(now, &options);
            }
            Packet::Ack { block } => self.on_ack(now, block),
            Packet::Data { block, data } => self.on_data(now, block, data),
            _ => {}
        }
    }

    /// The client checks the server's OACK against what it asked (RFC 2347: ERROR 8 for an
    /// unrequested option or a value it cannot use), and applies it.
    fn client_oack(&mut self, now: Instant, options: &Options<'_>) {
        let Some((_, is_put, asked)) = self.request.clone() else { return };
        let typed = options.typed();
        let result = (|| -> Result<Negotiated, String> {
            if typed.unknown > 0 || typed.duplicates > 0 || typed.rollover.is_some() {
                return Err("unrequested or repeated option in OACK".into());
            }
            let mut n = self.opts;
            if let Some(v) = typed.blksize {
                let asked = asked.blksize.ok_or("unrequested blksize")?;
                let v = v.map_err(|e| format!("blksize {e}"))?;
                if v > asked {
                    return Err(format!("blksize {v} above the {asked} asked"));
                }
                n.blksize = v;
            }
            if let Some(v) = typed.windowsize {
                let asked = asked.windowsize.ok_or("unrequested windowsize")?;
                let v = v.map_err(|e| format!("windowsize {e}"))?;
                if v > asked {
                    return Err(format!("windowsize {v} above the {asked} asked"));
                }
                n.windowsize = v;
            }
            if let Some(v) = typed.timeout {
                let asked = asked.timeout.ok_or("unrequested timeout")?;
                let v = v.map_err(|e| format!("timeout {e}"))?;
                if v != asked {
                    return Err(format!("timeout {v} differs from the {asked} asked"));
                }
                n.timeout = Some(Duration::from_secs(u64::from(v)));
            }
            if let Some(v) = typed.tsize {
                if !asked.tsize {
                    return Err("unrequested tsize".into());
                }
                n.tsize = Some(v.map_err(|e| format!("tsize {e}"))?);
            }
            n.oack = true;
            Ok(n)
        })();
        let negotiated = match result {
            Ok(n) => n,
            Err(why) => {
                self.fail(
                    Outcome::OptionRefused(why),
                    Some((ErrorCode::OPTION_NEGOTIATION, "Option negotiation failed")),
                );
                return;
            }
        };
        self.opts = negotiated;
        if let Some(size) = negotiated.tsize.filter(|_| !is_put) {
            self.events.push_back(Event::Size(size));
        }
        self.phase = Phase::Transferring;
        self.progress(now);
        if is_put {
            self.send_window();
        } else {
            self.out.push_back(Out::Ack(0));
        }
    }

    fn on_ack(&mut self, now: Instant, block: u16) {
        let rollover = self.policy.rollover;
        let Role::Sender { acked, sent, last, .. } = &mut self.role else { return };
        match self.phase {
            Phase::AwaitReply | Phase::AwaitOackAck if block == 0 => {
                // Server: the OACK's ACK. Client put: the server took the WRQ without options,
                // so RFC 1350 defaults apply.
                if self.phase == Phase::AwaitReply {
                    self.opts = Negotiated { timeout: self.opts.timeout, ..Negotiated::default() };
                }
                self.phase = Phase::Transferring;
                self.progress(now);
                self.send_window();
            }
            Phase::Transferring => {
                // Which block in flight does this number acknowledge? Only one can match.
                let Some(index) = (*acked + 1..=*sent).find(|&i| rollover.wire(i) == block) else {
                    // A duplicate or stale ACK: never resend on it (RFC 1123 4.2.3.1, Sorcerer's
                    // Apprentice); the timeout covers real loss.
                    return;
                };
                *acked = index;
                if Some(index) == *last {
                    self.phase = Phase::Done;
                    self.deadline = None;
                    self.finish(Outcome::Completed);
                    return;
                }
                // A partial ACK of a window (RFC 7440: the receiver saw a gap) makes the sender
                // continue from there; a full one starts the next window.
                if index < *sent {
                    self.retransmits += *sent - index;
                    *sent = index;
                }
                self.progress(now);
                self.send_window();
            }
            _ => {}
        }
    }

    fn on_data(&mut self, now: Instant, block: u16, data: &[u8]) {
        let blksize = usize::from(self.opts.blksize);
        match self.phase {
            Phase::AwaitReply => {
                // Client get: the server ignored every option; RFC 1350 defaults apply.
                if self.request.as_ref().is_some_and(|(_, is_put, _)| !is_put) {
                    self.opts = Negotiated { timeout: self.opts.timeout, ..Negotiated::default() };
                    self.phase = Phase::Transferring;
                    self.on_data(now, block, data);
                }
            }
            Phase::AwaitOackAck => {
                // Server write: DATA 1 acknowledges the OACK.
                self.phase = Phase::Transferring;
                self.on_data(now, block, data);
            }
            Phase::Transferring => {
                if data.len() > blksize {
                    self.fail(
                        Outcome::Local(format!(
                            "DATA of {} bytes exceeds blksize {blksize}",
                            data.len()
                        )),
                        Some((ErrorCode::ILLEGAL_OPERATION, "Block larger than blksize")),
                    );
                    return;
                }
                let next = match &self.role {
                    Role::Receiver { received, .. } => *received + 1,
                    Role::Sender { .. } => return,
                };
                if block != self.wire(next) {
                    self.out_of_order(now, block);
                    return;
                }
                if let Err(outcome) = self.accept_block(data) {
                    self.fail(
                        outcome,
                        Some((ErrorCode::DISK_FULL, "Disk full or allocation exceeded")),
                    );
                    return;
                }
                let windowsize = self.opts.windowsize;
                let Role::Receiver { received, since_ack, nudged, .. } = &mut self.role else {
                    return;
                };
                *received = next;
                *nudged = false;
                *since_ack += 1;
                let last = data.len() < blksize;
                if last && let Err((outcome, error)) = self.install() {
                    self.fail(outcome, Some(error));
                    return;
                }
                let Role::Receiver { since_ack, .. } = &mut self.role else { return };
                if last || *since_ack >= windowsize {
                    *since_ack = 0;
                    self.last_ack = next;
                    self.out.push_back(Out::Ack(next));
                }
                self.progress(now);
                if last {
                    self.finish(Outcome::Completed);
                    self.phase = Phase::Dallying;
                    self.deadline = Some(now + self.policy.dally);
                }
            }
            Phase::Dallying => {
                // The final ACK was lost: the sender repeats the last DATA; ACK it again.
                if block == self.wire(self.last_ack) {
                    self.out.push_back(Out::Ack(self.last_ack));
                }
            }
            Phase::Done => {}
        }
    }

    /// Makes a completed receive durable and visible (the sink's `finish`) before the final ACK
    /// goes out: a peer told its upload landed must find it there. A sink that cannot install it
    /// (a create-only name another writer took, a full disk) turns the final ACK into an ERROR.
    fn install(&mut self) -> Result<(), (Outcome, (ErrorCode, &'static str))> {
        let Role::Receiver { sink, .. } = &mut self.role else { return Ok(()) };
        sink.finish().map_err(|e| {
            let error = match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    (ErrorCode::FILE_EXISTS, "File already exists")
                }
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                    (ErrorCode::DISK_FULL, "Disk full or allocation exceeded")
                }
                _ => (ErrorCode::NOT_DEFINED, "Cannot store the file"),
            };
            (Outcome::Local(format!("finishing the write: {e}")), error)
        })
    }

    /// A DATA that is not the next block: a repeat (our ACK was lost) or a block after a gap
    /// (RFC 7440). Either way the sender needs to hear where we are, once until we progress.
    fn out_of_order(&mut self, _now: Instant, _block: u16) {
        let Role::Receiver { received, nudged, since_ack, .. } = &mut self.role else { return };
        if !*nudged {
            *nudged = true;
            *since_ack = 0;
            let received = *received;
            self.last_ack = received;
            self.out.push_back(Out::Ack(received));
        }
    }

    fn accept_block(&mut self, data: &[u8]) -> Result<(), Outcome> {
        let limit = self.policy.max_write_bytes;
        let Role::Receiver { sink, decoder, .. } = &mut self.role else { return Ok(()) };
        let written = match decoder {
            Some(decoder) => {
                let mut out = vec![0u8; data.len() + 1];
                let (_, n) = decoder.decode(data, &mut out);
                let mut n = n;
                // The last block: a CR left dangling by the sender is kept as a CR.
                if data.len() < usize::from(self.opts.blksize)
                    && let Some(cr) = decoder.finish()
                {
                    out[n] = cr;
                    n += 1;
                }
                sink.write(&out[..n]).map(|()| n)
            }
            None => sink.write(data).map(|()| data.len()),
        };
        let written = written.map_err(|e| Outcome::Local(format!("writing: {e}")))?;
        self.bytes += written as u64;
        if limit.is_some_and(|max| self.bytes > max) {
            return Err(Outcome::Local("write exceeds the size limit".into()));
        }
        Ok(())
    }

    /// Handles the clock: retransmits with exponential backoff, gives up after the policy's
    /// retries, ends the dally.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let Some(deadline) = self.deadline else { return };
        if now < deadline || self.phase == Phase::Done {
            return;
        }
        if self.phase == Phase::Dallying {
            self.phase = Phase::Done;
            self.deadline = None;
            return;
        }
        if self.retries >= self.policy.max_retries {
            self.fail(Outcome::TimedOut, None);
            return;
        }
        self.retries += 1;
        self.rto = (self.rto * 2).min(self.policy.max_timeout.max(self.rto));
        match (self.phase, &mut self.role) {
            (Phase::AwaitReply, _) => {
                self.retransmits += 1;
                self.out.push_back(Out::Request);
            }
            (Phase::AwaitOackAck, Role::Sender { .. }) => {
                self.retransmits += 1;
                self.out.push_back(Out::Oack);
            }
            (Phase::AwaitOackAck, Role::Receiver { .. }) => {
                self.retransmits += 1;
                self.out.push_back(if self.opts.oack { Out::Oack } else { Out::Ack(0) });
            }
            (Phase::Transferring, Role::Sender { acked, sent, .. }) => {
                // Go back to the first unacknowledged block and resend the window.
                self.retransmits += *sent - *acked;
                *sent = *acked;
                self.send_window();
            }
            (Phase::Transferring, Role::Receiver { received, .. }) => {
                // Lockstep or window: re-ACK where we are so the sender resumes from there.
                let received = *received;
                self.retransmits += 1;
                self.out.push_back(Out::Ack(received));
            }
            _ => {}
        }
        self.arm(now);
    }

    /// Writes the next datagram to send into `buf` and returns its length, or `None` when
    /// there is nothing to send. `buf` must hold [`max_datagram_len`](Self::max_datagram_len)
    /// bytes.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let out = self.out.pop_front()?;
            match self.encode(out, buf) {
                Ok(Some(len)) => return Some(len),
                Ok(None) => {}
                Err(outcome) => {
                    self.fail(outcome, Some((ErrorCode::NOT_DEFINED, "Read error")));
                }
            }
        }
    }

    fn encode(&mut self, out: Out, buf: &mut [u8]) -> Result<Option<usize>, Outcome> {
        let too_small = |_| Outcome::Local("transmit buffer smaller than max_datagram_len".into());
        let len = match out {
            Out::Request => {
                let Some((name, is_put, asked)) = &self.request else { return Ok(None) };
                let mut values: Vec<(&[u8], String)> = Vec::new();
                if asked.tsize {
                    let size = if *is_put { self.source_size().unwrap_or(0) } else { 0 };
                    values.push((b"tsize", size.to_string()));
                }
                if let Some(b) = asked.blksize {
                    values.push((b"blksize", b.to_string()));
                }
                if let Some(t) = asked.timeout {
                    values.push((b"timeout", t.to_string()));
                }
                if let Some(w) = asked.windowsize {
                    values.push((b"windowsize", w.to_string()));
                }
                let pairs: Vec<(&[u8], &[u8])> =
                    values.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
                let request =
                    Request::new(name, asked.mode).with_options(Options::from_pairs(&pairs));
                let packet = if *is_put { Packet::Wrq(request) } else { Packet::Rrq(request) };
                packet.encode_to_slice(buf).map_err(too_small)?
            }
            Out::Oack => {
                let pairs: Vec<(&[u8], &[u8])> =
                    self.oack.0.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
                Packet::Oack(Options::from_pairs(&pairs)).encode_to_slice(buf).map_err(too_small)?
            }
            Out::Ack(index) => {
                Packet::Ack { block: self.wire(index) }.encode_to_slice(buf).map_err(too_small)?
            }
            Out::Error(code, message) => Packet::Error { code, message: message.as_bytes() }
                .encode_to_slice(buf)
                .map_err(too_small)?,
            Out::Data(index) => {
                let blksize = usize::from(self.opts.blksize);
                let block = self.wire(index);
                let Role::Sender { source, last, acked, sent } = &mut self.role else {
                    return Ok(None);
                };
                if index <= *acked || last.is_some_and(|l| index > l) {
                    return Ok(None); // acknowledged while queued, or past the end
                }
                if buf.len() < blksize + 4 {
                    return Err(Outcome::Local(
                        "transmit buffer smaller than max_datagram_len".into(),
                    ));
                }
                let offset = (index - 1) * blksize as u64;
                // Read straight into the datagram, after its 4-byte header.
                let n = source
                    .read_at(offset, &mut buf[4..4 + blksize])
                    .map_err(|e| Outcome::Local(format!("reading: {e}")))?;
                if n < blksize {
                    // The end: blocks queued past it (a window planned before the size was
                    // known) are dropped by the check below on their turn.
                    *last = Some(index);
                    *sent = (*sent).min(index);
                }
                buf[0..2].copy_from_slice(&3u16.to_be_bytes());
                buf[2..4].copy_from_slice(&block.to_be_bytes());
                self.bytes = self.bytes.max(offset + n as u64);
                4 + n
            }
        };
        Ok(Some(len))
    }

    fn source_size(&self) -> Option<u64> {
        match &self.role {
            Role::Sender { source, .. } => source.size(),
            Role::Receiver { .. } => None,
        }
    }
}
