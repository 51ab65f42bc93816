//! The wiring of `cnf-server`: which tree, which listeners, the demo's ports, who to run as,
//! and what a signal does (SIGTERM and Ctrl-C stop, SIGHUP reloads).

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cnfkit_resolve::{FsDirectory, Rollouts, TreeObserver};
use cnfkit_tftp::driver::{Server, ServerConfig};
use cnfkit_tftp::{Layout, Limits, Policy};
use tokio::sync::watch;

use super::{Invocation, Settings};
use crate::admin::{Admin, AdminSetup};
use crate::http::{HttpConfig, HttpServer};
use crate::mirror::{Mirror, MirrorOptions};
use crate::monitor::Monitor;
use crate::registry::RegistryLimits;
use crate::tls::{self, ServedCertificate};
use crate::{
    ConfigSigner, DefaultsSource, Error, OpenFile, Presigner, ProvisioningHandler, RunsAs, Site,
    SiteOptions, Uploads, Writes, demo, log_boots, raise_open_file_limit, runs_as_root,
    stop_on_signals,
};

/// Prints a start-up line; a closed or full standard output is an error (exit 2), as for every
/// tool, not a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*)
            .map_err(|e| Error::Cli(format!("standard output: {e}")))?
    };
}

fn cli<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::Cli(if context.is_empty() { e.to_string() } else { format!("{context}: {e}") })
}

impl Settings {
    /// The TFTP driver's settings.
    #[must_use]
    pub fn tftp_config(&self) -> ServerConfig {
        ServerConfig {
            policy: Policy {
                max_blksize: self.max_blksize,
                max_windowsize: self.max_windowsize,
                max_negotiated_timeout: self.max_timeout,
                max_write_bytes: Some(self.max_upload_bytes),
                ..Policy::default()
            },
            limits: Limits {
                max_transfers: self.max_transfers as usize,
                max_per_peer: self.max_per_peer as usize,
                max_per_network: self.max_per_network as usize,
                ..Limits::default()
            },
            busy_poll: (self.busy_poll_us > 0)
                .then(|| Duration::from_micros(u64::from(self.busy_poll_us))),
            batch_interval: (self.batch_interval_us > 0)
                .then(|| Duration::from_micros(u64::from(self.batch_interval_us))),
            layout: if self.port_per_transfer {
                Layout::PortPerTransfer
            } else {
                Layout::SharedPort
            },
            loops: usize::from(self.tftp_threads),
            ..ServerConfig::default()
        }
    }

    /// Whether the embedded demo tree is served (neither `--root` nor `--source`).
    #[must_use]
    pub fn is_demo(&self) -> bool {
        self.root.is_none() && self.source.is_none()
    }

    /// The call manager generated configurations name: the server's own address, unless it
    /// is bound to every address (0.0.0.0, ::) and there is no one address to name.
    #[must_use]
    pub fn call_manager(&self) -> Option<String> {
        (!self.bind.ip().is_unspecified()).then(|| self.bind.ip().to_string())
    }

    /// The signer of `--sign-key` and `--sign-cert`, if given.
    ///
    /// # Errors
    /// [`Error::Cli`] naming the flags when a file cannot be read or used.
    pub fn signer(&self) -> Result<Option<ConfigSigner>, Error> {
        match (&self.sign_key, &self.sign_cert) {
            (Some(key), Some(cert)) => ConfigSigner::from_pem_files(key, cert, self.sign_digest)
                .map(Some)
                .map_err(cli("--sign-key/--sign-cert")),
            _ => Ok(None),
        }
    }

    /// The site of `--root` (or of the mirror's files), with the inventory and defaults.
    ///
    /// # Errors
    /// The site's own errors, and an inventory with no call manager to name.
    pub fn site(
        &self,
        root: PathBuf,
        signer: Option<ConfigSigner>,
        observer: Option<Arc<dyn TreeObserver>>,
    ) -> Result<Site, Error> {
        let site = Site::load(SiteOptions {
            root,
            inventory: self.inventory.clone(),
            defaults: self.defaults.clone(),
            call_manager: self.call_manager(),
            signer,
            observer,
            firmware: self.firmware.clone(),
        })?;
        if self.inventory.is_some() && site.defaults == DefaultsSource::None {
            return Err(Error::Cli(format!(
                "the inventory's configurations need a call manager: bound to {}, the server has \
                 no one address to name; give --defaults with call_managers, or bind to one address",
                self.bind.ip()
            )));
        }
        Ok(site)
    }

    /// These settings with what a reload may change left out, to compare two of them.
    fn fixed(&self) -> String {
        let mut fixed = self.clone();
        (fixed.config, fixed.inventory, fixed.defaults) = (None, None, None);
        (fixed.tls_cert, fixed.tls_key) = (None, None);
        format!("{fixed:?}")
    }
}

/// Serves until SIGTERM or Ctrl-C: the tree (or the demo), over TFTP and every listener the
/// settings name. SIGHUP reloads: `invocation` is read again when given (its `--config` file
/// included), else the same settings' files are.
///
/// # Errors
/// [`Error::Cli`] (or the failing part's error) when something cannot start: a file that
/// cannot be read or used, an address that cannot be bound, an unknown `--user`.
pub fn serve(settings: Settings, invocation: Option<Invocation>) -> Result<(), Error> {
    let config = settings.tftp_config();
    let grace = Duration::from_secs(settings.shutdown_grace);
    // Looked up before anything is bound: a wrong name is exit 2 with nothing started.
    let user = settings.user.as_deref().map(RunsAs::lookup).transpose()?;
    let https = match (settings.https, &settings.tls_cert, &settings.tls_key) {
        (Some(addr), Some(cert), Some(key)) => {
            Some((addr, ServedCertificate::load(cert, key).map_err(cli("--tls-cert/--tls-key"))?))
        }
        _ => None,
    };
    match raise_open_file_limit().map(|limit| limit.raised()) {
        Ok(Some(raised)) => say!("cnf-server: file descriptor limit {raised}"),
        Ok(None) => {}
        Err(e) => eprintln!("cnf-server: warning: cannot raise the file descriptor limit: {e}"),
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(cli("runtime"))?;
    let signer = settings.signer()?;
    if let Some(signer) = &signer {
        say!("cnf-server: signing configs on the fly as {}", signer.identity());
    }
    let demo = settings.is_demo();
    let demo_http = demo && settings.http.is_none();
    let mut listeners = Listeners {
        tftp: settings.bind,
        user,
        http: settings.http.or(demo_http.then(|| SocketAddr::from(([127, 0, 0, 1], 6970)))),
        demo: demo_http,
        https,
        admin: AdminSetup {
            listen: settings.admin.or(demo.then(|| SocketAddr::from(([127, 0, 0, 1], 6980)))),
            token_file: settings.admin_token_file.clone(),
            hosts: settings.admin_host.clone(),
            listen_optional: demo && settings.admin.is_none(),
            state: settings.state.clone(),
            signer: signer.clone(),
            ..AdminSetup::default()
        },
        rollouts: Rollouts::default(),
    };
    let (root, mirror) = match (&settings.root, &settings.source, &settings.cache_dir) {
        (Some(root), ..) => (root.clone(), None),
        (None, Some(source), Some(cache_dir)) => {
            let options = MirrorOptions::new(source, cache_dir);
            let refresh = Duration::from_secs(settings.refresh);
            let (mirror, first) = Mirror::start(MirrorOptions { refresh, ..options })?;
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
    let bind = settings.bind;
    if demo {
        let call_manager = settings.call_manager().unwrap_or_else(|| "127.0.0.1".to_owned());
        let mut resolver = demo::resolver(&call_manager).map_err(cli("demo tree"))?;
        if let Some(signer) = signer {
            resolver = resolver.with_signer(signer);
        }
        say!("cnf-server: serving the embedded demo tree on {bind}");
        say!("  try: curl -s -o XMLDefault.cnf.xml tftp://{bind}/XMLDefault.cnf.xml");
        say!("       curl -s -o demo.bin tftp://{bind}/{}", demo::LARGE_FILE);
        let handler = ProvisioningHandler::new(resolver);
        return runtime.block_on(run(handler, listeners, config, grace, |_, _| {}));
    }
    let observer = mirror.as_ref().map(Mirror::observer);
    let site = settings.site(root.clone(), signer.clone(), observer.clone())?;
    for note in site.start_notes(settings.inventory.is_some()) {
        match note.warning {
            true => eprintln!("cnf-server: warning: {}", note.text),
            false => say!("cnf-server: {}", note.text),
        }
    }
    let writes = if settings.allow_write {
        let uploads = Uploads::new(site.directory.clone())
            .overwrite(settings.allow_overwrite)
            .max_file_bytes(settings.max_upload_bytes)
            .quota_bytes(settings.upload_quota)
            .publish(settings.publish_uploads)
            .with_areas(&settings.upload_dir, &settings.upload_name)
            .map_err(cli("--allow-write"))
            .map_err(|e| Error::Cli(format!("{e} (--upload-dir DIR, --upload-name GLOB)")))?;
        Writes::On(uploads)
    } else {
        Writes::Off
    };
    let served = settings.source.clone().unwrap_or_else(|| root.display().to_string());
    say!("cnf-server: serving {served} on {bind}");
    // The mirror follows the store while the server runs, and stops with it.
    listeners.admin.store = mirror.as_ref().map(Mirror::stats);
    let _following = mirror.map(|m| m.spawn()).transpose().map_err(cli("mirror"))?;
    listeners.rollouts = site.rollouts.clone();
    let handler = ProvisioningHandler::new(site.resolver).with_writes(writes);
    let reload = Reload {
        invocation,
        running: settings,
        root,
        signer,
        observer,
        certificate: listeners.https.as_ref().map(|(_, certificate)| certificate.clone()),
    };
    let reloads = move |handler, stopped| {
        tokio::spawn(reload_on_hangup(reload, handler, stopped));
    };
    runtime.block_on(run(handler, listeners, config, grace, reloads))
}

/// Where to listen.
struct Listeners {
    tftp: SocketAddr,
    /// Who to run as once everything is bound.
    user: Option<RunsAs>,
    http: Option<SocketAddr>,
    demo: bool, // The demo's HTTP listener: a port in use is only a warning.
    https: Option<(SocketAddr, Arc<ServedCertificate>)>,
    admin: AdminSetup,
    /// The defaults' staged rollouts, judged by the registry.
    rollouts: Rollouts,
}

/// Starts every listener and serves until a signal; `also` is given the handler and the stop
/// signal once the server runs (the reload on SIGHUP).
async fn run<D: OpenFile>(
    handler: ProvisioningHandler<D>,
    listeners: Listeners,
    config: ServerConfig,
    grace: Duration,
    also: impl FnOnce(Arc<ProvisioningHandler<D>>, watch::Receiver<bool>),
) -> Result<(), Error> {
    let mut admin = listeners.admin.start().await?;
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
    // One boot tracker: the admin's registry, or one of its own for the boot lines alone. A
    // line per phone boot once it settles.
    let monitor = match &admin {
        Some(admin) => admin.monitor.clone(),
        None => Monitor::new(RegistryLimits::default(), None),
    };
    monitor.attach_rollouts(listeners.rollouts);
    let handler = Arc::new(handler.with_monitor(monitor.clone()));
    tokio::spawn(log_boots(monitor, Duration::from_secs(1)));
    // Signed configurations are made before the phones ask, and again within 10 s of a change.
    let _presigner = Presigner::spawn(handler.clone(), Duration::from_secs(10))
        .map_err(cli("cannot start pre-signing"))?;
    let bind = listeners.tftp;
    let tftp = Server::bind(bind, handler.clone(), config)
        .await
        .map_err(cli(&format!("cannot listen on {bind}")))?;
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
            Err(e) => return Err(Error::Cli(format!("cannot listen on {addr}: {e}"))),
        },
        None => None,
    };
    let https = match listeners.https {
        Some((addr, certificate)) => {
            let tls = tls::config_for(certificate)?;
            let server = HttpServer::bind_tls(addr, handler.clone(), HttpConfig::default(), tls)
                .await
                .map_err(cli(&format!("cannot listen on {addr}")))?;
            say!("cnf-server: HTTPS on {addr}");
            Some(server)
        }
        None => None,
    };
    match &listeners.user {
        Some(runs) => {
            runs.switch()?;
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
    also(handler.clone(), stopped.clone());
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
    tftp.and(http).and(https).and(admin).map_err(cli(""))
}

async fn run_some(run: Option<impl Future<Output = std::io::Result<()>>>) -> std::io::Result<()> {
    match run {
        Some(run) => run.await,
        None => Ok(()),
    }
}

/// What a reload reads again, and what it keeps.
struct Reload {
    invocation: Option<Invocation>,
    /// The settings running now.
    running: Settings,
    /// The tree (a reload never moves it).
    root: PathBuf,
    /// Kept: its cache of signatures stays valid.
    signer: Option<ConfigSigner>,
    observer: Option<Arc<dyn TreeObserver>>,
    /// The HTTPS certificate, when there is an HTTPS listener.
    certificate: Option<Arc<ServedCertificate>>,
}

impl Reload {
    /// Reads everything again and, only when all of it is good, answers from it: a new
    /// inventory, new defaults, a new TLS certificate. What it reports, or why nothing changed.
    fn apply(&mut self, handler: &ProvisioningHandler<FsDirectory>) -> Result<Vec<String>, Error> {
        let fresh = match &self.invocation {
            Some(invocation) => invocation.settings().map_err(Error::Cli)?,
            None => self.running.clone(),
        };
        let site = fresh.site(self.root.clone(), self.signer.clone(), self.observer.clone())?;
        let certificate = match (&self.certificate, &fresh.tls_cert, &fresh.tls_key) {
            (Some(_), Some(cert), Some(key)) => {
                Some(ServedCertificate::load(cert, key).map_err(cli("--tls-cert/--tls-key"))?)
            }
            _ => None,
        };
        let mut notes: Vec<String> = site
            .start_notes(fresh.inventory.is_some())
            .into_iter()
            .map(|note| if note.warning { format!("warning: {}", note.text) } else { note.text })
            .collect();
        if fresh.fixed() != self.running.fixed() {
            notes.push(
                "warning: only the inventory, the defaults and the TLS certificate are reloaded; \
                 the other changed settings take effect at the next start"
                    .to_owned(),
            );
        }
        if let Some(monitor) = handler.monitor() {
            monitor.attach_rollouts(site.rollouts.clone());
        }
        handler.replace_resolver(site.resolver);
        if let (Some(running), Some(fresh)) = (&self.certificate, certificate) {
            running.replace_with(&fresh);
        }
        (self.running.inventory, self.running.defaults) = (fresh.inventory, fresh.defaults);
        (self.running.tls_cert, self.running.tls_key) = (fresh.tls_cert, fresh.tls_key);
        Ok(notes)
    }
}

/// Reloads at each SIGHUP until the server stops; a reload that fails keeps what runs.
async fn reload_on_hangup(
    mut reload: Reload,
    handler: Arc<ProvisioningHandler<FsDirectory>>,
    mut stopped: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            tracing::warn!(error = %e, "cannot wait for SIGHUP: no reload");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return,
            got = hangups.recv() => if got.is_none() { return },
        }
        let handler = handler.clone();
        let done = tokio::task::spawn_blocking(move || {
            let applied = reload.apply(&handler);
            (reload, applied)
        })
        .await;
        let Ok((back, applied)) = done else { return };
        reload = back;
        match applied {
            Ok(notes) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "cnf-server: SIGHUP: reloaded");
                for note in notes {
                    let _ = writeln!(out, "cnf-server: {note}");
                }
            }
            Err(e) => eprintln!("cnf-server: SIGHUP: reload failed, still serving as before: {e}"),
        }
    }
}
