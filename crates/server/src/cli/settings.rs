//! Every setting of `cnf-server`, as flags and as the keys of its `--config` file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use cnfkit_repack::HashAlgorithm;

/// `cnf-server`'s settings: its command line (`cnf-server --help`), and the keys of its
/// `--config` file (the long flags).
///
/// ```
/// use clap::Parser as _;
/// use cnfkit_server::cli::Settings;
/// let settings = Settings::try_parse_from(["cnf-server", "--root", "/srv/tftp", "--bind", "0.0.0.0:69"])?;
/// assert_eq!(settings.bind.port(), 69);
/// assert_eq!(settings.max_transfers, 2048);
/// # Ok::<(), clap::Error>(())
/// ```
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cnf-server",
    about = "TFTP provisioning server for Cisco IP phones (SEP<MAC> -> XMLDefault fallback, firmware loads)",
    after_help = "`cnf-server check [FLAGS]` checks the tree, the inventory, the defaults, the keys and the ports with the same flags, and serves nothing: exit 0 when a phone would hit no problem, 1 when it would (each listed with its file and the phones it hurts), 2 bad input.\n\nSIGHUP reloads the --config file, the inventory, the defaults, the signing key and the TLS certificate; running transfers and connections finish on what they started with, and a reload that fails keeps the running state.\n\nExit status: 0 stopped by SIGTERM or Ctrl-C (running transfers finished or were told), 130 a second signal during the stop, 2 bad input (a file that cannot be read or used, an address that cannot be bound)."
)]
pub struct Settings {
    /// Read settings from this TOML file: its keys are the long flags (`root = "/srv/tftp"`,
    /// `single-port = true`, `upload-dir = ["logs"]`); a flag on the command line wins over
    /// the file. docs/config-file.md has every key.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory to serve; without it (or --source), an embedded demo tree is served.
    #[arg(long, group = "tree")]
    pub root: Option<PathBuf>,
    /// Serve an object store instead: s3://BUCKET/PREFIX/ (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP) or file:///PATH, through a mirror in
    /// --cache-dir that is served while the store is down.
    #[arg(long, group = "tree", requires = "cache_dir", value_name = "URL")]
    pub source: Option<String>,
    /// Where the mirror of --source lives (files/ and index.json).
    #[arg(long, requires = "source", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Seconds between two listings of --source (a miss also asks for one, at most each second).
    #[arg(long, default_value_t = 10, requires = "source", value_parser = clap::value_parser!(u64).range(1..))]
    pub refresh: u64,
    /// Address to listen on (TFTP).
    #[arg(long, default_value = "127.0.0.1:6969")]
    pub bind: SocketAddr,
    /// Also serve over HTTP here (phones: 0.0.0.0:6970): the URL path is the TFTP file name,
    /// answered the same way. The embedded demo serves HTTP on 127.0.0.1:6970 unless told.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Also serve over HTTPS here (phones: 0.0.0.0:6971), with --tls-cert and --tls-key;
    /// `SEP<MAC>.cnf.xml.sgn` is answered with the plain config there.
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    pub https: Option<SocketAddr>,
    /// The HTTPS certificate chain (PEM, leaf first).
    #[arg(long, requires = "https")]
    pub tls_cert: Option<PathBuf>,
    /// The HTTPS private key (PEM: PKCS#8, RSA or EC).
    #[arg(long, requires = "https")]
    pub tls_key: Option<PathBuf>,
    /// Phones (CSV with a header row: mac,model,protocol,description,lines,load,...): their
    /// `SEP<MAC>.cnf.xml` is generated when the tree has none.
    #[arg(long, requires = "tree")]
    pub inventory: Option<PathBuf>,
    /// Device defaults (TOML: `call_managers`, `[loads]`, `[urls]`): XMLDefault.cnf.xml is rebuilt from
    /// them when the tree lacks it, and they fill inventory records.
    #[arg(long, requires = "tree")]
    pub defaults: Option<PathBuf>,
    /// A firmware library (`cnf-fw import PACK --library DIR`): its manifests and images are
    /// served by the name a phone asks for, in any letter case, when the tree has no file of
    /// that name.
    #[arg(long, value_name = "DIR", requires = "tree")]
    pub firmware: Option<PathBuf>,
    /// Largest blksize granted (RFC 2348).
    #[arg(long, default_value_t = 65464, value_parser = clap::value_parser!(u16).range(8..=65464))]
    pub max_blksize: u16,
    /// Largest windowsize granted (RFC 7440).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_windowsize: u16,
    /// Accept uploads, atomically, into --upload-dir and --upload-name areas only, never under
    /// a name the server answers to phones (configurations, trust lists, firmware...).
    #[arg(long, requires = "tree")]
    pub allow_write: bool,
    /// A directory inside the root that takes uploads (problem reports, logs); repeatable.
    #[arg(long, value_name = "DIR", requires = "allow_write")]
    pub upload_dir: Vec<String>,
    /// A file-name pattern that takes uploads (`*`, `?`, any case; `logs/*.txt`); repeatable.
    #[arg(long, value_name = "GLOB", requires = "allow_write")]
    pub upload_name: Vec<String>,
    /// With --allow-write, let a write replace an existing file of the upload areas.
    #[arg(long, requires = "allow_write")]
    pub allow_overwrite: bool,
    /// Largest upload, in bytes (a larger one gets ERROR 3).
    #[arg(long, default_value_t = crate::Uploads::DEFAULT_MAX_FILE_BYTES, value_name = "BYTES")]
    pub max_upload_bytes: u64,
    /// Bytes all upload areas may hold together, files already there included (past it: ERROR 3).
    #[arg(long, default_value_t = crate::Uploads::DEFAULT_QUOTA_BYTES, value_name = "BYTES")]
    pub upload_quota: u64,
    /// With --source: publish uploads to the store, for every replica (else they stay here).
    #[arg(long, requires_all = ["allow_write", "source"])]
    pub publish_uploads: bool,
    /// Transfers at once, all clients together (over it, requests are dropped and retried).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_transfers: u32,
    /// Transfers at once from one client address.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_peer: u32,
    /// Transfers at once from one network (an IPv4 /24, an IPv6 /64).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_network: u32,
    /// Largest RFC 2349 `timeout` (seconds) granted to a client; a larger one is left out of the
    /// answer and the server keeps its own timing.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..))]
    pub max_timeout: u8,
    /// Busy-poll for up to this many microseconds per block instead of sleeping, while one
    /// transfer runs on a loop: a client that answers that fast (loopback, a fast LAN) gets
    /// lockstep blocks 2.5x faster (BENCHMARKS.md), for a core busy during such a transfer;
    /// polls that come back empty are made ever more rarely. 0: never.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub busy_poll_us: u32,
    /// While 16 or more TFTP transfers run on a loop, read the socket at most once per this
    /// many microseconds (or per 10 µs for each transfer, when that is shorter), so that a
    /// storm's datagrams are read and answered in batches: fewer wake-ups and system calls per
    /// datagram (0.7x the CPU of a 5000-phone boot storm, BENCHMARKS.md), each datagram
    /// waiting at most this long more. 0: never wait.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub batch_interval_us: u32,
    /// Answer each transfer from a port of its own, as RFC 1350 has it (for clients that
    /// insist). By default every transfer is answered from the listening port, which NAT, a
    /// Kubernetes Service or a UDP load balancer in front of the server need.
    #[arg(long)]
    pub port_per_transfer: bool,
    /// Accepted for older scripts: answering from the listening port is the default now.
    #[arg(long, hide = true, conflicts_with = "port_per_transfer")]
    pub single_port: bool,
    /// TFTP loops, each on a thread of its own and sharing the port (`SO_REUSEPORT`, each
    /// client address kept on one loop); 0: one per two cores, at most 4.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub tftp_threads: u16,
    /// Once the ports are bound, run as this unprivileged user (its primary group, no other):
    /// start as root to bind port 69, never keep root. Files written later (the --state
    /// file's directory, --cache-dir, upload areas) must be writable by that user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// On SIGTERM or Ctrl-C, running transfers get this long to finish; the rest are sent an
    /// ERROR ("Server shutting down") and unfinished uploads are discarded.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub shutdown_grace: u64,
    /// Sign configs on the fly with this private key (PEM): `X.sgn` is served from `X` when only
    /// the plain file exists or is generated. Phones accept the signature only when the
    /// certificate is in their trust list with the TFTP or CCM+TFTP role.
    #[arg(long, requires = "sign_cert")]
    pub sign_key: Option<PathBuf>,
    /// The signing certificate (PEM) that goes with --sign-key.
    #[arg(long, requires = "sign_key")]
    pub sign_cert: Option<PathBuf>,
    /// Digest of on-the-fly signatures (sha1 for 79xx-era phones, sha512 for newer loads).
    #[arg(long, default_value = "sha1", requires = "sign_key")]
    pub sign_digest: HashAlgorithm,
    /// The admin listener (dashboard, /metrics, /api/phones, /api/events); the demo's is on
    /// 127.0.0.1:6980.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// The admin bearer token's file (one line, 16+ characters of letters, digits and
    /// `-._~+/=`); needed beyond loopback.
    #[arg(long, requires = "admin")]
    pub admin_token_file: Option<PathBuf>,
    /// A name admins reach the admin listener by (`Host`; IP addresses always work, other names
    /// are refused against DNS rebinding); repeatable.
    #[arg(long, value_name = "NAME", requires = "admin")]
    pub admin_host: Vec<String>,
    /// Keep the phone registry in this file across restarts (JSON lines, saved every second).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Log lines as text, or as one JSON object per line (for log shippers).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}
