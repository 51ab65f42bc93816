//! Busy-polling for a lone transfer whose peer answers faster than a wake-up.
//!
//! In lockstep every block costs one round trip, and a server that sleeps between blocks adds
//! its own wake-up to each one: epoll, the scheduler and, on a virtual machine, an
//! inter-processor interrupt, about as long as a loopback client takes to answer. Polling the
//! socket for a short budget instead of sleeping removes that share of the round trip.
//!
//! It keeps a core busy while it polls, so it is off unless configured, and even then it only
//! runs when it can pay off and cannot hurt others:
//! - only on a multi-threaded runtime (on one thread, polling would hold up every other task,
//!   the peer's too when it is in the same process);
//! - only while this is the one transfer the server is running (a boot storm never polls: there
//!   the time goes to other transfers);
//! - only while the peer's previous answer came within the budget (a phone on a real network
//!   answers in milliseconds and is never polled for);
//! - after a poll that ran out of budget, not again for 1, 2, 4... up to 1024 waits, so a peer
//!   that is fast only now and then costs a wasted budget rarely, not every other block.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::ServerStats;

/// The longest pause after polls that came back empty, in waits.
const MAX_BACKOFF: u32 = 1024;

/// How long a polling transfer spins before it yields to the scheduler (checked after each
/// poll, so a worker is held for up to this plus the budget).
pub(crate) const YIELD_EVERY: Duration = Duration::from_millis(1);

/// The largest budget: a longer spin would only hold up retransmissions (whole seconds away
/// in TFTP, but the spin does not look), shutdown and other tasks.
pub(crate) const MAX_BUDGET: Duration = Duration::from_millis(1);

/// The budget a server polls with: the configured one, capped at [`MAX_BUDGET`], and none on a
/// current-thread runtime (polling there would hold up every other task, the peer's too when
/// it runs in the same process).
pub(crate) fn effective_budget(
    configured: Option<Duration>,
    flavor: tokio::runtime::RuntimeFlavor,
) -> Option<Duration> {
    configured
        .filter(|_| flavor == tokio::runtime::RuntimeFlavor::MultiThread)
        .map(|budget| budget.min(MAX_BUDGET))
}

/// A server's busy-poll setting and the count of transfers it is running.
#[derive(Debug)]
pub(crate) struct BusyPoll {
    budget: Duration,
    running: AtomicUsize,
    stats: Arc<ServerStats>,
}

impl BusyPoll {
    pub(crate) fn new(budget: Duration, stats: Arc<ServerStats>) -> Arc<Self> {
        Arc::new(Self { budget, running: AtomicUsize::new(0), stats })
    }

    /// A poller for a new transfer, which counts as running until the poller is dropped (also
    /// when its task is aborted).
    pub(crate) fn enter(self: &Arc<Self>) -> Poller {
        self.running.fetch_add(1, Ordering::Relaxed);
        Poller {
            shared: self.clone(),
            last_wait: Duration::MAX,
            skip: 0,
            backoff: 0,
            last_yield: Instant::now(),
        }
    }
}

/// What one transfer keeps to busy-poll its socket.
#[derive(Debug)]
pub(crate) struct Poller {
    shared: Arc<BusyPoll>,
    /// How long the peer took to answer last time (from our last send to its datagram).
    last_wait: Duration,
    /// Waits left before polling again, after an empty poll.
    skip: u32,
    /// The current pause after an empty poll (doubles with each one, 0 after a good one).
    backoff: u32,
    /// When the transfer last yielded to the scheduler while polling.
    last_yield: Instant,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shared.running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Poller {
    /// Records how long the peer took to answer.
    pub(crate) fn answered_after(&mut self, wait: Duration) {
        self.last_wait = wait;
    }

    /// Whether to poll for the coming wait (see the module documentation). Call once per wait.
    pub(crate) fn should_poll(&mut self) -> bool {
        if self.shared.running.load(Ordering::Relaxed) != 1 {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        self.last_wait <= self.shared.budget
    }

    /// Polls the non-blocking `socket` until a datagram arrives or the budget since `since` is
    /// spent. `Ok(None)`: nothing came; wait the ordinary way.
    ///
    /// It spins without yielding (a yield per try wakes a parked worker each time, measured:
    /// 1.5 context switches per block, and the whole gain gone), then, once [`YIELD_EVERY`]
    /// has passed since its last yield, yields to the scheduler. That bound matters: while a
    /// task spins, tokio may leave its other workers parked away from the reactor, so nobody
    /// reads the listening socket; a new request waits at most about that long plus the
    /// budget, and then ends the polling (two transfers run).
    ///
    /// # Errors
    /// The socket's, other than "would block".
    pub(crate) async fn poll(
        &mut self,
        socket: &std::net::UdpSocket,
        input: &mut [u8],
        since: Instant,
    ) -> std::io::Result<Option<(usize, SocketAddr)>> {
        let received = self.spin(socket, input, since);
        if self.last_yield.elapsed() >= YIELD_EVERY {
            tokio::task::yield_now().await;
            self.last_yield = Instant::now();
        }
        received
    }

    fn spin(
        &mut self,
        socket: &std::net::UdpSocket,
        input: &mut [u8],
        since: Instant,
    ) -> std::io::Result<Option<(usize, SocketAddr)>> {
        loop {
            match socket.recv_from(input) {
                Ok(received) => {
                    self.backoff = 0;
                    self.shared.stats.polled.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(received));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if since.elapsed() >= self.shared.budget {
                        self.backoff = (self.backoff * 2).clamp(1, MAX_BACKOFF);
                        self.skip = self.backoff;
                        return Ok(None);
                    }
                    std::hint::spin_loop();
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = MAX_BUDGET;

    fn busy_poll() -> Arc<BusyPoll> {
        BusyPoll::new(BUDGET, Arc::default())
    }

    fn pair() -> (std::net::UdpSocket, std::net::UdpSocket) {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.connect(server.local_addr().unwrap()).unwrap();
        (server, peer)
    }

    #[test]
    fn the_budget_is_capped_at_a_millisecond_and_off_on_a_current_thread_runtime() {
        use tokio::runtime::RuntimeFlavor::{CurrentThread, MultiThread};
        let micros = Duration::from_micros;
        assert_eq!(effective_budget(Some(micros(100)), MultiThread), Some(micros(100)));
        assert_eq!(effective_budget(Some(micros(5000)), MultiThread), Some(MAX_BUDGET));
        assert_eq!(effective_budget(Some(micros(100)), CurrentThread), None);
        assert_eq!(effective_budget(None, MultiThread), None);
    }

    #[test]
    fn a_new_transfer_polls_only_once_its_peer_has_answered_within_the_budget() {
        let shared = busy_poll();
        let mut poller = shared.enter();
        assert!(!poller.should_poll(), "nothing measured yet");
        poller.answered_after(BUDGET / 4);
        assert!(poller.should_poll());
        poller.answered_after(BUDGET * 2);
        assert!(!poller.should_poll(), "a phone answering in milliseconds is never polled for");
    }

    #[test]
    fn only_the_one_running_transfer_polls() {
        let shared = busy_poll();
        let mut first = shared.enter();
        first.answered_after(Duration::ZERO);
        let second = shared.enter();
        assert!(!first.should_poll(), "two transfers: neither polls");
        drop(second);
        assert!(first.should_poll(), "alone again");
    }

    #[tokio::test]
    async fn a_datagram_already_queued_is_returned_and_counted() {
        let shared = busy_poll();
        let mut poller = shared.enter();
        let (server, peer) = pair();
        peer.send(b"\x00\x04\x00\x01").unwrap();
        let mut input = [0u8; 16];
        let deadline = Instant::now() + Duration::from_secs(5);
        let received = loop {
            // Loopback delivery is synchronous, but stay bounded if a system differs.
            if let Some(received) = poller.poll(&server, &mut input, Instant::now()).await.unwrap()
            {
                break received;
            }
            assert!(Instant::now() < deadline, "the datagram never came");
        };
        assert_eq!(received, (4, peer.local_addr().unwrap()));
        assert_eq!(&input[..4], b"\x00\x04\x00\x01");
        assert_eq!(shared.stats.polled.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn an_empty_poll_gives_up_after_the_budget_and_backs_off_exponentially() {
        let shared = busy_poll();
        let mut poller = shared.enter();
        let (server, _peer) = pair();
        let mut input = [0u8; 16];
        let started = Instant::now();
        assert_eq!(poller.poll(&server, &mut input, started).await.unwrap(), None);
        assert!(started.elapsed() >= BUDGET);
        // The peer then answers fast again, but each empty poll doubles the pause.
        for pause in [1, 2, 4] {
            poller.answered_after(Duration::ZERO);
            for _ in 0..pause {
                assert!(!poller.should_poll(), "pausing {pause} waits");
            }
            assert!(poller.should_poll());
            assert_eq!(poller.poll(&server, &mut input, Instant::now()).await.unwrap(), None);
        }
        for _ in 0..8 {
            assert!(!poller.should_poll(), "pausing 8 waits");
        }
        assert!(poller.should_poll());
        assert_eq!(shared.stats.polled.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_good_poll_ends_the_backoff() {
        let shared = busy_poll();
        let mut poller = shared.enter();
        let (server, peer) = pair();
        let mut input = [0u8; 16];
        assert_eq!(poller.poll(&server, &mut input, Instant::now()).await.unwrap(), None);
        peer.send(b"\x00\x04\x00\x01").unwrap();
        assert!(poller.poll(&server, &mut input, Instant::now()).await.unwrap().is_some());
        assert_eq!(poller.poll(&server, &mut input, Instant::now()).await.unwrap(), None);
        assert_eq!(poller.skip, 1, "the pause starts again from one wait");
    }
}
