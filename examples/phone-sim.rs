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

use clap::{Parser, ValueEnum};
use cnfkit::resolve::{BootReport, FirmwareDecision, Mac, ModelTable, PhoneSetup, Protocol};
use cnfkit::server::{PhoneClient, boot_over_tftp};
use cnfkit::tftp::ClientOptions;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    Sccp,
    Sip,
}

#[derive(Parser)]
#[command(
    name = "phone-sim",
    about = "Boot simulated Cisco IP phones against a TFTP server and report what each would do"
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
    /// Firmware protocol.
    #[arg(long, value_enum, default_value = "sccp")]
    protocol: ProtocolArg,
    /// The load the phones run now (decides upgrade or downgrade).
    #[arg(long)]
    running_load: Option<String>,
    /// Phones come out of a factory reset (they ask for termNN.default.loads first).
    #[arg(long)]
    factory_reset: bool,
    /// Phones booting at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// blksize the phones ask for (0: none).
    #[arg(long, default_value_t = 1468)]
    blksize: u16,
    /// windowsize the phones ask for (1: lockstep).
    #[arg(long, default_value_t = 1)]
    windowsize: u16,
    /// One JSON object per phone, then a summary object, instead of text.
    #[arg(long)]
    json: bool,
    /// Print every phone (by default only stuck or failed ones, and all when 20 or fewer).
    #[arg(long, short)]
    verbose: bool,
    /// Boot every phone from its own loopback address (127.1.x.y), so the server sees distinct
    /// peers as it would on a real network. On by default for a loopback server.
    #[arg(long)]
    same_address: bool,
}

struct PhoneResult {
    mac: Mac,
    report: BootReport,
    elapsed: Duration,
    retransmits: u64,
}

async fn boot_one(args: Arc<Args>, mac: Mac, index: u32) -> Result<PhoneResult, String> {
    // Distinct peers on loopback: 127.1.0.1, 127.1.0.2, ...
    let local = (args.server.ip().is_loopback() && args.server.is_ipv4() && !args.same_address)
        .then(|| {
            let [_, b, c, d] = (index + 1).to_be_bytes();
            std::net::IpAddr::from([127, 1 + b, c, d])
        });
    let protocol = match args.protocol {
        ProtocolArg::Sccp => Protocol::Sccp,
        ProtocolArg::Sip => Protocol::Sip,
    };
    let mut setup = PhoneSetup::new(mac, &args.model, protocol);
    setup.factory_reset = args.factory_reset;
    let options = ClientOptions {
        blksize: (args.blksize != 0).then_some(args.blksize),
        windowsize: (args.windowsize > 1).then_some(args.windowsize),
        ..ClientOptions::default()
    };
    let client = PhoneClient { local, options, keep_files: false };
    let boot = boot_over_tftp(
        &ModelTable::builtin(),
        args.server,
        setup,
        args.running_load.as_deref(),
        client,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(PhoneResult {
        mac,
        report: boot.report,
        elapsed: boot.elapsed,
        retransmits: boot.retransmits,
    })
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

fn firmware_label(decision: &FirmwareDecision) -> String {
    match decision {
        FirmwareDecision::NoLoadNamed => "no load named".into(),
        FirmwareDecision::UpToDate => "up to date".into(),
        FirmwareDecision::Upgrade { to } => format!("upgrade to {to}"),
        FirmwareDecision::Downgrade { to } => format!("downgrade to {to}"),
        FirmwareDecision::Change { to } => format!("change to {to}"),
        FirmwareDecision::Blocked { to, .. } => format!("blocked ({to})"),
        _ => "other".into(),
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
    if ModelTable::builtin().by_model(&args.model).is_none() {
        eprintln!("phone-sim: unknown model {:?}", args.model);
        return ExitCode::from(2);
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(macs.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} phones {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let results: Vec<Result<PhoneResult, String>> = runtime.block_on(async {
        let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, mac) in (0u32..).zip(macs) {
            let args = args.clone();
            let gate = gate.clone();
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                boot_one(args, mac, index).await
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            results.push(joined.unwrap_or_else(|e| Err(e.to_string())));
            bar.inc(1);
        }
        results
    });
    bar.finish_and_clear();
    let wall = started.elapsed();
    report(&args, results, wall)
}

fn report(args: &Args, mut results: Vec<Result<PhoneResult, String>>, wall: Duration) -> ExitCode {
    results.sort_by_key(|r| r.as_ref().map(|p| p.mac).ok());
    let all = args.verbose || args.json || results.len() <= 20;
    let (mut ok, mut stuck, mut failed, mut fallback, mut retransmits) = (0, 0, 0, 0, 0);
    let mut times = Vec::new();
    for result in &results {
        match result {
            Ok(phone) => {
                times.push(phone.elapsed);
                retransmits += phone.retransmits;
                if phone.report.config.as_ref().is_some_and(|c| !c.own) {
                    fallback += 1;
                }
                let failures = phone.report.requests.iter().any(|r| r.result.is_failure());
                if failures {
                    failed += 1;
                } else if phone.report.ok() {
                    ok += 1;
                } else {
                    stuck += 1;
                }
                if all || !phone.report.ok() || failures {
                    print_phone(args, phone);
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("phone-sim: {e}");
            }
        }
    }
    times.sort();
    let pct = |p: usize| {
        times.get((times.len().saturating_sub(1)) * p / 100).copied().unwrap_or_default()
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "summary": {
                    "phones": results.len(), "ok": ok, "stuck": stuck, "failed": failed, "fallback": fallback,
                    "wall_ms": ms(wall), "p50_ms": ms(pct(50)), "p99_ms": ms(pct(99)),
                    "max_ms": ms(times.last().copied().unwrap_or_default()),
                    "retransmits": retransmits,
                }
            })
        );
    } else {
        println!(
            "{} phones in {:.2} s: {ok} ok, {stuck} stuck, {failed} failed; {fallback} fell back to a default config; boot time p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {retransmits} retransmits",
            results.len(),
            wall.as_secs_f64(),
            pct(50).as_secs_f64() * 1000.0,
            pct(99).as_secs_f64() * 1000.0,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
        );
    }
    if stuck + failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn print_phone(args: &Args, phone: &PhoneResult) {
    let report = &phone.report;
    if args.json {
        let requests: Vec<_> = report
            .requests
            .iter()
            .map(|r| serde_json::json!({ "file": r.name, "result": r.result.to_string(), "bytes": r.bytes }))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "mac": phone.mac.to_string(),
                "config": report.config.as_ref().map(|c| &c.name),
                "own_config": report.config.as_ref().map(|c| c.own),
                "call_managers": report.call_managers,
                "load": report.load,
                "firmware": firmware_label(&report.firmware),
                "stuck": report.stuck,
                "ms": ms(phone.elapsed),
                "retransmits": phone.retransmits,
                "requests": requests,
            })
        );
        return;
    }
    let config = match &report.config {
        Some(c) if c.own => format!("own {}", c.name),
        Some(c) => format!("fell back to {}", c.name),
        None => "no config".into(),
    };
    let status =
        report.stuck.as_deref().map_or_else(|| "ok".to_owned(), |why| format!("STUCK: {why}"));
    println!(
        "SEP{} {:>5} ms  {config}; call managers {}; {}; {status}",
        phone.mac,
        phone.elapsed.as_millis(),
        if report.call_managers.is_empty() {
            "none".into()
        } else {
            report.call_managers.join(", ")
        },
        firmware_label(&report.firmware)
    );
}
