//! `cnf-repack`: inspect, decrypt, encrypt and repack Cisco phone configuration files.
//!
//! ```text
//! cargo run --example cnf-repack -- inspect SEP001122334455.cnf.xml.enc.sgn [--json]
//! cargo run --example cnf-repack -- repack SEP001122334455.cnf.xml.enc.sgn --phone-key phone.pem \
//!     --set loadInformation=SIP75.8-5-4S --key tftp.pem --cert tftp.pem
//! ```
//!
//! Signing, verifying and trust lists are `cnf-sign`'s. Files are written atomically; a replaced file is
//! kept as `<name>.old`. Key material is never printed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cnfkit_config::Assignment;
use cnfkit_repack::profile::{self, Compression, KeyDerivation, Password};
use cnfkit_repack::{
    Certificate, EncryptedConfig, Format, HashAlgorithm, PrivateKey, Repack, Secrets, TrustList,
    md5_hex, unix_now,
};

#[allow(dead_code)]
#[path = "support/cli.rs"]
mod cli;
#[path = "support/signing.rs"]
mod signing;
use cli::{Failure, Outcome, file_name, out, read};
use signing::{SignerArgs, write_served};

#[derive(Parser)]
#[command(
    name = "cnf-repack",
    version,
    about = "Inspect, decrypt, encrypt and repack Cisco phone configuration files",
    after_help = "Exit status: 0 ok, 1 a signature did not verify or a phone would reject the result, 2 bad input or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what a file is: header fields, signer, encryption, records, MD5.
    Inspect(InspectArgs),
    /// Decrypt an encrypted config (.enc.sgn) with the phone's private key.
    Decrypt(DecryptArgs),
    /// Encrypt a config for a phone: writes FILE.enc.sgn and the signed stub FILE.sgn.
    Encrypt(EncryptArgs),
    /// OpenSSL `enc` profiles of multiplatform phones.
    Profile(ProfileArgs),
    /// MD5 of files, as md5sum prints it.
    Md5 {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Open, decrypt, edit, re-encrypt with the same key, re-sign, write (keeps FILE.old).
    Repack(RepackArgs),
}

#[derive(Args)]
struct InspectArgs {
    /// The file (format told from its bytes).
    file: PathBuf,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DecryptArgs {
    /// The encrypted config.
    file: PathBuf,
    /// The phone's private key (PEM).
    #[arg(long)]
    phone_key: PathBuf,
    /// Output (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct EncryptArgs {
    /// The plain SEP<MAC>.cnf.xml.
    file: PathBuf,
    /// The phone's certificate (LSC or MIC, PEM).
    #[arg(long)]
    phone_cert: PathBuf,
    #[command(flatten)]
    signer: SignerArgs,
    /// Digest for the signature and the plaintext digest.
    #[arg(long, default_value = "sha1")]
    digest: HashAlgorithm,
}

#[derive(Args)]
struct ProfileArgs {
    /// What to do.
    action: ProfileAction,
    /// The file.
    file: PathBuf,
    #[command(flatten)]
    password: PasswordArgs,
    /// Key derivation digest for encryption (phones expect md5).
    #[arg(long, default_value = "md5")]
    md: KeyDerivation,
    /// Output (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// What `profile` does.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProfileAction {
    /// Encrypt a plain profile.
    Encrypt,
    /// Decrypt a profile.
    Decrypt,
}

#[derive(Args)]
struct RepackArgs {
    /// The served file (.sgn, .enc.sgn, profile or plain).
    file: PathBuf,
    /// FIELD=VALUE on cnf.xml element paths (`loadInformation`, `vendorConfig/webAccess`,
    /// `path@attr` for attributes); repeatable.
    #[arg(long = "set")]
    set: Vec<Assignment>,
    /// Edit the plaintext in $EDITOR.
    #[arg(long)]
    edit: bool,
    /// Signing key (needed for signed and encrypted files).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Signing certificate.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The phone's private key (encrypted configs).
    #[arg(long)]
    phone_key: Option<PathBuf>,
    #[command(flatten)]
    password: PasswordArgs,
    /// The phone's trust list: refuse to sign with a certificate it does not hold.
    #[arg(long)]
    trust_list: Option<PathBuf>,
    /// Write even when a phone would reject the result.
    #[arg(long)]
    force: bool,
    /// Output (default: replace FILE, keeping FILE.old).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct PasswordArgs {
    /// The profile password (visible to other users in the process list; prefer
    /// --password-file).
    #[arg(long)]
    password: Option<String>,
    /// A file whose first line is the profile password.
    #[arg(long, conflicts_with = "password")]
    password_file: Option<PathBuf>,
}

impl PasswordArgs {
    fn get(&self) -> Result<Option<Password>, Failure> {
        match (&self.password, &self.password_file) {
            (Some(p), _) => Ok(Some(Password::new(p.as_str()))),
            (None, Some(f)) => Ok(Some(Password::from_file(f)?)),
            (None, None) => Ok(None),
        }
    }
}

fn main() -> ExitCode {
    cli::exit("cnf-repack", run(Cli::parse().command))
}

fn run(command: Command) -> Outcome {
    match command {
        Command::Inspect(a) => inspect(&a),
        Command::Decrypt(a) => {
            let clear = EncryptedConfig::parse(&read(&a.file)?)?
                .decrypt(&PrivateKey::from_pem_file(&a.phone_key)?)?;
            cli::write_private(a.output.as_deref(), &clear.plaintext, "")
        }
        Command::Encrypt(a) => encrypt(&a),
        Command::Profile(a) => profile_cmd(&a),
        Command::Md5 { files } => {
            for f in files {
                out!("{}  {}", md5_hex(&read(&f)?), f.display());
            }
            Ok(())
        }
        Command::Repack(a) => repack(&a),
    }
}

fn inspect(a: &InspectArgs) -> Outcome {
    let report = cnfkit_repack::inspect(&read(&a.file)?)?;
    if a.json {
        let mut value = serde_json::to_value(&report).map_err(Failure::bad)?;
        value["file"] = serde_json::json!(a.file.display().to_string());
        out!("{}", serde_json::to_string_pretty(&value).map_err(Failure::bad)?);
    } else {
        out!("{:<28} {}\n{report}", "file", a.file.display());
    }
    Ok(())
}

fn encrypt(a: &EncryptArgs) -> Outcome {
    let phone = Certificate::from_pem_file(&a.phone_cert)?;
    let (key, cert) = a.signer.load()?;
    let name = file_name(&a.file);
    let sealed = EncryptedConfig::seal_for_phone(
        &read(&a.file)?,
        &name,
        &phone,
        unix_now(),
        a.digest,
        &key,
        &cert,
    )?;
    write_served(&a.file.with_file_name(&sealed.encrypted_name), &sealed.encrypted)?;
    write_served(&a.file.with_file_name(&sealed.stub_name), &sealed.stub)?;
    eprintln!(
        "certHash {} (MD5 of {}); the phone reads the stub, then fetches the .enc.sgn",
        phone.md5_hex(),
        phone.subject()
    );
    Ok(())
}

fn profile_cmd(a: &ProfileArgs) -> Outcome {
    let pw = a.password.get()?.ok_or_else(|| Failure::bad("give --password or --password-file"))?;
    let bytes = read(&a.file)?;
    if a.action == ProfileAction::Decrypt {
        let p = profile::decrypt(&bytes, &pw)?;
        eprintln!(
            "key derivation {}{}",
            p.derivation.name(),
            if p.compression == Compression::Gzip { "; plaintext is gzip" } else { "" }
        );
        cli::write_private(a.output.as_deref(), &p.plaintext, "")
    } else {
        cli::write_private(a.output.as_deref(), &profile::encrypt(&bytes, &pw, a.md, None)?, "")
    }
}

fn repack(a: &RepackArgs) -> Outcome {
    let phone_key = a.phone_key.as_deref().map(PrivateKey::from_pem_file).transpose()?;
    let pw = a.password.get()?;
    let signer = match (&a.key, &a.cert) {
        (Some(k), Some(c)) => Some((PrivateKey::from_pem_file(k)?, Certificate::from_pem_file(c)?)),
        _ => None,
    };
    let trust_list =
        a.trust_list.as_deref().map(|p| TrustList::parse(&read(p)?).map_err(Failure::from));
    let trust_list = trust_list.transpose()?;
    let bytes = read(&a.file)?;
    let mut job =
        Repack::open(&bytes, Secrets { phone_key: phone_key.as_ref(), password: pw.as_ref() })?;
    drop(bytes); // the job holds what it needs: a large file is not kept twice
    eprintln!("{}: {}", a.file.display(), job.format());
    for assignment in &a.set {
        job.apply(assignment)?;
    }
    if a.edit {
        let edited = cli::edit_in_editor(job.plaintext())?;
        job.set_plaintext(edited);
    }
    if matches!(job.format(), Format::Signed | Format::Encrypted) {
        let (_, cert) = signer
            .as_ref()
            .ok_or_else(|| Failure::bad("the file is signed: give --key and --cert"))?;
        if let Err(e) = job.check_signer(cert, trust_list.as_ref()) {
            if !a.force {
                return Err(Failure::Rejected(format!("{e} (--force writes it anyway)")));
            }
            eprintln!("warning: {e}");
        }
    }
    let out = job.finish(signer.as_ref().map(|(k, c)| (k, c)))?;
    write_served(a.output.as_deref().unwrap_or(&a.file), &out)
}
