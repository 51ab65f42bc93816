//! `tftp-get`: fetch a file over TFTP with chosen options, a progress bar, and a size check.
//!
//! ```text
//! cargo run --release --example tftp-get -- 127.0.0.1:6969 demo-1MiB.bin -o demo.bin --blksize 1468 --windowsize 8
//! ```

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use clap::Parser;
use cnfkit::fs::{Install, PendingFile};
use cnfkit::tftp::driver::{self, Progress};
use cnfkit::tftp::{ClientOptions, DataSink, Policy};
use cnfkit_tftp_wire::Mode;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "tftp-get",
    about = "Fetch a file over TFTP (RFC 1350/2347/2348/2349/7440)",
    after_help = "Exit status: 0 fetched, 1 the size differs from the one announced, 2 bad input or a failed transfer."
)]
struct Args {
    /// Server address (`host:port`; TFTP's port is 69).
    server: SocketAddr,
    /// File to fetch.
    file: String,
    /// Where to write it (default: the file's base name); `-` writes to standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Block size to ask for (RFC 2348).
    #[arg(long, default_value_t = 1468, value_parser = clap::value_parser!(u16).range(8..=65464))]
    blksize: u16,
    /// Ask for no block size (RFC 1350 512-byte blocks).
    #[arg(long, conflicts_with = "blksize")]
    no_blksize: bool,
    /// Window size to ask for (RFC 7440); 1 is lockstep.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    windowsize: u16,
    /// Do not ask for the size (tsize).
    #[arg(long)]
    no_tsize: bool,
    /// Transfer in netascii mode (CR LF line ends on the wire, translated back).
    #[arg(long)]
    netascii: bool,
    /// Send no option at all (pure RFC 1350).
    #[arg(long)]
    no_options: bool,
}

struct Stdout;

impl DataSink for Stdout {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        std::io::stdout().write_all(data)
    }

    /// The last bytes must reach standard output before the transfer counts as done.
    fn finish(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

/// Receives into a pending file that is installed only once its size is checked: nothing
/// appears under the target name unless the whole announced file arrived.
struct Held(Arc<Mutex<Option<PendingFile>>>);

impl DataSink for Held {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        pending.as_mut().ok_or_else(|| std::io::Error::other("closed"))?.write_all(data)
    }

    fn abort(&mut self) {
        // Dropped: the temporary file is removed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mode = if args.netascii { Mode::Netascii } else { Mode::Octet };
    let options = if args.no_options {
        ClientOptions::none(mode)
    } else {
        ClientOptions {
            mode,
            blksize: (!args.no_blksize).then_some(args.blksize),
            windowsize: (args.windowsize > 1).then_some(args.windowsize),
            timeout: None,
            tsize: !args.no_tsize,
        }
    };
    let target = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(
            args.file.rsplit(['/', '\\']).next().filter(|n| !n.is_empty()).unwrap_or("tftp.out"),
        )
    });
    let to_stdout = target.as_os_str() == "-";
    let held = Arc::new(Mutex::new(None));
    let sink: Box<dyn DataSink> = if to_stdout {
        Box::new(Stdout)
    } else {
        match PendingFile::create(&target, Install::Replace) {
            Ok(pending) => {
                *held.lock().unwrap_or_else(PoisonError::into_inner) = Some(pending);
                Box::new(Held(held.clone()))
            }
            Err(e) => {
                eprintln!("tftp-get: cannot write: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let bar = if to_stdout { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tftp-get: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(driver::get(
        args.server,
        args.file.as_bytes(),
        options,
        sink,
        Policy::default(),
        |p: Progress| {
            if let Some(total) = p.total {
                bar.set_length(total);
            }
            bar.set_position(p.bytes);
        },
    ));
    bar.finish_and_clear();
    match result {
        Ok(summary) => {
            if let Some(announced) = summary.options.tsize.filter(|_| mode == Mode::Octet)
                && announced != summary.bytes
            {
                eprintln!(
                    "tftp-get: size mismatch: the server announced {announced} bytes, {} arrived",
                    summary.bytes
                );
                return ExitCode::from(1);
            }
            let pending = held.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(pending) = pending
                && let Err(e) = pending.commit()
            {
                eprintln!("tftp-get: {e}");
                return ExitCode::from(2);
            }
            if !to_stdout {
                eprintln!(
                    "{}: {} bytes in {:.3} s (blksize {}, windowsize {}, {} retransmits)",
                    target.display(),
                    summary.bytes,
                    summary.duration.as_secs_f64(),
                    summary.options.blksize,
                    summary.options.windowsize,
                    summary.retransmits
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tftp-get: {}: {e}", args.file);
            ExitCode::from(2)
        }
    }
}
