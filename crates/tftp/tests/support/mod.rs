//! In-memory pair: a client and a server transfer joined by a lossy, duplicating, reordering
//! link on a virtual clock (the quinn-proto `Pair` idea). No sockets, no sleeps.
#![allow(dead_code, unreachable_pub, clippy::must_use_candidate)] // shared by several test binaries

use std::time::{Duration, Instant};

use cnfkit_tftp::{Event, Incoming, Policy, Summary, Transfer};
use cnfkit_tftp_wire::Packet;

/// Link behaviour, per datagram.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability it is delivered twice.
    pub duplicate: f64,
    /// Extra random delay up to this, which reorders datagrams.
    pub jitter: Duration,
    /// Base one-way delay.
    pub delay: Duration,
}

impl Link {
    pub const PERFECT: Self =
        Self { loss: 0.0, duplicate: 0.0, jitter: Duration::ZERO, delay: Duration::from_millis(1) };

    pub fn lossy(loss: f64) -> Self {
        Self {
            loss,
            duplicate: loss / 2.0,
            jitter: Duration::from_millis(3),
            delay: Duration::from_millis(1),
        }
    }
}

/// xorshift64*: deterministic per seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How the server side accepts the first request.
type Accept = dyn FnMut(&Incoming, Instant) -> Transfer;

pub struct Pair {
    pub now: Instant,
    pub client: Transfer,
    pub server: Option<Transfer>,
    pub link: Link,
    rng: Rng,
    policy: Policy,
    accept: Box<Accept>,
    to_server: Vec<(Instant, Vec<u8>)>,
    to_client: Vec<(Instant, Vec<u8>)>,
    /// Every datagram each side emitted, before the link.
    pub server_sent: Vec<Vec<u8>>,
    pub client_sent: Vec<Vec<u8>>,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    buf: Vec<u8>,
}

impl Pair {
    pub fn new(
        client: Transfer,
        link: Link,
        seed: u64,
        policy: Policy,
        accept: impl FnMut(&Incoming, Instant) -> Transfer + 'static,
    ) -> Self {
        Self {
            now: Instant::now(),
            client,
            server: None,
            link,
            rng: Rng::new(seed),
            policy,
            accept: Box::new(accept),
            to_server: Vec::new(),
            to_client: Vec::new(),
            server_sent: Vec::new(),
            client_sent: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            buf: vec![0u8; 70_000],
        }
    }

    fn send(
        link: Link,
        rng: &mut Rng,
        now: Instant,
        queue: &mut Vec<(Instant, Vec<u8>)>,
        datagram: &[u8],
    ) {
        if rng.next_f64() < link.loss {
            return;
        }
        let copies = if rng.next_f64() < link.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = link.jitter.mul_f64(rng.next_f64());
            queue.push((now + link.delay + jitter, datagram.to_vec()));
        }
    }

    fn drain(&mut self) {
        while let Some(n) = self.client.poll_transmit(&mut self.buf) {
            self.client_sent.push(self.buf[..n].to_vec());
            Self::send(self.link, &mut self.rng, self.now, &mut self.to_server, &self.buf[..n]);
        }
        self.client_events.extend(std::iter::from_fn(|| self.client.poll_event()));
        if let Some(server) = &mut self.server {
            while let Some(n) = server.poll_transmit(&mut self.buf) {
                self.server_sent.push(self.buf[..n].to_vec());
                Self::send(self.link, &mut self.rng, self.now, &mut self.to_client, &self.buf[..n]);
            }
            self.server_events.extend(std::iter::from_fn(|| server.poll_event()));
        }
    }

    /// Runs until both sides are done (or the virtual time limit), returning the steps taken.
    pub fn run(&mut self, limit: Duration) -> usize {
        let start = self.now;
        let mut steps = 0;
        loop {
            self.drain();
            let server_done = self.server.as_ref().is_none_or(Transfer::is_done);
            if self.client.is_done()
                && server_done
                && self.to_server.is_empty()
                && self.to_client.is_empty()
            {
                return steps;
            }
            // The next thing to happen on the virtual clock.
            let mut next = [
                self.to_server.iter().map(|(t, _)| *t).min(),
                self.to_client.iter().map(|(t, _)| *t).min(),
                self.client.poll_timeout(),
                self.server.as_ref().and_then(Transfer::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(at) = next.take() else { return steps };
            assert!(
                at - start <= limit,
                "virtual time limit passed: client {:?} server {:?}",
                self.client,
                self.server
            );
            self.now = self.now.max(at);
            steps += 1;
            // Deliver every datagram due now, in arrival order.
            self.to_server.sort_by_key(|(t, _)| *t);
            while self.to_server.first().is_some_and(|(t, _)| *t <= self.now) {
                let (_, datagram) = self.to_server.remove(0);
                match &mut self.server {
                    Some(server) => server.handle(self.now, &datagram),
                    None => {
                        if let Ok(Some(incoming)) = Incoming::parse(&datagram, &self.policy) {
                            self.server = Some((self.accept)(&incoming, self.now));
                        }
                    }
                }
            }
            self.to_client.sort_by_key(|(t, _)| *t);
            while self.to_client.first().is_some_and(|(t, _)| *t <= self.now) {
                let (_, datagram) = self.to_client.remove(0);
                self.client.handle(self.now, &datagram);
            }
            self.client.handle_timeout(self.now);
            if let Some(server) = &mut self.server {
                server.handle_timeout(self.now);
            }
        }
    }

    pub fn finished(events: &[Event]) -> Option<&Summary> {
        events.iter().find_map(|e| match e {
            Event::Finished(s) => Some(s),
            _ => None,
        })
    }

    /// DATA packets the server emitted for block `block`.
    pub fn data_sent(sent: &[Vec<u8>], block: u16) -> usize {
        sent.iter()
            .filter(|d| matches!(Packet::parse(d), Ok(Packet::Data { block: b, .. }) if b == block))
            .count()
    }
}

pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u64().to_le_bytes()[7]).collect()
}
