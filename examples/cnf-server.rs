//! `cnf-server`: a TFTP provisioning server for Cisco IP phones.
//!
//! ```text
//! cargo run --release --example cnf-server    # demo tree: TFTP 127.0.0.1:6969, HTTP :6970, admin :6980
//! cargo run --release --example cnf-server -- --root /srv/tftp --bind 0.0.0.0:69 \
//!     --inventory phones.csv --defaults defaults.toml [--sign-key tftp.pem --sign-cert tftp.pem]
//! ```
//! Thin: argument parsing and wiring. The answers are cnfkit-resolve's, the transfers cnfkit-tftp's.

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use cnfkit::repack::HashAlgorithm;
use cnfkit::server::admin::{Admin, AdminSetup};
use cnfkit::server::http::{HttpConfig, HttpServer};
use cnfkit::server::mirror::{Mirror, MirrorOptions};
use cnfkit::server::{
    ConfigSigner, DefaultsSource, FlagKind, OpenFile, Presigner, ProvisioningHandler, RunsAs, Site,
    SiteOptions, Uploads, Writes, config_file_args, demo, log_boots, raise_open_file_limit,
    runs_as_root, stop_on_signals, tls,
};
use cnfkit::tftp::driver::{Server, ServerConfig};
use cnfkit::tftp::{Layout, Limits, Policy};

#[derive(Parser)]
#[command(
    name = "cnf-server",
    about = "TFTP provisioning server for Cisco IP phones (SEP<MAC> -> XMLDefault fallback, firmware loads)",
    after_help = "Exit status: 0 stopped by SIGTERM or Ctrl-C (running transfers finished or were told), 130 a second signal during the stop, 2 bad input (a file that cannot be read or used, an address that cannot be bound)."
)]
struct Args {
    /// Read settings from this TOML file: its keys are the long flags (`root = "/srv/tftp"`,
    /// `single-port = true`, `upload-dir = ["logs"]`); a flag on the command line wins over
    /// the file. docs/config-file.md has every key.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory to serve; without it (or --source), an embedded demo tree is served.
    #[arg(long, group = "tree")]
    root: Option<PathBuf>,
    /// Serve an object store instead: s3://BUCKET/PREFIX/ (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP) or file:///PATH, through a mirror in
    /// --cache-dir that is served while the store is down.
    #[arg(long, group = "tree", requires = "cache_dir", value_name = "URL")]
    source: Option<String>,
    /// Where the mirror of --source lives (files/ and index.json).
    #[arg(long, requires = "source", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Seconds between two listings of --source (a miss also asks for one, at most each second).
    #[arg(long, default_value_t = 10, requires = "source", value_parser = clap::value_parser!(u64).range(1..))]
    refresh: u64,
    /// Address to listen on (TFTP).
    #[arg(long, default_value = "127.0.0.1:6969")]
    bind: SocketAddr,
    /// Also serve over HTTP here (phones: 0.0.0.0:6970): the URL path is the TFTP file name,
    /// answered the same way. The embedded demo serves HTTP on 127.0.0.1:6970 unless told.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Also serve over HTTPS here (phones: 0.0.0.0:6971), with --tls-cert and --tls-key;
    /// `SEP<MAC>.cnf.xml.sgn` is answered with the plain config there.
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    https: Option<SocketAddr>,
    /// The HTTPS certificate chain (PEM, leaf first).
    #[arg(long, requires = "https")]
    tls_cert: Option<PathBuf>,
    /// The HTTPS private key (PEM: PKCS#8, RSA or EC).
    #[arg(long, requires = "https")]
    tls_key: Option<PathBuf>,
    /// Phones (CSV with a header row: mac,model,protocol,description,lines,load,...): their
    /// SEP<MAC>.cnf.xml is generated when the tree has none.
    #[arg(long, requires = "tree")]
    inventory: Option<PathBuf>,
    /// Device defaults (TOML: call_managers, [loads], [urls]): XMLDefault.cnf.xml is rebuilt from
    /// them when the tree lacks it, and they fill inventory records.
    #[arg(long, requires = "tree")]
    defaults: Option<PathBuf>,
    /// Largest blksize granted (RFC 2348).
    #[arg(long, default_value_t = 65464, value_parser = clap::value_parser!(u16).range(8..=65464))]
    max_blksize: u16,
    /// Largest windowsize granted (RFC 7440).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    max_windowsize: u16,
    /// Accept uploads, atomically, into --upload-dir and --upload-name areas only, never under
    /// a name the server answers to phones (configurations, trust lists, firmware...).
    #[arg(long, requires = "tree")]
    allow_write: bool,
    /// A directory inside the root that takes uploads (problem reports, logs); repeatable.
    #[arg(long, value_name = "DIR", requires = "allow_write")]
    upload_dir: Vec<String>,
    /// A file-name pattern that takes uploads (`*`, `?`, any case; `logs/*.txt`); repeatable.
    #[arg(long, value_name = "GLOB", requires = "allow_write")]
    upload_name: Vec<String>,
    /// With --allow-write, let a write replace an existing file of the upload areas.
    #[arg(long, requires = "allow_write")]
    allow_overwrite: bool,
    /// Largest upload, in bytes (a larger one gets ERROR 3).
    #[arg(long, default_value_t = cnfkit::server::Uploads::DEFAULT_MAX_FILE_BYTES, value_name = "BYTES")]
    max_upload_bytes: u64,
    /// Bytes all upload areas may hold together, files already there included (past it: ERROR 3).
    #[arg(long, default_value_t = cnfkit::server::Uploads::DEFAULT_QUOTA_BYTES, value_name = "BYTES")]
    upload_quota: u64,
    /// With --source: publish uploads to the store, for every replica (else they stay here).
    #[arg(long, requires_all = ["allow_write", "source"])]
    publish_uploads: bool,
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
    /// Busy-poll for up to this many microseconds per block instead of sleeping, while one
    /// transfer runs on a loop: a client that answers that fast (loopback, a fast LAN) gets
    /// lockstep blocks 2.5x faster (BENCHMARKS.md), for a core busy during such a transfer;
    /// polls that come back empty are made ever more rarely. 0: never.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=1000))]
    busy_poll_us: u32,
    /// Answer each transfer from a port of its own, as RFC 1350 has it (for clients that
    /// insist). By default every transfer is answered from the listening port, which NAT, a
    /// Kubernetes Service or a UDP load balancer in front of the server need.
    #[arg(long)]
    port_per_transfer: bool,
    /// Accepted for older scripts: answering from the listening port is the default now.
    #[arg(long, hide = true, conflicts_with = "port_per_transfer")]
    single_port: bool,
    /// TFTP loops, each on a thread of its own and sharing the port (`SO_REUSEPORT`, each
    /// client address kept on one loop); 0: one per two cores, at most 4.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    tftp_threads: u16,
    /// Once the ports are bound, run as this unprivileged user (its primary group, no other):
    /// start as root to bind port 69, never keep root. Files written later (the --state
    /// file's directory, --cache-dir, upload areas) must be writable by that user.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
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
    /// The admin listener (dashboard, /metrics, /api/phones, /api/events); the demo's is on
    /// 127.0.0.1:6980.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// The admin bearer token's file (one line, 16+ characters of letters, digits and
    /// `-._~+/=`); needed beyond loopback.
    #[arg(long, requires = "admin")]
    admin_token_file: Option<PathBuf>,
    /// A name admins reach the admin listener by (`Host`; IP addresses always work, other names
    /// are refused against DNS rebinding); repeatable.
    #[arg(long, value_name = "NAME", requires = "admin")]
    admin_host: Vec<String>,
    /// Keep the phone registry in this file across restarts (JSON lines, saved every second).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Log lines as text, or as one JSON object per line (for log shippers).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("cnf-server: {message}");
            return ExitCode::from(2);
        }
    };
    // Logs go to standard error, coloured only on a terminal (not in files or journald).
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,object_store=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if args.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cnf-server: {message}");
            ExitCode::from(2)
        }
    }
}

/// The command line, after the `--config` file's settings (the command line wins).
fn parse_args() -> Result<Args, String> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let cli: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Some(path) = config_path(&cli) else { return Ok(Args::parse()) };
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("--config {}: {e}", path.display()))?;
    let command = Args::command().args_override_self(true);
    let flags: Vec<(String, FlagKind)> = command
        .get_arguments()
        .filter_map(|arg| Some((arg.get_long()?.to_owned(), arg.get_action())))
        .filter(|(name, _)| !matches!(name.as_str(), "config" | "help" | "version"))
        .map(|(name, action)| {
            let kind = match action {
                clap::ArgAction::SetTrue => FlagKind::Switch,
                clap::ArgAction::Append => FlagKind::Values,
                _ => FlagKind::Value,
            };
            (name, kind)
        })
        .collect();
    let flags: Vec<(&str, FlagKind)> = flags.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    let from_file = config_file_args(&path, &text, &flags).map_err(|e| e.to_string())?;
    // The file alone first, so that a bad value or a conflicting pair names its line.
    let file_only =
        std::iter::once("cnf-server".to_owned()).chain(from_file.iter().map(|a| a.arg.clone()));
    if let Err(e) = command.clone().try_get_matches_from(file_only) {
        let flag = e
            .get(clap::error::ContextKind::InvalidArg)
            .map(ToString::to_string)
            .unwrap_or_default();
        let key = flag.trim_start_matches("--").split([' ', '=']).next().unwrap_or_default();
        let line = from_file.iter().find(|a| a.key == key).map_or(0, |a| a.line);
        let kind = e.kind().as_str().unwrap_or("refused");
        let detail = e.render().to_string();
        let detail = detail.lines().next().unwrap_or_default().trim_start_matches("error: ");
        return Err(format!("{}, line {line}, `{key}`: {kind}: {detail}", path.display()));
    }
    let all = std::iter::once(cli[0].clone())
        .chain(from_file.into_iter().map(|a| a.arg.into()))
        .chain(cli.into_iter().skip(1));
    let matches = command.try_get_matches_from(all).unwrap_or_else(|e| e.exit());
    Args::from_arg_matches(&matches).map_err(|e| e.to_string())
}

/// The file `--config FILE` (or `--config=FILE`) names, if any.
fn config_path(cli: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut args = cli.iter().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    None
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
            max_write_bytes: Some(args.max_upload_bytes),
            ..Policy::default()
        },
        limits: Limits {
            max_transfers: args.max_transfers as usize,
            max_per_peer: args.max_per_peer as usize,
            max_per_network: args.max_per_network as usize,
            ..Limits::default()
        },
        busy_poll: (args.busy_poll_us > 0)
            .then(|| Duration::from_micros(u64::from(args.busy_poll_us))),
        layout: if args.port_per_transfer { Layout::PortPerTransfer } else { Layout::SharedPort },
        loops: usize::from(args.tftp_threads),
        ..ServerConfig::default()
    };
    let grace = Duration::from_secs(args.shutdown_grace);
    // Looked up before anything is bound: a wrong name is exit 2 with nothing started.
    let user = args.user.as_deref().map(RunsAs::lookup).transpose().map_err(|e| e.to_string())?;
    let https = match (args.https, &args.tls_cert, &args.tls_key) {
        (Some(addr), Some(cert), Some(key)) => Some((
            addr,
            tls::server_config(cert, key).map_err(|e| format!("--tls-cert/--tls-key: {e}"))?,
        )),
        _ => None,
    };
    match raise_open_file_limit().map(|limit| limit.raised()) {
        Ok(Some(raised)) => say!("cnf-server: file descriptor limit {raised}"),
        Ok(None) => {}
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
            say!("cnf-server: signing configs on the fly as {}", signer.identity());
            Some(signer)
        }
        _ => None,
    };
    let demo = args.root.is_none() && args.source.is_none();
    let demo_http = demo && args.http.is_none();
    let mut listeners = Listeners {
        tftp: args.bind,
        user,
        http: args.http.or(demo_http.then(|| SocketAddr::from(([127, 0, 0, 1], 6970)))),
        demo: demo_http,
        https,
        admin: AdminSetup {
            listen: args.admin.or(demo.then(|| SocketAddr::from(([127, 0, 0, 1], 6980)))),
            token_file: args.admin_token_file.clone(),
            hosts: args.admin_host.clone(),
            listen_optional: demo && args.admin.is_none(),
            state: args.state.clone(),
            signer: signer.clone(),
            ..AdminSetup::default()
        },
    };
    // Generated configurations name the server's own address as their call manager; bound to
    // every address (0.0.0.0, ::) there is no such address to name.
    let call_manager = (!args.bind.ip().is_unspecified()).then(|| args.bind.ip().to_string());
    let (root, mirror) = match (&args.root, &args.source, &args.cache_dir) {
        (Some(root), ..) => (root.clone(), None),
        (None, Some(source), Some(cache_dir)) => {
            let options = MirrorOptions::new(source, cache_dir);
            let refresh = Duration::from_secs(args.refresh);
            let (mirror, first) =
                Mirror::start(MirrorOptions { refresh, ..options }).map_err(|e| e.to_string())?;
            if let Some(first) = first {
                say!(
                    "cnf-server: {} objects in {source} ({} fetched)",
                    first.objects,
                    first.fetched
                );
            }
            (mirror.files().to_owned(), Some(mirror))
        }
        _ => (PathBuf::new(), None),
    };
    if demo {
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
        return runtime.block_on(serve(handler, listeners, config, grace));
    }
    let site = Site::load(SiteOptions {
        root: root.clone(),
        inventory: args.inventory.clone(),
        defaults: args.defaults.clone(),
        call_manager: call_manager.clone(),
        signer,
        observer: mirror.as_ref().map(Mirror::observer),
    })
    .map_err(|e| e.to_string())?;
    if args.inventory.is_some() && site.defaults == DefaultsSource::None {
        return Err(format!(
            "the inventory's configurations need a call manager: bound to {}, the server has no \
             one address to name; give --defaults with call_managers, or bind to one address",
            args.bind.ip()
        ));
    }
    for note in site.start_notes(args.inventory.is_some()) {
        match note.warning {
            true => eprintln!("cnf-server: warning: {}", note.text),
            false => say!("cnf-server: {}", note.text),
        }
    }
    let writes = if args.allow_write {
        let uploads = Uploads::new(site.directory.clone())
            .overwrite(args.allow_overwrite)
            .max_file_bytes(args.max_upload_bytes)
            .quota_bytes(args.upload_quota)
            .publish(args.publish_uploads)
            .with_areas(&args.upload_dir, &args.upload_name)
            .map_err(|e| format!("--allow-write: {e} (--upload-dir DIR, --upload-name GLOB)"))?;
        Writes::On(uploads)
    } else {
        Writes::Off
    };
    let served = args.source.unwrap_or_else(|| root.display().to_string());
    say!("cnf-server: serving {served} on {}", args.bind);
    // The mirror follows the store while the server runs, and stops with it.
    listeners.admin.store = mirror.as_ref().map(Mirror::stats);
    let _following = mirror.map(|m| m.spawn()).transpose().map_err(|e| format!("mirror: {e}"))?;
    let handler = ProvisioningHandler::new(site.resolver).with_writes(writes);
    runtime.block_on(serve(handler, listeners, config, grace))
}

/// Where to listen.
struct Listeners {
    tftp: SocketAddr,
    /// Who to run as once everything is bound.
    user: Option<RunsAs>,
    http: Option<SocketAddr>,
    demo: bool, // The demo's HTTP listener: a port in use is only a warning.
    https: Option<(SocketAddr, Arc<tls::TlsConfig>)>,
    admin: AdminSetup,
}

async fn serve<D: OpenFile>(
    handler: ProvisioningHandler<D>,
    listeners: Listeners,
    config: ServerConfig,
    grace: Duration,
) -> Result<(), String> {
    let mut admin = listeners.admin.start().await.map_err(|e| e.to_string())?;
    // The state file loads while phones are answered; its line comes when it is done.
    if let Some(restored) = admin.as_mut().and_then(|a| a.restored.take()) {
        tokio::spawn(async move {
            let Ok(l) = restored.await else { return };
            let (phones, torn) = (l.phones, l.torn_lines);
            let _ = writeln!(
                std::io::stdout(),
                "cnf-server: {phones} phones restored ({torn} torn lines skipped)"
            );
        });
    }
    if let Some(addr) = admin.as_ref().and_then(Admin::local_addr) {
        say!("cnf-server: admin (dashboard, /metrics, /api/phones) on http://{addr}/");
    }
    if let Some(e) = admin.as_ref().and_then(|a| a.not_listening.as_ref()) {
        eprintln!("cnf-server: warning: no admin listener: {e}");
    }
    // A line per phone boot once it is quiet for 3 s; the registry when there is one.
    let mut handler = handler.with_boot_log(Duration::from_secs(3), 10_000);
    if let Some(admin) = &admin {
        handler = handler.with_monitor(admin.monitor.clone());
    }
    let handler = Arc::new(handler);
    if let Some(log) = handler.boot_log() {
        tokio::spawn(log_boots(log, Duration::from_millis(500)));
    }
    // Signed configurations are made before the phones ask, and again within 10 s of a change.
    let _presigner = Presigner::spawn(handler.clone(), Duration::from_secs(10))
        .map_err(|e| format!("cannot start pre-signing: {e}"))?;
    let bind = listeners.tftp;
    let tftp = Server::bind(bind, handler.clone(), config)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    if let Some(admin) = &admin {
        admin.monitor.attach_tftp(tftp.stats());
    }
    let http = match listeners.http {
        Some(addr) => match HttpServer::bind(addr, handler.clone(), HttpConfig::default()).await {
            Ok(server) => {
                say!("cnf-server: HTTP on {addr}");
                say!("  try: curl -s -o XMLDefault.cnf.xml http://{addr}/XMLDefault.cnf.xml");
                Some(server)
            }
            Err(e) if listeners.demo => {
                eprintln!("cnf-server: warning: no HTTP: cannot listen on {addr}: {e}");
                None
            }
            Err(e) => return Err(format!("cannot listen on {addr}: {e}")),
        },
        None => None,
    };
    let https = match listeners.https {
        Some((addr, tls)) => {
            let server = HttpServer::bind_tls(addr, handler.clone(), HttpConfig::default(), tls)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            say!("cnf-server: HTTPS on {addr}");
            Some(server)
        }
        None => None,
    };
    match &listeners.user {
        Some(runs) => {
            runs.switch().map_err(|e| e.to_string())?;
            say!("cnf-server: running as {} (uid {}, gid {})", runs.user, runs.uid, runs.gid);
        }
        None if runs_as_root() => eprintln!(
            "cnf-server: warning: running as root; --user NAME drops to an unprivileged user \
             once the ports are bound"
        ),
        None => {}
    }
    let stopped = stop_on_signals(move |signal| {
        eprintln!(
            "cnf-server: {signal}: finishing running transfers (up to {} s; a second signal quits \
             at once)",
            grace.as_secs()
        );
    });
    let until_stopped = || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let (tftp, http, https, admin) = tokio::join!(
        tftp.run(until_stopped(), grace),
        run_some(http.map(|server| server.run(until_stopped(), grace))),
        run_some(https.map(|server| server.run(until_stopped(), grace))),
        run_some(admin.map(|admin| admin.run(until_stopped))),
    );
    tftp.and(http).and(https).and(admin).map_err(|e| e.to_string())
}

async fn run_some(run: Option<impl Future<Output = std::io::Result<()>>>) -> std::io::Result<()> {
    match run {
        Some(run) => run.await,
        None => Ok(()),
    }
}
