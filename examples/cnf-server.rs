//! `cnf-server`: a TFTP provisioning server for Cisco IP phones.
//!
//! ```text
//! cargo run --release --example cnf-server                       # embedded demo tree on 127.0.0.1:6969
//! cargo run --release --example cnf-server -- --root /srv/tftp --bind 0.0.0.0:69 \
//!     --inventory phones.csv --defaults defaults.toml [--sign-key tftp.pem --sign-cert tftp.pem]
//! ```
//!
//! Thin: argument parsing and wiring. The answers are cnfkit-resolve's, the transfers cnfkit-tftp's.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cnfkit::repack::HashAlgorithm;
use cnfkit::server::{
    ConfigSigner, DefaultsSource, OpenFile, OpenFileLimit, ProvisioningHandler, Site, SiteOptions,
    Writes, demo, log_boots, raise_open_file_limit, stop_signal,
};
use cnfkit::tftp::driver::{Server, ServerConfig};
use cnfkit::tftp::{Limits, Policy};

#[derive(Parser)]
#[command(
    name = "cnf-server",
    about = "TFTP provisioning server for Cisco IP phones (SEP<MAC> -> XMLDefault fallback, firmware loads)",
    after_help = "Exit status: 0 stopped by SIGTERM or Ctrl-C (running transfers finished or were told), 130 a second signal during the stop, 2 bad input (a file that cannot be read or used, an address that cannot be bound)."
)]
struct Args {
    /// Directory to serve; without it, an embedded demo tree is served from memory.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6969")]
    bind: SocketAddr,
    /// Phones (CSV with a header row: mac,model,protocol,description,lines,load,...): their
    /// SEP<MAC>.cnf.xml is generated when the tree has none.
    #[arg(long, requires = "root")]
    inventory: Option<PathBuf>,
    /// Device defaults (TOML: call_managers, [loads], [urls]): XMLDefault.cnf.xml is rebuilt from
    /// them when the tree lacks it, and they fill inventory records.
    #[arg(long, requires = "root")]
    defaults: Option<PathBuf>,
    /// Largest blksize granted (RFC 2348).
    #[arg(long, default_value_t = 65464, value_parser = clap::value_parser!(u16).range(8..=65464))]
    max_blksize: u16,
    /// Largest windowsize granted (RFC 7440).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    max_windowsize: u16,
    /// Accept write requests (into --root, atomically).
    #[arg(long, requires = "root")]
    allow_write: bool,
    /// With --allow-write, let a write replace an existing file.
    #[arg(long, requires = "allow_write")]
    allow_overwrite: bool,
    /// Transfers at once, all clients together (over it, requests are dropped and retried).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    max_transfers: u32,
    /// Transfers at once from one client address.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    max_per_peer: u32,
    /// Transfers at once from one network (an IPv4 /24, an IPv6 /64).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_per_network: u32,
    /// Largest RFC 2349 `timeout` (seconds) granted to a client; a larger one is left out of the
    /// answer and the server keeps its own timing.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..))]
    max_timeout: u8,
    /// Busy-poll for up to this many microseconds per block instead of sleeping, while a
    /// transfer runs alone and its client answers that fast (loopback, a fast LAN): lockstep
    /// gets faster on loopback (BENCHMARKS.md has the figures; they depend on the host), and a
    /// core stays busy during such a transfer. Without it, never; 100 is plenty for loopback.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    busy_poll_us: Option<u32>,
    /// On SIGTERM or Ctrl-C, running transfers get this long to finish; the rest are sent an
    /// ERROR ("Server shutting down") and unfinished uploads are discarded.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    shutdown_grace: u64,
    /// Sign configs on the fly with this private key (PEM): `X.sgn` is served from `X` when only
    /// the plain file exists or is generated. Phones accept the signature only when the
    /// certificate is in their trust list with the TFTP or CCM+TFTP role.
    #[arg(long, requires = "sign_cert")]
    sign_key: Option<PathBuf>,
    /// The signing certificate (PEM) that goes with --sign-key.
    #[arg(long, requires = "sign_key")]
    sign_cert: Option<PathBuf>,
    /// Digest of on-the-fly signatures (sha1 for 79xx-era phones, sha512 for newer loads).
    #[arg(long, default_value = "sha1", requires = "sign_key")]
    sign_digest: HashAlgorithm,
}

fn main() -> ExitCode {
    // Logs go to standard error, coloured only on a terminal (not in files or journald).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cnf-server: {message}");
            ExitCode::from(2)
        }
    }
}

/// Prints a start-up line; a closed or full standard output is an error (exit 2), as for every
/// tool, not a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|e| format!("standard output: {e}"))?
    };
}

fn run(args: Args) -> Result<(), String> {
    let config = ServerConfig {
        policy: Policy {
            max_blksize: args.max_blksize,
            max_windowsize: args.max_windowsize,
            max_negotiated_timeout: args.max_timeout,
            ..Policy::default()
        },
        limits: Limits {
            max_transfers: args.max_transfers as usize,
            max_per_peer: args.max_per_peer as usize,
            max_per_network: args.max_per_network as usize,
            ..Limits::default()
        },
        busy_poll: args.busy_poll_us.map(|us| Duration::from_micros(u64::from(us))),
        ..ServerConfig::default()
    };
    let grace = Duration::from_secs(args.shutdown_grace);
    match raise_open_file_limit() {
        Ok(OpenFileLimit { before: Some(before), after }) if after != Some(before) => say!(
            "cnf-server: file descriptor limit raised from {before} to {}",
            after.map_or_else(|| "unlimited".to_owned(), |a| a.to_string())
        ),
        Ok(_) => {}
        Err(e) => eprintln!("cnf-server: warning: cannot raise the file descriptor limit: {e}"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let signer = match (&args.sign_key, &args.sign_cert) {
        (Some(key), Some(cert)) => {
            let signer = ConfigSigner::from_pem_files(key, cert, args.sign_digest)
                .map_err(|e| format!("--sign-key/--sign-cert: {e}"))?;
            say!(
                "cnf-server: signing configs on the fly as {} (serial {})",
                signer.certificate().subject(),
                cnfkit::repack::hex(signer.certificate().serial())
            );
            Some(signer)
        }
        _ => None,
    };
    // Generated configurations name the server's own address as their call manager; bound to
    // every address (0.0.0.0, ::) there is no such address to name.
    let call_manager = (!args.bind.ip().is_unspecified()).then(|| args.bind.ip().to_string());
    let Some(root) = args.root.clone() else {
        let mut resolver =
            demo::resolver(&call_manager.clone().unwrap_or_else(|| "127.0.0.1".to_owned()))
                .map_err(|e| format!("demo tree: {e}"))?;
        if let Some(signer) = signer {
            resolver = resolver.with_signer(signer);
        }
        say!("cnf-server: serving the embedded demo tree on {}", args.bind);
        say!("  try: curl -s -o XMLDefault.cnf.xml tftp://{}/XMLDefault.cnf.xml", args.bind);
        say!("       curl -s -o demo.bin tftp://{}/{}", args.bind, demo::LARGE_FILE);
        let handler = ProvisioningHandler::new(resolver);
        return runtime.block_on(serve(handler, args.bind, config, grace));
    };
    let site = Site::load(SiteOptions {
        root: root.clone(),
        inventory: args.inventory.clone(),
        defaults: args.defaults.clone(),
        call_manager: call_manager.clone(),
        signer,
    })
    .map_err(|e| e.to_string())?;
    if args.inventory.is_some() && site.defaults == DefaultsSource::None {
        return Err(format!(
            "the inventory's configurations need a call manager: bound to {}, the server has no \
             one address to name; give --defaults with call_managers, or bind to one address",
            args.bind.ip()
        ));
    }
    for warning in &site.warnings {
        eprintln!("cnf-server: warning: {warning}");
    }
    for temp in &site.stale_temps_removed {
        say!("cnf-server: removed {} (a write a stopped server left unfinished)", temp.display());
    }
    if args.inventory.is_some() {
        say!("cnf-server: {} phones in the inventory", site.inventory_len);
    }
    match (&site.defaults, site.has_xml_default) {
        (DefaultsSource::OldDefault, false) => say!(
            "cnf-server: XMLDefault.cnf.xml is missing: it is rebuilt from the call managers and \
             loads of XMLDefault.cnf.xml.old at the first request"
        ),
        (DefaultsSource::OldDefault, true) => {
            say!("cnf-server: device defaults taken from XMLDefault.cnf.xml.old");
        }
        (DefaultsSource::None, false) => eprintln!(
            "cnf-server: warning: no XMLDefault.cnf.xml, no XMLDefault.cnf.xml.old and no \
             --defaults to build it: new phones cannot boot"
        ),
        _ => {}
    }
    let writes = if args.allow_write {
        Writes::On { root: site.directory.clone(), overwrite: args.allow_overwrite }
    } else {
        Writes::Off
    };
    say!("cnf-server: serving {} on {}", root.display(), args.bind);
    let handler = ProvisioningHandler::new(site.resolver).with_writes(writes);
    runtime.block_on(serve(handler, args.bind, config, grace))
}

async fn serve<D: OpenFile>(
    handler: ProvisioningHandler<D>,
    bind: SocketAddr,
    config: ServerConfig,
    grace: Duration,
) -> Result<(), String> {
    // One info line per phone boot, written once the phone has been quiet for 3 s.
    let handler = handler.with_boot_log(Duration::from_secs(3), 10_000);
    if let Some(log) = handler.boot_log() {
        tokio::spawn(log_boots(log, Duration::from_millis(500)));
    }
    let server = Server::bind(bind, handler, config)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let shutdown = async move {
        match stop_signal().await {
            Ok(signal) => eprintln!(
                "cnf-server: {signal}: finishing running transfers (up to {} s; a second signal \
                 quits at once)",
                grace.as_secs()
            ),
            Err(e) => {
                eprintln!("cnf-server: cannot wait for signals ({e}): serving until killed");
                std::future::pending::<()>().await;
            }
        }
        tokio::spawn(async {
            let _ = stop_signal().await;
            std::process::exit(130);
        });
    };
    server.run(shutdown, grace).await.map_err(|e| e.to_string())
}
