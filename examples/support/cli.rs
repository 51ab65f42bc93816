//! What the file tools (`cnf-edit`, `cnf-repack`, `cnf-sign`) share: one exit-status
//! contract, standard output errors that are errors and not panics, and atomic writes that
//! say what they wrote.
//!
//! Included by each tool with `#[path = "support/cli.rs"] mod cli;`; a tool that does not use
//! every helper allows `dead_code` on that line.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use cnfkit::fs::Install;

/// A failure and the exit status it maps to.
pub(crate) enum Failure {
    /// Exit 1: a check or verification failed, or a phone would reject the result.
    Rejected(String),
    /// Exit 2: bad input or an I/O error.
    Bad(String),
}

impl Failure {
    /// Exit 2 with `e` as the message.
    pub(crate) fn bad(e: impl std::fmt::Display) -> Self {
        Self::Bad(e.to_string())
    }
}

impl From<cnfkit::fs::Error> for Failure {
    fn from(e: cnfkit::fs::Error) -> Self {
        Self::bad(e)
    }
}

/// What a command returns.
pub(crate) type Outcome = Result<(), Failure>;

/// Prints `tool: message` for a failure and maps the outcome to the exit status.
pub(crate) fn exit(tool: &str, outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected(m)) => {
            eprintln!("{tool}: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Bad(m)) => {
            eprintln!("{tool}: {m}");
            ExitCode::from(2)
        }
    }
}

/// `println!` that reports a closed or full standard output as a [`Failure::Bad`] (exit 2)
/// instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(&mut std::io::stdout(), format_args!("{}\n", format_args!($($arg)*)))
            .map_err(|e| $crate::cli::Failure::Bad(format!("standard output: {e}")))?
    };
}
pub(crate) use out;

/// Reads a whole file; the error names it.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Bad(format!("{}: {e}", path.display())))
}

/// The last component of `path`, as text.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Writes `bytes` to `path` through the one atomic writer and says so on standard error
/// (`detail` after the size, such as an MD5), naming the backup when one was kept.
pub(crate) fn write_reported(path: &Path, bytes: &[u8], install: Install, detail: &str) -> Outcome {
    let written = cnfkit::fs::write(path, bytes, install)?;
    let backup =
        written.backup.map_or_else(String::new, |b| format!(", previous kept as {}", b.display()));
    eprintln!("wrote {} ({} bytes{detail}){backup}", path.display(), bytes.len());
    Ok(())
}

/// Writes secrets in the clear (a decrypted config, a profile) to `output`, readable by the
/// owner only, or to standard output when there is none or it is `-`.
pub(crate) fn write_private(output: Option<&Path>, bytes: &[u8], detail: &str) -> Outcome {
    let Some(path) = output.filter(|p| p.as_os_str() != "-") else {
        return std::io::stdout()
            .write_all(bytes)
            .map_err(|e| Failure::Bad(format!("standard output: {e}")));
    };
    let mut pending = cnfkit::fs::PendingFile::create(path, Install::Replace)?.mode(0o600);
    pending.write_all(bytes).map_err(|e| Failure::Bad(format!("{}: {e}", path.display())))?;
    pending.commit()?;
    eprintln!("wrote {} ({} bytes{detail})", path.display(), bytes.len());
    Ok(())
}

/// Lets the user edit `text` in `$EDITOR` (default `vi`) and returns the result. The copy lives
/// in a private directory (mode 0700) that is removed afterwards, edited or not.
pub(crate) fn edit_in_editor(text: &[u8]) -> Result<Vec<u8>, Failure> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let editor = std::env::var("EDITOR").unwrap_or_else(|_| "vi".into());
    let dir = std::env::temp_dir().join(format!("cnfkit-edit-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Failure::Bad(format!("{}: {e}", dir.display())))?;
    let file = dir.join("config.xml");
    let edited = (|| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .and_then(|mut f| f.write_all(text))
            .map_err(|e| Failure::Bad(format!("{}: {e}", file.display())))?;
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("{editor} \"$1\""), "sh"])
            .arg(&file)
            .status()
            .map_err(|e| Failure::Bad(format!("cannot run {editor}: {e}")))?;
        if !status.success() {
            return Err(Failure::Bad(format!("{editor} exited with {status}; nothing written")));
        }
        read(&file)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    edited
}
