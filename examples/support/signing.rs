//! What `cnf-repack` and `cnf-sign` share: the signer's key pair on the command line, the exit
//! status of cnfkit-repack's errors, and writing a served file with its MD5.
//!
//! Included with `#[path = "support/signing.rs"] mod signing;` beside `support/cli.rs`.

use std::path::{Path, PathBuf};

use cnfkit::fs::Install;
use cnfkit_repack::{Certificate, Error, PrivateKey, Secret, md5_hex};

use crate::cli::{self, Failure, Outcome};

/// `--key` and `--cert` of a signer.
#[derive(clap::Args)]
pub(crate) struct SignerArgs {
    /// Signing private key (PEM, PKCS#1 or PKCS#8).
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// Signing certificate (PEM).
    #[arg(long)]
    pub(crate) cert: PathBuf,
}

impl SignerArgs {
    /// Reads both files.
    pub(crate) fn load(&self) -> Result<(PrivateKey, Certificate), Failure> {
        Ok((PrivateKey::from_pem_file(&self.key)?, Certificate::from_pem_file(&self.cert)?))
    }
}

impl From<Error> for Failure {
    /// A signature that does not verify, or a signer the phone does not trust, is exit 1;
    /// everything else is bad input (exit 2), naming the flag that supplies a missing secret.
    fn from(e: Error) -> Self {
        match e {
            Error::BadSignature { .. } | Error::Untrusted(_) => Self::Rejected(e.to_string()),
            Error::MissingSecret(Secret::PhoneKey) => Self::Bad(format!("{e}: give --phone-key")),
            Error::MissingSecret(Secret::Password) => {
                Self::Bad(format!("{e}: give --password or --password-file"))
            }
            e => Self::bad(e),
        }
    }
}

/// Writes a served file (signed, encrypted, a trust list), keeping the previous one as
/// `<name>.old`, and reports its MD5; `-` is standard output.
pub(crate) fn write_served(path: &Path, bytes: &[u8]) -> Outcome {
    if path.as_os_str() == "-" {
        return cli::write_private(None, bytes, "");
    }
    cli::write_reported(path, bytes, Install::KeepOld, &format!(", md5 {}", md5_hex(bytes)))
}
