//! `cnf-repack`: inspect, verify, sign, decrypt, encrypt and repack Cisco phone files.
//!
//! ```text
//! cargo run --example cnf-repack -- inspect SEP001122334455.cnf.xml.enc.sgn [--json]
//! cargo run --example cnf-repack -- verify FILE --cert PEM | --trust-list ITLFile.tlv
//! cargo run --example cnf-repack -- sign FILE --key PEM --cert PEM [--digest sha1|sha256|sha512] [-o OUT]
//! cargo run --example cnf-repack -- strip FILE [-o OUT]
//! cargo run --example cnf-repack -- decrypt FILE --phone-key PEM [-o OUT]
//! cargo run --example cnf-repack -- encrypt FILE --phone-cert PEM --key PEM --cert PEM
//! cargo run --example cnf-repack -- profile encrypt|decrypt FILE --password P [--md md5|sha256] [-o OUT]
//! cargo run --example cnf-repack -- trust-list ITLFile.tlv --key SAST.pem --cert SAST.pem --record TFTP=tftp.pem
//! cargo run --example cnf-repack -- md5 FILE...
//! cargo run --example cnf-repack -- certhash PEM
//! cargo run --example cnf-repack -- repack FILE [--set FIELD=VALUE]... [--edit] --key PEM --cert PEM [--phone-key PEM]
//! ```
//!
//! Exit status: 0 success, 1 verification failed (or a phone would reject the result),
//! 2 bad input. Files are written atomically; a replaced file is kept as `<name>.old`.
//! Key material is never printed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cnfkit_config::Assignment;
use cnfkit_repack::profile::{self, Compression, KeyDerivation, Password};
use cnfkit_repack::{
    Certificate, EncryptedConfig, Error, Format, HashAlgorithm, HeaderKind, PrivateKey, Repack,
    Role, Secrets, SignedFile, TrustList, companion_stub, detect, hex, md5_hex, tlv,
};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "cnf-repack",
    version,
    about = "Inspect, verify, sign, decrypt, encrypt and repack Cisco phone files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what a file is: header fields, signer, encryption, records, MD5.
    Inspect {
        /// The file (format told from its bytes).
        file: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Verify a signed file, trust list or encrypted config.
    Verify {
        /// The file.
        file: PathBuf,
        /// The signer's certificate (PEM).
        #[arg(long, conflicts_with = "trust_list")]
        cert: Option<PathBuf>,
        /// A trust list (ITLFile.tlv / CTLFile.tlv): verify as a phone holding it does.
        #[arg(long)]
        trust_list: Option<PathBuf>,
    },
    /// Sign a file (a plain file gets a new header; a signed one is signed again).
    Sign {
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
        /// Output (default: FILE.sgn for a plain file, FILE itself for a signed one).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Remove the signed header: write the payload.
    Strip {
        /// The signed file.
        file: PathBuf,
        /// Output (default: FILE without .sgn / .sha512).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Decrypt an encrypted config (.enc.sgn) with the phone's private key.
    Decrypt {
        /// The encrypted config.
        file: PathBuf,
        /// The phone's private key (PEM).
        #[arg(long)]
        phone_key: PathBuf,
        /// Output (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Encrypt a config for a phone: writes FILE.enc.sgn and the signed stub FILE.sgn.
    Encrypt {
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
    },
    /// OpenSSL `enc` profiles of multiplatform phones.
    Profile {
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
    },
    /// MD5 of files, as md5sum prints it.
    Md5 {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// certHash of a certificate: MD5 of its DER, as the encrypted-config stub carries it.
    Certhash {
        /// The certificate (PEM).
        cert: PathBuf,
    },
    /// Build a trust list (ITLFile.tlv / CTLFile.tlv) signed by a SAST key.
    TrustList {
        /// Output file (ITLFile.tlv, CTLFile.tlv, ITLSEP<MAC>.tlv...).
        output: PathBuf,
        /// The SAST signer (its certificate becomes the first record).
        #[command(flatten)]
        signer: SignerArgs,
        /// Further records: ROLE=CERT.pem (roles SAST, CCM, CCM+TFTP, TFTP, CAPF, APP-SERVER, TVS).
        #[arg(long = "record")]
        records: Vec<String>,
        /// File name in the header (default: ITLFile.tlv, or CTLFile.tlv for a CTL output name).
        #[arg(long)]
        filename: Option<String>,
        /// Digest.
        #[arg(long, default_value = "sha1")]
        digest: HashAlgorithm,
    },
    /// Open, decrypt, edit, re-encrypt with the same key, re-sign, write (keeps FILE.old).
    Repack {
        /// The served file (.sgn, .enc.sgn, profile or plain).
        file: PathBuf,
        /// FIELD=VALUE on cnf.xml element paths (`loadInformation`, `vendorConfig/webAccess`,
        /// `path@attr` for attributes); repeatable.
        #[arg(long = "set")]
        set: Vec<Assignment>,
        /// Edit the plaintext in $EDITOR.
        #[arg(long)]
        edit: bool,
        /// Signing key and certificate (needed for signed and encrypted files).
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Signing certificate.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// The phone's private key (encrypted configs).
        #[arg(long)]
        phone_key: Option<PathBuf>,
        #[command(flatten)]
        password: OptionalPassword,
        /// The phone's trust list: refuse to sign with a certificate it does not hold.
        #[arg(long)]
        trust_list: Option<PathBuf>,
        /// Write even when a phone would reject the result.
        #[arg(long)]
        force: bool,
        /// Output (default: replace FILE, keeping FILE.old).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
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
struct SignerArgs {
    /// Signing private key (PEM, PKCS#1 or PKCS#8).
    #[arg(long)]
    key: PathBuf,
    /// Signing certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
}

#[derive(Args)]
struct PasswordArgs {
    /// The password (visible to other users in the process list; prefer --password-file).
    #[arg(long, required_unless_present = "password_file")]
    password: Option<String>,
    /// A file whose first line is the password.
    #[arg(long)]
    password_file: Option<PathBuf>,
}

#[derive(Args)]
struct OptionalPassword {
    /// Profile password.
    #[arg(long)]
    password: Option<String>,
    /// A file whose first line is the profile password.
    #[arg(long)]
    password_file: Option<PathBuf>,
}

/// A failure and its exit status.
enum Failure {
    /// Exit 1: verification failed, or the result would be rejected.
    Rejected(String),
    /// Exit 2: bad input.
    Bad(String),
}

impl From<cnfkit::fs::Error> for Failure {
    fn from(e: cnfkit::fs::Error) -> Self {
        Self::Bad(e.to_string())
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::BadSignature { .. } | Error::Untrusted(_) => Self::Rejected(e.to_string()),
            e => Self::Bad(e.to_string()),
        }
    }
}

type Outcome = Result<(), Failure>;

/// `println!` that reports a closed or full standard output as bad input (exit 2), not a panic.
macro_rules! out {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*)
            .map_err(|e| Failure::Bad(format!("standard output: {e}")))?
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected(m)) => {
            eprintln!("cnf-repack: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Bad(m)) => {
            eprintln!("cnf-repack: {m}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Outcome {
    match command {
        Command::Inspect { file, json } => inspect(&file, json),
        Command::Verify { file, cert, trust_list } => {
            verify(&file, cert.as_deref(), trust_list.as_deref())
        }
        Command::Sign { file, signer, digest, filename, output } => {
            sign(&file, &signer, digest, filename.as_deref(), output.as_deref())
        }
        Command::Strip { file, output } => strip(&file, output.as_deref()),
        Command::Decrypt { file, phone_key, output } => {
            decrypt(&file, &phone_key, output.as_deref())
        }
        Command::Encrypt { file, phone_cert, signer, digest } => {
            encrypt(&file, &phone_cert, &signer, digest)
        }
        Command::Profile { action, file, password, md, output } => {
            let pw =
                password_from(password.password.as_deref(), password.password_file.as_deref())?
                    .ok_or_else(|| Failure::Bad("a password is required".into()))?;
            profile_cmd(action, &file, &pw, md, output.as_deref())
        }
        Command::Md5 { files } => {
            for f in files {
                out!("{}  {}", md5_hex(&read(&f)?), f.display());
            }
            Ok(())
        }
        Command::Certhash { cert } => {
            out!("{}", load_cert(&cert)?.md5_hex());
            Ok(())
        }
        Command::TrustList { output, signer, records, filename, digest } => {
            trust_list(&output, &signer, &records, filename.as_deref(), digest)
        }
        Command::Repack {
            file,
            set,
            edit,
            key,
            cert,
            phone_key,
            password,
            trust_list,
            force,
            output,
        } => {
            let pw =
                password_from(password.password.as_deref(), password.password_file.as_deref())?;
            let opts = RepackOptions {
                set: &set,
                editor: edit.then(|| std::env::var("EDITOR").unwrap_or_else(|_| "vi".into())),
                signer: match (key, cert) {
                    (Some(k), Some(c)) => Some((load_key(&k)?, load_cert(&c)?)),
                    _ => None,
                },
                phone_key: phone_key.as_deref().map(load_key).transpose()?,
                password: pw,
                trust_list: trust_list
                    .as_deref()
                    .map(|p| TrustList::parse(&read(p)?).map_err(Failure::from))
                    .transpose()?,
                force,
            };
            repack(&file, &opts, output.as_deref())
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Bad(format!("{}: {e}", path.display())))
}

fn read_text(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read(path)?)
        .map_err(|_| Failure::Bad(format!("{}: not a PEM text file", path.display())))
}

fn load_key(path: &Path) -> Result<PrivateKey, Failure> {
    PrivateKey::from_pem(&read_text(path)?)
        .map_err(|e| Failure::Bad(format!("{}: {e}", path.display())))
}

fn load_cert(path: &Path) -> Result<Certificate, Failure> {
    Certificate::from_pem(&read_text(path)?)
        .map_err(|e| Failure::Bad(format!("{}: {e}", path.display())))
}

fn password_from(inline: Option<&str>, file: Option<&Path>) -> Result<Option<Password>, Failure> {
    if let Some(p) = inline {
        return Ok(Some(Password::new(p)));
    }
    let Some(f) = file else { return Ok(None) };
    let text = zeroize::Zeroizing::new(read(f)?);
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(Some(Password::new(line.strip_suffix(b"\r").unwrap_or(line))))
}

fn write_out(path: &Path, bytes: &[u8]) -> Outcome {
    let r = cnfkit::fs::write(path, bytes, cnfkit::fs::Install::KeepOld)?;
    match r.backup {
        Some(b) => eprintln!(
            "wrote {} ({} bytes, md5 {}), previous kept as {}",
            path.display(),
            bytes.len(),
            md5_hex(bytes),
            b.display()
        ),
        None => {
            eprintln!("wrote {} ({} bytes, md5 {})", path.display(), bytes.len(), md5_hex(bytes));
        }
    }
    Ok(())
}

fn write_or_stdout(output: Option<&Path>, bytes: &[u8]) -> Outcome {
    match output {
        Some(p) => {
            cnfkit::fs::write(p, bytes, cnfkit::fs::Install::Replace)?;
            eprintln!("wrote {} ({} bytes, md5 {})", p.display(), bytes.len(), md5_hex(bytes));
            Ok(())
        }
        None => {
            std::io::stdout().write_all(bytes).map_err(|e| Failure::Bad(format!("stdout: {e}")))
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

// ---- inspect ----

fn inspect(path: &Path, json: bool) -> Outcome {
    let bytes = read(path)?;
    let format = detect(&bytes);
    let mut report = json!({
        "file": path.display().to_string(),
        "format": format.to_string(),
        "size": bytes.len(),
        "md5": md5_hex(&bytes),
    });
    let mut notes: Vec<String> = Vec::new();
    match format {
        Format::Signed | Format::Encrypted | Format::SignedOther(..) => {
            let file = SignedFile::parse(&bytes)?;
            report["header"] = header_json(&file, &mut notes);
            if format == Format::Encrypted {
                let enc = EncryptedConfig::from_signed(file)?;
                report["encryption"] = json!({
                    "cipher": "AES-128-CBC",
                    "iv": enc.iv().map(|iv| hex(&iv)).ok(),
                    "padding": enc.padding().ok(),
                    "wrapped_key_bytes": enc.wrapped_key().map(<[u8]>::len).ok(),
                    "plaintext_digest": enc.plaintext_digest().map(|(c, d)| json!({"code": c, "value": hex(d)})),
                });
            } else {
                let payload = SignedFile::parse(&bytes)?.into_payload();
                report["payload"] = payload_json(&payload);
            }
        }
        Format::TrustList => {
            let tl = TrustList::parse(&bytes)?;
            report["header"] = header_json(tl.header(), &mut notes);
            report["signer_version"] = json!(tl.signer_version().map(|(a, b)| format!("{a}.{b}")));
            report["records"] = tl
                .records()
                .iter()
                .map(|r| {
                    json!({
                        "role": r.role().map(|x| x.to_string()),
                        "subject": r.subject(),
                        "issuer": r.issuer(),
                        "serial": hex(r.serial()),
                        "rsa_bits": r.public_key().map(|k| k.bits()),
                        "certificate": r.certificate().is_some(),
                    })
                })
                .collect();
            report["self_signature"] = json!(match tl.verify() {
                Ok(()) => "valid (SAST record)".to_owned(),
                Err(e) => e.to_string(),
            });
        }
        Format::Profile => {
            report["profile"] = json!({ "cipher": "AES-256-CBC", "salt": hex(&bytes[8..16]) });
            notes.push("the contents need the password: cnf-repack profile decrypt".into());
        }
        Format::Gzip => notes.push("gzip data: gunzip to read it".into()),
        _ => report["payload"] = payload_json(&bytes),
    }
    report["notes"] = json!(notes);
    if json {
        out!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        Ok(())
    } else {
        print_human(&report)
    }
}

fn header_json(file: &SignedFile, notes: &mut Vec<String>) -> serde_json::Value {
    let (maj, min) = file.version();
    let signer = file.signer();
    if let Some(4) = file.digest_code() {
        notes.push("digest code 4 read as SHA-512 (old certutils numbering); phones use 3".into());
    }
    json!({
        "version": format!("{maj}.{min}"),
        "kind": format!("{:?}", file.kind()),
        "header_length": file.header_length(),
        "signer": signer.name,
        "issuer": signer.issuer,
        "serial": hex(&signer.serial),
        "digest": file.hash_algorithm().map(|a| a.name().to_owned()).unwrap_or_else(|e| e.to_string()),
        "digest_code": file.digest_code(),
        "modulus_bits": file.modulus_index().map(|m| 512u32 << m.min(3)),
        "signature_bytes": file.signature().map(<[u8]>::len),
        "filename": file.filename(),
        "timestamp": file.timestamp(),
        "timestamp_utc": file.timestamp().map(utc),
        "elements": element_outline(file.elements()),
        "payload_bytes": file.payload().len(),
    })
}

fn payload_json(payload: &[u8]) -> serde_json::Value {
    let parsed = cnfkit_config::CnfDocument::parse(payload);
    json!({
        "bytes": payload.len(),
        "md5": md5_hex(payload),
        "cnf_xml": match &parsed {
            Ok(doc) => json!({"root": doc.root().name(), "load": doc.find("loadInformation").map(|e| e.text())}),
            Err(e) => json!(format!("not cnf.xml: {e}")),
        },
    })
}

fn element_outline(elements: &[tlv::Tlv]) -> String {
    elements
        .iter()
        .map(|e| match &e.body {
            tlv::Body::Children(c) => format!("{:02x}{{{}}}", e.tag, element_outline(c)),
            _ => format!("{:02x}", e.tag),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_human(v: &serde_json::Value) -> Outcome {
    fn walk(prefix: &str, v: &serde_json::Value) -> Outcome {
        match v {
            serde_json::Value::Object(map) => {
                for (k, x) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, x)?;
                }
            }
            serde_json::Value::Array(items) if items.iter().any(serde_json::Value::is_object) => {
                for (i, x) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), x)?;
                }
            }
            serde_json::Value::Array(items) => {
                for x in items {
                    out!(
                        "{prefix:<28} {}",
                        x.as_str().map_or_else(|| x.to_string(), str::to_owned)
                    );
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => out!("{prefix:<28} {s}"),
            x => out!("{prefix:<28} {x}"),
        }
        Ok(())
    }
    walk("", v)
}

/// RFC 3339 UTC (`2026-12-02T13:23:52Z`) for Unix seconds.
fn utc(t: u32) -> String {
    time::OffsetDateTime::from_unix_timestamp(i64::from(t))
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

// ---- verify ----

fn verify(path: &Path, cert: Option<&Path>, trust_list: Option<&Path>) -> Outcome {
    let bytes = read(path)?;
    let file = SignedFile::parse(&bytes)?;
    match (cert, trust_list) {
        (Some(c), _) => {
            let cert = load_cert(c)?;
            file.verify_with(&cert)?;
            out!(
                "{}: valid signature by {} (serial {})",
                path.display(),
                cert.subject(),
                hex(cert.serial())
            );
        }
        (None, Some(t)) => {
            let tl = TrustList::parse(&read(t)?)?;
            let record = tl.verify_file(&file)?;
            out!(
                "{}: valid signature by {} record {} (serial {}) of {}",
                path.display(),
                record.role().map_or_else(|| "?".into(), |r| r.to_string()),
                record.subject(),
                hex(record.serial()),
                t.display()
            );
        }
        (None, None) if file.kind() == HeaderKind::TrustList => {
            TrustList::parse(&bytes)?.verify()?;
            out!(
                "{}: valid signature by its own SAST record (a phone without a trust list accepts it on first contact)",
                path.display()
            );
        }
        (None, None) => {
            return Err(Failure::Bad(
                "give the signer's --cert or the phone's --trust-list".into(),
            ));
        }
    }
    Ok(())
}

// ---- sign / strip ----

fn sign(
    path: &Path,
    signer: &SignerArgs,
    digest: Option<HashAlgorithm>,
    filename: Option<&str>,
    output: Option<&Path>,
) -> Outcome {
    let (key, cert) = (load_key(&signer.key)?, load_cert(&signer.cert)?);
    let bytes = read(path)?;
    let (mut file, out) = match detect(&bytes) {
        Format::Signed | Format::Encrypted | Format::TrustList => (
            SignedFile::parse(&bytes)?,
            output.map_or_else(|| path.to_path_buf(), Path::to_path_buf),
        ),
        Format::SignedOther(a, b) => {
            return Err(Failure::Bad(format!("unknown header version {a}.{b}")));
        }
        _ => {
            let out = output.map_or_else(
                || PathBuf::from(format!("{}.sgn", path.display())),
                Path::to_path_buf,
            );
            let name = file_name(&out);
            (
                SignedFile::new(
                    HeaderKind::Signed,
                    &name,
                    now(),
                    digest.unwrap_or(HashAlgorithm::Sha1),
                    bytes,
                ),
                out,
            )
        }
    };
    if let Some(d) = digest {
        file.set_hash_algorithm(d);
    }
    if let Some(n) = filename {
        file.set_filename(n);
    }
    file.set_timestamp(now());
    file.sign(&key, &cert)?;
    write_out(&out, &file.to_bytes()?)
}

fn strip(path: &Path, output: Option<&Path>) -> Outcome {
    let file = SignedFile::parse(&read(path)?)?;
    let out = match output {
        Some(o) => o.to_path_buf(),
        None => {
            let name = file_name(path);
            let stem =
                name.strip_suffix(".sgn").or_else(|| name.strip_suffix(".sha512")).ok_or_else(
                    || Failure::Bad("the name has no .sgn or .sha512 suffix: give -o".into()),
                )?;
            path.with_file_name(stem)
        }
    };
    write_out(&out, file.payload())
}

// ---- encrypted configs ----

fn decrypt(path: &Path, phone_key: &Path, output: Option<&Path>) -> Outcome {
    let enc = EncryptedConfig::parse(&read(path)?)?;
    let clear = enc.decrypt(&load_key(phone_key)?)?;
    write_or_stdout(output, &clear.plaintext)
}

fn encrypt(path: &Path, phone_cert: &Path, signer: &SignerArgs, digest: HashAlgorithm) -> Outcome {
    let plain = read(path)?;
    let phone = load_cert(phone_cert)?;
    let (key, cert) = (load_key(&signer.key)?, load_cert(&signer.cert)?);
    let enc_path = PathBuf::from(format!("{}.enc.sgn", path.display()));
    let stub_path = PathBuf::from(format!("{}.sgn", path.display()));
    let (mut enc, _) =
        EncryptedConfig::encrypt(&plain, &phone, &file_name(&enc_path), now(), digest)?;
    enc.file_mut().sign(&key, &cert)?;
    let mut stub = SignedFile::new(
        HeaderKind::Signed,
        &file_name(&stub_path),
        now(),
        digest,
        companion_stub(&plain, &phone)?,
    );
    stub.sign(&key, &cert)?;
    write_out(&enc_path, &enc.file().to_bytes()?)?;
    write_out(&stub_path, &stub.to_bytes()?)?;
    eprintln!(
        "certHash {} (MD5 of {}); the phone reads the stub, then fetches the .enc.sgn",
        phone.md5_hex(),
        phone.subject()
    );
    Ok(())
}

// ---- profiles ----

fn profile_cmd(
    action: ProfileAction,
    path: &Path,
    pw: &Password,
    md: KeyDerivation,
    output: Option<&Path>,
) -> Outcome {
    let bytes = read(path)?;
    if action == ProfileAction::Decrypt {
        let p = profile::decrypt(&bytes, pw)?;
        eprintln!(
            "key derivation {}{}",
            p.derivation.name(),
            if p.compression == Compression::Gzip { "; plaintext is gzip" } else { "" }
        );
        write_or_stdout(output, &p.plaintext)
    } else {
        write_or_stdout(output, &profile::encrypt(&bytes, pw, md, None)?)
    }
}

// ---- trust lists ----

fn trust_list(
    output: &Path,
    signer: &SignerArgs,
    records: &[String],
    filename: Option<&str>,
    digest: HashAlgorithm,
) -> Outcome {
    let (key, sast) = (load_key(&signer.key)?, load_cert(&signer.cert)?);
    let mut entries = vec![(Role::SAST, sast.clone())];
    for r in records {
        let (role, pem) = r
            .split_once('=')
            .ok_or_else(|| Failure::Bad(format!("--record {r}: expected ROLE=CERT.pem")))?;
        let role: Role = role.parse().map_err(Failure::Bad)?;
        entries.push((role, load_cert(Path::new(pem))?));
    }
    let name = filename.map_or_else(
        || {
            if file_name(output).to_ascii_uppercase().starts_with("CTL") {
                "CTLFile.tlv".to_owned()
            } else {
                "ITLFile.tlv".to_owned()
            }
        },
        str::to_owned,
    );
    let refs: Vec<(Role, &Certificate)> = entries.iter().map(|(r, c)| (*r, c)).collect();
    let mut tl = TrustList::new(&name, now(), digest, &refs);
    tl.sign(&key, &sast)?;
    if !entries.iter().any(|(r, _)| r.signs_configs()) {
        eprintln!(
            "note: no TFTP or CCM+TFTP record: phones holding this list accept no signed config"
        );
    }
    write_out(output, &tl.to_bytes()?)
}

// ---- repack ----

struct RepackOptions<'a> {
    set: &'a [Assignment],
    /// The editor command when `--edit` was given.
    editor: Option<String>,
    signer: Option<(PrivateKey, Certificate)>,
    phone_key: Option<PrivateKey>,
    password: Option<Password>,
    trust_list: Option<TrustList>,
    force: bool,
}

fn repack(path: &Path, o: &RepackOptions<'_>, output: Option<&Path>) -> Outcome {
    let bytes = read(path)?;
    let mut job = Repack::open(
        &bytes,
        Secrets { phone_key: o.phone_key.as_ref(), password: o.password.as_ref() },
    )?;
    eprintln!("{}: {}", path.display(), job.format());
    for assignment in o.set {
        job.apply(assignment)?;
    }
    if let Some(editor) = &o.editor {
        let edited = edit_in_editor(editor, job.plaintext())?;
        job.set_plaintext(edited);
    }
    if matches!(job.format(), Format::Signed | Format::Encrypted) {
        let (_, cert) = o
            .signer
            .as_ref()
            .ok_or_else(|| Failure::Bad("the file is signed: give --key and --cert".into()))?;
        if let Err(e) = job.check_signer(cert, o.trust_list.as_ref()) {
            if !o.force {
                return Err(Failure::Rejected(format!("{e} (--force writes it anyway)")));
            }
            eprintln!("warning: {e}");
        }
    }
    let out = job.finish(o.signer.as_ref().map(|(k, c)| (k, c)))?;
    write_out(output.unwrap_or(path), &out)
}

/// Opens the plaintext in `editor` (`$EDITOR`, default `vi`) in a private temporary
/// directory, which is removed afterwards.
fn edit_in_editor(editor: &str, plain: &[u8]) -> Result<Vec<u8>, Failure> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let dir = std::env::temp_dir().join(format!("cnf-repack-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Failure::Bad(format!("{}: {e}", dir.display())))?;
    let file = dir.join("config.xml");
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(|e| Failure::Bad(format!("{}: {e}", file.display())))?;
        f.write_all(plain).map_err(|e| Failure::Bad(e.to_string()))?;
        drop(f);
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&file)
            .status()
            .map_err(|e| Failure::Bad(format!("cannot run {editor}: {e}")))?;
        if !status.success() {
            return Err(Failure::Bad(format!("{editor} exited with {status}; nothing written")));
        }
        std::fs::read(&file).map_err(|e| Failure::Bad(e.to_string()))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/repack/tests/data").join(name)
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cnf-repack-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn copy(name: &str, dir: &Path) -> PathBuf {
        let to = dir.join(name);
        std::fs::copy(data(name), &to).unwrap();
        to
    }

    fn tftp() -> SignerArgs {
        SignerArgs { key: data("test-tftp.pem"), cert: data("test-tftp.pem") }
    }

    fn exit_code(r: Outcome) -> u8 {
        match r {
            Ok(()) => 0,
            Err(Failure::Rejected(_)) => 1,
            Err(Failure::Bad(_)) => 2,
        }
    }

    #[test]
    fn exit_status_is_0_valid_1_rejected_2_bad_input() {
        let sgn = data("SEP001122334455.cnf.xml.sgn");
        assert_eq!(exit_code(verify(&sgn, Some(&data("test-tftp.pem")), None)), 0);
        assert_eq!(exit_code(verify(&sgn, Some(&data("test-sast.pem")), None)), 1);
        assert_eq!(exit_code(verify(&sgn, None, Some(&data("ITLFile.tlv")))), 0);
        assert_eq!(
            exit_code(verify(&data("SEP001122334455.cnf.xml"), Some(&data("test-tftp.pem")), None)),
            2
        );
        assert_eq!(exit_code(verify(&data("ITLFile.tlv"), None, None)), 0);
        assert_eq!(exit_code(verify(&data("no-such-file"), None, None)), 2);
    }

    #[test]
    fn inspect_reads_every_sample_in_text_and_json() {
        for name in [
            "SEP001122334455.cnf.xml",
            "SEP001122334455.cnf.xml.sgn",
            "SEP001122334455.cnf.xml.sha512.sgn",
            "SEP001122334455.cnf.xml.enc.sgn",
            "ITLFile.tlv",
            "tv1_md5.cfg",
        ] {
            for json in [false, true] {
                assert_eq!(exit_code(inspect(&data(name), json)), 0, "{name}");
            }
        }
    }

    #[test]
    fn sign_wraps_a_plain_file_as_file_sgn_with_its_served_name() {
        let dir = scratch("sign");
        let plain = copy("SEP001122334455.cnf.xml", &dir);
        sign(&plain, &tftp(), None, None, None).map_err(|_| "sign").unwrap();
        let out =
            SignedFile::parse(&std::fs::read(dir.join("SEP001122334455.cnf.xml.sgn")).unwrap())
                .unwrap();
        assert_eq!(out.filename().as_deref(), Some("SEP001122334455.cnf.xml.sgn"));
        assert_eq!(out.payload(), std::fs::read(&plain).unwrap());
        out.verify_with(&load_cert(&data("test-tftp.pem")).map_err(|_| "cert").unwrap()).unwrap();
        // Strip gives the plain file back.
        std::fs::remove_file(&plain).unwrap();
        strip(&dir.join("SEP001122334455.cnf.xml.sgn"), None).map_err(|_| "strip").unwrap();
        assert_eq!(
            std::fs::read(&plain).unwrap(),
            std::fs::read(data("SEP001122334455.cnf.xml")).unwrap()
        );
    }

    #[test]
    fn repack_of_an_encrypted_config_keeps_the_original_as_old_and_decrypts_to_the_edit() {
        let dir = scratch("repack");
        let f = copy("SEP001122334455.cnf.xml.enc.sgn", &dir);
        let opts = RepackOptions {
            set: &["deviceProtocol=SCCP".parse().unwrap()],
            editor: None,
            signer: Some((
                load_key(&data("test-tftp.pem")).map_err(|_| "k").unwrap(),
                load_cert(&data("test-tftp.pem")).map_err(|_| "c").unwrap(),
            )),
            phone_key: Some(load_key(&data("test-phone.pem")).map_err(|_| "p").unwrap()),
            password: None,
            trust_list: Some(
                TrustList::parse(&std::fs::read(data("ITLFile.tlv")).unwrap()).unwrap(),
            ),
            force: false,
        };
        assert_eq!(exit_code(repack(&f, &opts, None)), 0);
        assert_eq!(
            std::fs::read(dir.join("SEP001122334455.cnf.xml.enc.sgn.old")).unwrap(),
            std::fs::read(data("SEP001122334455.cnf.xml.enc.sgn")).unwrap()
        );
        let enc = EncryptedConfig::parse(&std::fs::read(&f).unwrap()).unwrap();
        let plain = enc.decrypt(opts.phone_key.as_ref().unwrap()).unwrap().plaintext;
        assert!(String::from_utf8_lossy(&plain).contains("<deviceProtocol>SCCP</deviceProtocol>"));
    }

    #[test]
    fn repack_refuses_a_signer_the_phones_trust_list_does_not_hold_and_writes_nothing() {
        let dir = scratch("untrusted");
        let f = copy("SEP001122334455.cnf.xml.sgn", &dir);
        let opts = RepackOptions {
            set: &["fullConfig=false".parse().unwrap()],
            editor: None,
            signer: Some((
                load_key(&data("test-sast.pem")).map_err(|_| "k").unwrap(),
                load_cert(&data("test-sast.pem")).map_err(|_| "c").unwrap(),
            )),
            phone_key: None,
            password: None,
            trust_list: Some(
                TrustList::parse(&std::fs::read(data("ITLFile.tlv")).unwrap()).unwrap(),
            ),
            force: false,
        };
        assert_eq!(exit_code(repack(&f, &opts, None)), 1);
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(data("SEP001122334455.cnf.xml.sgn")).unwrap()
        );
        assert!(!dir.join("SEP001122334455.cnf.xml.sgn.old").exists());
        let forced = RepackOptions { force: true, ..opts };
        assert_eq!(exit_code(repack(&f, &forced, None)), 0);
    }

    #[test]
    fn repack_edit_runs_the_editor_on_the_plaintext() {
        let dir = scratch("editor");
        let f = copy("SEP001122334455.cnf.xml.sgn", &dir);
        let opts = RepackOptions {
            set: &[],
            editor: Some("sed -i s/SIP/SCCP/".into()),
            signer: Some((
                load_key(&data("test-tftp.pem")).map_err(|_| "k").unwrap(),
                load_cert(&data("test-tftp.pem")).map_err(|_| "c").unwrap(),
            )),
            phone_key: None,
            password: None,
            trust_list: None,
            force: false,
        };
        assert_eq!(exit_code(repack(&f, &opts, None)), 0);
        let out = SignedFile::parse(&std::fs::read(&f).unwrap()).unwrap();
        assert!(
            String::from_utf8_lossy(out.payload())
                .contains("<deviceProtocol>SCCP</deviceProtocol>")
        );
    }

    #[test]
    fn encrypt_writes_the_enc_sgn_and_a_signed_stub_with_the_cert_hash() {
        let dir = scratch("encrypt");
        let plain = copy("SEP001122334455.cnf.xml", &dir);
        encrypt(&plain, &data("test-phone.pem"), &tftp(), HashAlgorithm::Sha1)
            .map_err(|_| "encrypt")
            .unwrap();
        let phone_key = load_key(&data("test-phone.pem")).map_err(|_| "k").unwrap();
        let enc = EncryptedConfig::parse(
            &std::fs::read(dir.join("SEP001122334455.cnf.xml.enc.sgn")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            &enc.decrypt(&phone_key).unwrap().plaintext[..],
            std::fs::read(&plain).unwrap().as_slice()
        );
        let stub =
            SignedFile::parse(&std::fs::read(dir.join("SEP001122334455.cnf.xml.sgn")).unwrap())
                .unwrap();
        let phone = load_cert(&data("test-phone.pem")).map_err(|_| "c").unwrap();
        assert!(
            String::from_utf8_lossy(stub.payload())
                .contains(&format!("<certHash>{}</certHash>", phone.md5_hex()))
        );
    }

    #[test]
    fn profile_encrypt_then_decrypt_gives_the_file_back() {
        let dir = scratch("profile");
        let src = dir.join("p.xml");
        std::fs::write(&src, b"<flat-profile><A>1</A></flat-profile>\n").unwrap();
        let pw = Password::new("pw");
        profile_cmd(
            ProfileAction::Encrypt,
            &src,
            &pw,
            KeyDerivation::Md5,
            Some(&dir.join("p.cfg")),
        )
        .map_err(|_| "enc")
        .unwrap();
        profile_cmd(
            ProfileAction::Decrypt,
            &dir.join("p.cfg"),
            &pw,
            KeyDerivation::Md5,
            Some(&dir.join("back.xml")),
        )
        .map_err(|_| "dec")
        .unwrap();
        assert_eq!(std::fs::read(dir.join("back.xml")).unwrap(), std::fs::read(&src).unwrap());
        assert_eq!(
            exit_code(profile_cmd(
                ProfileAction::Decrypt,
                &dir.join("p.cfg"),
                &Password::new("nope"),
                KeyDerivation::Md5,
                None
            )),
            2
        );
    }

    #[test]
    fn a_trust_list_built_here_verifies_and_vouches_for_its_tftp_record() {
        let dir = scratch("itl");
        let out = dir.join("ITLFile.tlv");
        let sast = SignerArgs { key: data("test-sast.pem"), cert: data("test-sast.pem") };
        let record = format!("TFTP={}", data("test-tftp.pem").display());
        assert_eq!(exit_code(trust_list(&out, &sast, &[record], None, HashAlgorithm::Sha1)), 0);
        assert_eq!(exit_code(verify(&out, None, None)), 0);
        assert_eq!(exit_code(verify(&data("SEP001122334455.cnf.xml.sgn"), None, Some(&out))), 0);
        assert_eq!(
            exit_code(trust_list(&out, &sast, &["NOPE=x.pem".into()], None, HashAlgorithm::Sha1)),
            2
        );
    }

    #[test]
    fn utc_formats_unix_seconds() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
