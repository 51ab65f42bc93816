//! `phone-sim`: boots simulated Cisco phones against any TFTP server and reports what each phone
//! would do: the files it asked for, the configuration it used and why, its call managers, its
//! firmware action, or why it is stuck.
//!
//! ```text
//! cargo run --release --example cnf-server &                   # or tftpd-hpa, atftpd, dnsmasq...
//! cargo run --release --example phone-sim -- --phones 100 --model 7942 --running-load SCCP42.8-5-4S
//! ```
//!
//! Thin: the boot logic is cnfkit-resolve's `BootSimulation`, driven over the network by
//! `cnfkit::server::boot_over_tftp` (cnfkit-tftp's client).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use std::io::Write;

use cnfkit::resolve::{Mac, ModelTable, PhoneSetup, Protocol};
use cnfkit::server::storm_report::storm_svg;
use cnfkit::server::{
    PhoneBoot, PhoneClient, RequestTiming, StormSummary, boot_over_tftp, fetch_once,
};
use cnfkit::tftp::ClientOptions;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "phone-sim",
    about = "Boot simulated Cisco IP phones against a TFTP (and HTTP) server and report what each would do",
    after_help = "Exit status: 0 every phone booted, 1 a phone is stuck or failed, 2 bad input."
)]
struct Args {
    /// The TFTP server.
    #[arg(long, default_value = "127.0.0.1:6969")]
    server: SocketAddr,
    /// Phones to boot (MACs 00:11:22:33:00:00 upwards), unless --macs is given.
    #[arg(long, default_value_t = 10)]
    phones: u32,
    /// A file with one MAC per line instead of --phones.
    #[arg(long)]
    macs: Option<PathBuf>,
    /// Phone model (7940, 7942, 7961, 8845...).
    #[arg(long, default_value = "7942")]
    model: String,
    /// Firmware protocol: sccp or sip.
    #[arg(long, default_value = "sccp")]
    protocol: Protocol,
    /// The load the phones run now (decides upgrade or downgrade).
    #[arg(long)]
    running_load: Option<String>,
    /// Phones come out of a factory reset (they ask for termNN.default.loads first).
    #[arg(long)]
    factory_reset: bool,
    /// Phones hold a trust list (ITL/CTL): they ask for their own SEP<MAC>.cnf.xml.sgn.
    #[arg(long)]
    trust_list: bool,
    /// Phones booting at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// blksize the phones ask for (RFC 2348).
    #[arg(long, default_value_t = 1468, value_parser = clap::value_parser!(u16).range(8..=65464))]
    blksize: u16,
    /// Ask for no blksize (512-byte blocks, as RFC 1350).
    #[arg(long, conflicts_with = "blksize")]
    no_blksize: bool,
    /// windowsize the phones ask for (RFC 7440; 1 is lockstep, the option is then not sent).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    windowsize: u16,
    /// One JSON object per phone, then a summary object, instead of text.
    #[arg(long)]
    json: bool,
    /// Print every phone (by default only stuck or failed ones, and all when 20 or fewer).
    #[arg(long, short)]
    verbose: bool,
    /// Send every phone's requests from one address (as phones behind NAT look to the server).
    /// Without it, against a loopback server, each phone boots from its own loopback address
    /// (127.1.x.y), so the server sees distinct peers as on a real network.
    #[arg(long)]
    same_address: bool,
    /// Try HTTP on this port of the server's address first (cnf-server --http; phones use
    /// 6970), falling back to TFTP when the connection is refused, as 78xx/88xx phones do.
    #[arg(long, value_name = "PORT")]
    http: Option<u16>,
    /// Draw the storm into this SVG file (or HTML, by its name): a row per phone along a time
    /// axis, each request a bar coloured by its answer, and a histogram of boot times.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Each phone asks once for its own SEP<MAC>.cnf.xml (.sgn with --trust-list) over TFTP
    /// and nothing more, discarding the bytes: a storm that measures what one request costs the
    /// server. The summary counts a phone whose file did not arrive as failed.
    #[arg(long, conflicts_with_all = ["report", "http", "factory_reset"])]
    only_config: bool,
}

/// A phone's boot, with the MAC it booted as.
struct PhoneResult {
    mac: Mac,
    boot: PhoneBoot,
}

/// The phone's own address: distinct peers on loopback (127.1.0.1, 127.1.0.2, ...).
fn local_address(args: &Args, index: u32) -> Option<std::net::IpAddr> {
    (args.server.ip().is_loopback() && args.server.is_ipv4() && !args.same_address).then(|| {
        let [_, b, c, d] = (index + 1).to_be_bytes();
        std::net::IpAddr::from([127, 1 + b, c, d])
    })
}

fn client_options(args: &Args) -> ClientOptions {
    ClientOptions {
        blksize: (!args.no_blksize).then_some(args.blksize),
        windowsize: (args.windowsize > 1).then_some(args.windowsize),
        ..ClientOptions::default()
    }
}

/// `--only-config`: one request, its time and retransmits, or why it failed.
async fn fetch_own_config(args: Arc<Args>, mac: Mac, index: u32) -> Result<RequestTiming, String> {
    let name = format!("SEP{mac}.cnf.xml{}", if args.trust_list { ".sgn" } else { "" });
    let client = PhoneClient {
        local: local_address(&args, index),
        options: client_options(&args),
        ..PhoneClient::default()
    };
    fetch_once(args.server, &name, client).await
}

async fn boot_one(args: Arc<Args>, mac: Mac, index: u32) -> Result<PhoneResult, String> {
    let local = local_address(&args, index);
    let mut setup = PhoneSetup::new(mac, &args.model, args.protocol);
    setup.factory_reset = args.factory_reset;
    setup.has_trust_list = args.trust_list;
    let options = client_options(&args);
    let client = PhoneClient { local, options, keep_files: false, http_port: args.http };
    let boot = boot_over_tftp(
        &ModelTable::builtin(),
        args.server,
        setup,
        args.running_load.as_deref(),
        client,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(PhoneResult { mac, boot })
}

fn macs(args: &Args) -> Result<Vec<Mac>, String> {
    match &args.macs {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(i, l)| {
                l.trim().parse().map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
            })
            .collect(),
        None => Ok((0..args.phones)
            .map(|i| {
                let [_, b, c, d] = i.to_be_bytes();
                Mac([0x00, 0x11, 0x22, 0x33 ^ b, c, d])
            })
            .collect()),
    }
}

fn main() -> ExitCode {
    let args = Arc::new(Args::parse());
    let macs = match macs(&args) {
        Ok(macs) if !macs.is_empty() => macs,
        Ok(_) => {
            eprintln!("phone-sim: no phone to boot");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("phone-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let report_dir = args.report.as_deref().and_then(std::path::Path::parent);
    if let Some(dir) = report_dir.filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        eprintln!("phone-sim: --report: {} is not a directory", dir.display());
        return ExitCode::from(2);
    }
    if ModelTable::builtin().by_model(&args.model).is_none() {
        eprintln!("phone-sim: unknown model {:?}", args.model);
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("phone-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(macs.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} phones {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if args.only_config {
        return only_config(&args, macs, &runtime, &bar);
    }
    let started = Instant::now();
    let results = runtime.block_on(storm(&args, macs, &bar, boot_one));
    bar.finish_and_clear();
    let wall = started.elapsed();
    match report(&args, results, wall, started) {
        Ok(summary) if summary.stuck + summary.failed > 0 => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("phone-sim: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints the phones worth showing and the summary line (or JSON objects).
fn report(
    args: &Args,
    results: Vec<Result<PhoneResult, String>>,
    wall: Duration,
    started: Instant,
) -> Result<StormSummary, String> {
    let stdout = |e: std::io::Error| format!("standard output: {e}");
    let mut out = std::io::stdout().lock();
    let (mut phones, mut errors) = (Vec::new(), 0);
    for result in results {
        match result {
            Ok(phone) => phones.push(phone),
            Err(e) => {
                errors += 1;
                eprintln!("phone-sim: {e}");
            }
        }
    }
    phones.sort_by_key(|p| p.mac);
    let all = args.verbose || args.json || phones.len() + errors <= 20;
    for phone in &phones {
        if all || !phone.boot.report.ok() || phone.boot.failed() {
            print_phone(&mut out, args.json, phone).map_err(stdout)?;
        }
    }
    if let Some(path) = &args.report {
        let drawn: Vec<(Mac, &PhoneBoot)> = phones.iter().map(|p| (p.mac, &p.boot)).collect();
        let svg = storm_svg(&drawn, started);
        let html = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("html"));
        let content = if html {
            format!(
                "<!doctype html>\n<meta charset=\"utf-8\"><title>phone-sim storm</title>\n{svg}"
            )
        } else {
            svg
        };
        cnfkit::fs::write(path, content.as_bytes(), cnfkit::fs::Install::Replace)
            .map_err(|e| format!("--report: {e}"))?;
    }
    let boots: Vec<PhoneBoot> = phones.into_iter().map(|p| p.boot).collect();
    let s = StormSummary::of(&boots, errors);
    print_summary(&mut out, args.json, &s, wall).map_err(stdout)?;
    Ok(s)
}

/// Runs `phone` for every MAC, `--concurrency` at a time; the results in the order they end.
async fn storm<T, F>(
    args: &Arc<Args>,
    macs: Vec<Mac>,
    bar: &ProgressBar,
    phone: fn(Arc<Args>, Mac, u32) -> F,
) -> Vec<Result<T, String>>
where
    T: Send + 'static,
    F: Future<Output = Result<T, String>> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, mac) in (0u32..).zip(macs) {
        let (args, gate) = (args.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            phone(args, mac, index).await
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.unwrap_or_else(|e| Err(e.to_string())));
        bar.inc(1);
    }
    results
}

/// `--only-config`: the storm, then its summary (the same fields as a boot storm's).
fn only_config(
    args: &Arc<Args>,
    macs: Vec<Mac>,
    runtime: &tokio::runtime::Runtime,
    bar: &ProgressBar,
) -> ExitCode {
    let started = Instant::now();
    let results = runtime.block_on(storm(args, macs, bar, fetch_own_config));
    let wall = started.elapsed();
    bar.finish_and_clear();
    for e in results.iter().filter_map(|r| r.as_ref().err()).take(5) {
        eprintln!("phone-sim: {e}");
    }
    let s = StormSummary::of_fetches(&results);
    match print_summary(&mut std::io::stdout().lock(), args.json, &s, wall) {
        Ok(()) if s.failed > 0 => ExitCode::from(1),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("phone-sim: standard output: {e}");
            ExitCode::from(2)
        }
    }
}

/// The summary line, or its JSON object.
fn print_summary(
    out: &mut impl Write,
    json: bool,
    s: &StormSummary,
    wall: Duration,
) -> std::io::Result<()> {
    if json {
        let summary = serde_json::json!({ "summary": {
            "phones": s.phones, "ok": s.ok, "stuck": s.stuck, "failed": s.failed,
            "fallback": s.fallback, "wall_ms": ms(wall), "p50_ms": ms(s.p50), "p99_ms": ms(s.p99),
            "max_ms": ms(s.max), "retransmits": s.retransmits,
        }});
        return writeln!(out, "{summary}");
    }
    writeln!(
        out,
        "{} phones in {:.2} s: {} ok, {} stuck, {} failed; {} fell back to a default config; boot time p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {} retransmits",
        s.phones,
        wall.as_secs_f64(),
        s.ok,
        s.stuck,
        s.failed,
        s.fallback,
        s.p50.as_secs_f64() * 1000.0,
        s.p99.as_secs_f64() * 1000.0,
        s.max.as_secs_f64() * 1000.0,
        s.retransmits
    )
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn print_phone(out: &mut impl Write, json: bool, phone: &PhoneResult) -> std::io::Result<()> {
    let (boot, report) = (&phone.boot, &phone.boot.report);
    if json {
        let requests: Vec<_> = report
            .requests
            .iter()
            .map(|r| serde_json::json!({ "file": r.name, "result": r.result.to_string(), "bytes": r.bytes }))
            .collect();
        let line = serde_json::json!({
            "mac": phone.mac.to_string(),
            "config": report.config.as_ref().map(|c| &c.name),
            "own_config": report.config.as_ref().map(|c| c.own),
            "call_managers": report.call_managers,
            "load": report.load,
            "firmware": report.firmware.to_string(),
            "stuck": report.stuck,
            "ms": ms(boot.elapsed),
            "retransmits": boot.retransmits,
            "requests": requests,
        });
        return writeln!(out, "{line}");
    }
    let config = match &report.config {
        Some(c) if c.own => format!("own {}", c.name),
        Some(c) => format!("fell back to {}", c.name),
        None => "no config".into(),
    };
    let status =
        report.stuck.as_deref().map_or_else(|| "ok".to_owned(), |why| format!("STUCK: {why}"));
    let call_managers = if report.call_managers.is_empty() {
        "none".into()
    } else {
        report.call_managers.join(", ")
    };
    writeln!(
        out,
        "SEP{} {:>5} ms  {config}; call managers {call_managers}; {}; {status}",
        phone.mac,
        boot.elapsed.as_millis(),
        report.firmware
    )
}
