//! `cnf-sign`: sign, verify and strip Cisco phone files, and build the trust lists
//! (`ITLFile.tlv`, `CTLFile.tlv`) that tell phones whose signatures to accept.
//!
//! ```text
//! cargo run --example cnf-sign -- sign SEP001122334455.cnf.xml --key tftp.pem --cert tftp.pem
//! cargo run --example cnf-sign -- verify SEP001122334455.cnf.xml.sgn --trust-list ITLFile.tlv
//! cargo run --example cnf-sign -- trust-list ITLFile.tlv --key sast.pem --cert sast.pem --record TFTP=tftp.pem
//! ```
//!
//! Files are written atomically; a replaced file is kept as `<name>.old`. Key material is never
//! printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cnfkit_repack::{
    Certificate, Format, HashAlgorithm, Role, SignedFile, Signing, TrustList, Verifier,
    check_whole, detect, sign_or_wrap, signed_name, unix_now, unsigned_name,
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
    name = "cnf-sign",
    version,
    about = "Sign, verify and strip Cisco phone files; build ITL and CTL trust lists",
    after_help = "Exit status: 0 ok, 1 a signature did not verify, 2 bad input or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign a file (a plain file gets a new header; a signed one is signed again).
    Sign(SignArgs),
    /// Verify a signed file, trust list or encrypted config.
    Verify(VerifyArgs),
    /// Remove the signed header: write the payload.
    Strip {
        /// The signed file.
        file: PathBuf,
        /// Output (default: FILE without .sgn / .sha512; `-` for standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Build a trust list (ITLFile.tlv / CTLFile.tlv) signed by a SAST key.
    TrustList(TrustListArgs),
    /// certHash of a certificate: MD5 of its DER, as the encrypted-config stub carries it.
    Certhash {
        /// The certificate (PEM).
        cert: PathBuf,
    },
}

#[derive(Args)]
struct SignArgs {
    /// The file.
    file: PathBuf,
    #[command(flatten)]
    signer: SignerArgs,
    /// Digest (default: the input's, or sha1 for a new header).
    #[arg(long)]
    digest: Option<HashAlgorithm>,
    /// File name written in the header (default: the input's, or the output's name).
    #[arg(long)]
    filename: Option<String>,
    /// Output (default: FILE.sgn for a plain file, FILE itself for a signed one; `-` for
    /// standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Sign even a damaged input (a signature of this key that no longer verifies, XML that
    /// does not parse).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// The file.
    file: PathBuf,
    /// The signer's certificate (PEM).
    #[arg(long, conflicts_with = "trust_list")]
    cert: Option<PathBuf>,
    /// A trust list (ITLFile.tlv / CTLFile.tlv): verify as a phone holding it does.
    #[arg(long)]
    trust_list: Option<PathBuf>,
}

#[derive(Args)]
struct TrustListArgs {
    /// Output file (ITLFile.tlv, CTLFile.tlv, ITLSEP<MAC>.tlv...).
    output: PathBuf,
    /// The SAST signer (its certificate becomes the first record).
    #[command(flatten)]
    signer: SignerArgs,
    /// Further records: ROLE=CERT.pem (roles SAST, CCM, CCM+TFTP, TFTP, CAPF, APP-SERVER, TVS).
    #[arg(long = "record", value_parser = role_and_cert)]
    records: Vec<(Role, PathBuf)>,
    /// File name in the header (default: ITLFile.tlv, or CTLFile.tlv for a CTL output name).
    #[arg(long)]
    filename: Option<String>,
    /// Digest.
    #[arg(long, default_value = "sha1")]
    digest: HashAlgorithm,
}

/// A `--record ROLE=CERT.pem` argument.
fn role_and_cert(arg: &str) -> Result<(Role, PathBuf), String> {
    let (role, pem) = arg.split_once('=').ok_or("expected ROLE=CERT.pem")?;
    Ok((role.parse().map_err(|e: cnfkit_repack::Error| e.to_string())?, PathBuf::from(pem)))
}

fn main() -> ExitCode {
    cli::exit("cnf-sign", run(Cli::parse().command))
}

fn run(command: Command) -> Outcome {
    match command {
        Command::Sign(a) => sign(&a),
        Command::Verify(a) => verify(&a),
        Command::Strip { file, output } => strip(&file, output.as_deref()),
        Command::TrustList(a) => trust_list(&a),
        Command::Certhash { cert } => {
            out!("{}", Certificate::from_pem_file(&cert)?.md5_hex());
            Ok(())
        }
    }
}

fn sign(a: &SignArgs) -> Outcome {
    let (key, cert) = a.signer.load()?;
    let bytes = read(&a.file)?;
    if !a.force {
        check_whole(&bytes, &cert)
            .map_err(|e| Failure::Bad(format!("{e}; --force signs it anyway")))?;
    }
    // A signed file is signed again in place; a plain one becomes FILE.sgn.
    let signed_already =
        matches!(detect(&bytes), Format::Signed | Format::Encrypted | Format::TrustList);
    let default = if signed_already {
        a.file.clone()
    } else {
        a.file.with_file_name(signed_name(&file_name(&a.file)))
    };
    let out = a.output.clone().unwrap_or_else(|| default.clone());
    // The header names the file as phones ask for it; standard output has no name of its own.
    let header_name = file_name(if out.as_os_str() == "-" { &default } else { &out });
    let filename = a.filename.as_deref();
    let signing = Signing { key: &key, cert: &cert, digest: a.digest, filename, now: unix_now() };
    write_served(&out, &sign_or_wrap(&bytes, &header_name, &signing)?)
}

fn verify(a: &VerifyArgs) -> Outcome {
    let bytes = read(&a.file)?;
    let cert = a.cert.as_deref().map(Certificate::from_pem_file).transpose()?;
    let list = a.trust_list.as_deref().map(|p| TrustList::parse(&read(p)?).map_err(Failure::from));
    let list = list.transpose()?;
    let by = match (&cert, &list) {
        (Some(cert), _) => Verifier::Certificate(cert),
        (None, Some(list)) => Verifier::TrustList(list),
        (None, None) if detect(&bytes) == Format::TrustList => Verifier::OwnSast,
        (None, None) => {
            return Err(Failure::bad("give the signer's --cert or the phone's --trust-list"));
        }
    };
    let signer = cnfkit_repack::verify(&bytes, by)?;
    let path = a.file.display();
    match (by, &a.trust_list) {
        (Verifier::TrustList(_), Some(list)) => out!("{path}: {signer} of {}", list.display()),
        (Verifier::OwnSast, _) => out!(
            "{path}: {signer}, its own SAST record (a phone without a trust list accepts it on first contact)"
        ),
        _ => out!("{path}: {signer}"),
    }
    Ok(())
}

fn strip(file: &Path, output: Option<&Path>) -> Outcome {
    let signed = SignedFile::parse(&read(file)?)?;
    let output = match output {
        Some(o) => o.to_path_buf(),
        None => file.with_file_name(
            unsigned_name(&file_name(file))
                .ok_or_else(|| Failure::bad("the name has no .sgn or .sha512 suffix: give -o"))?,
        ),
    };
    write_served(&output, signed.payload())
}

fn trust_list(a: &TrustListArgs) -> Outcome {
    let (key, sast) = a.signer.load()?;
    let mut entries = vec![(Role::SAST, sast.clone())];
    for (role, pem) in &a.records {
        entries.push((*role, Certificate::from_pem_file(pem)?));
    }
    let name = a
        .filename
        .as_deref()
        .unwrap_or_else(|| TrustList::header_filename_for(&file_name(&a.output)));
    let refs: Vec<(Role, &Certificate)> = entries.iter().map(|(r, c)| (*r, c)).collect();
    let mut list = TrustList::new(name, unix_now(), a.digest, &refs);
    list.sign(&key, &sast)?;
    if !entries.iter().any(|(r, _)| r.signs_configs()) {
        eprintln!(
            "note: no TFTP or CCM+TFTP record: phones holding this list accept no signed config"
        );
    }
    write_served(&a.output, &list.to_bytes()?)
}
