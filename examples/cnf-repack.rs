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
    Certificate, EncryptedConfig, Error, Format, HashAlgorithm, PrivateKey, Repack, Role, Secret,
    Secrets, SignedFile, Signing, TrustList, Verifier, detect, hex, md5_hex, sign_or_wrap,
    signed_name, unix_now, unsigned_name,
};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "cnf-repack",
    version,
    about = "Inspect, verify, sign, decrypt, encrypt and repack Cisco phone files",
    after_help = "Exit status: 0 ok, 1 a signature did not verify or a phone would reject the result, 2 bad input or I/O error."
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
        #[arg(long = "record", value_parser = role_and_cert)]
        records: Vec<(Role, PathBuf)>,
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
            Error::MissingSecret(Secret::PhoneKey) => Self::Bad(format!("{e}: give --phone-key")),
            Error::MissingSecret(Secret::Password) => {
                Self::Bad(format!("{e}: give --password or --password-file"))
            }
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
                trust_list: trust_list.as_deref().map(load_trust_list).transpose()?,
                force,
            };
            repack(&file, &opts, output.as_deref())
        }
    }
}

/// A `--record ROLE=CERT.pem` argument.
fn role_and_cert(arg: &str) -> Result<(Role, PathBuf), String> {
    let (role, pem) = arg.split_once('=').ok_or("expected ROLE=CERT.pem")?;
    Ok((role.parse()?, PathBuf::from(pem)))
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Bad(format!("{}: {e}", path.display())))
}

fn load_key(path: &Path) -> Result<PrivateKey, Failure> {
    Ok(PrivateKey::from_pem_file(path)?)
}

fn load_cert(path: &Path) -> Result<Certificate, Failure> {
    Ok(Certificate::from_pem_file(path)?)
}

fn load_trust_list(path: &Path) -> Result<TrustList, Failure> {
    Ok(TrustList::parse(&read(path)?)?)
}

fn password_from(inline: Option<&str>, file: Option<&Path>) -> Result<Option<Password>, Failure> {
    match (inline, file) {
        (Some(p), _) => Ok(Some(Password::new(p))),
        (None, Some(f)) => Ok(Some(Password::from_file(f)?)),
        (None, None) => Ok(None),
    }
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
            // Decrypted configurations and profiles hold passwords: owner only.
            let mut pending =
                cnfkit::fs::PendingFile::create(p, cnfkit::fs::Install::Replace)?.mode(0o600);
            pending.write_all(bytes).map_err(|e| Failure::Bad(format!("{}: {e}", p.display())))?;
            pending.commit()?;
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
    let report = cnfkit_repack::inspect(&read(path)?)?;
    let mut value = serde_json::to_value(&report).map_err(|e| Failure::Bad(e.to_string()))?;
    value["file"] = json!(path.display().to_string());
    if json {
        out!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        Ok(())
    } else {
        print_human(&value)
    }
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

// ---- verify ----

fn verify(path: &Path, cert: Option<&Path>, trust_list: Option<&Path>) -> Outcome {
    let bytes = read(path)?;
    let (cert, list) =
        (cert.map(load_cert).transpose()?, trust_list.map(load_trust_list).transpose()?);
    let by = match (&cert, &list) {
        (Some(cert), _) => Verifier::Certificate(cert),
        (None, Some(list)) => Verifier::TrustList(list),
        (None, None) if detect(&bytes) == Format::TrustList => Verifier::OwnSast,
        (None, None) => {
            return Err(Failure::Bad(
                "give the signer's --cert or the phone's --trust-list".into(),
            ));
        }
    };
    let signer = cnfkit_repack::verify(&bytes, by)?;
    let (path, serial) = (path.display(), hex(&signer.serial));
    match (by, trust_list) {
        (Verifier::TrustList(_), Some(list)) => out!(
            "{path}: valid signature by {} record {} (serial {serial}) of {}",
            signer.role.map_or_else(|| "?".into(), |r| r.to_string()),
            signer.subject,
            list.display()
        ),
        (Verifier::OwnSast, _) => out!(
            "{path}: valid signature by its own SAST record (a phone without a trust list accepts it on first contact)"
        ),
        _ => out!("{path}: valid signature by {} (serial {serial})", signer.subject),
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
    // A signed file is signed again in place; a plain one becomes FILE.sgn.
    let signed_already =
        matches!(detect(&bytes), Format::Signed | Format::Encrypted | Format::TrustList);
    let out = match output {
        Some(o) => o.to_path_buf(),
        None if signed_already => path.to_path_buf(),
        None => path.with_file_name(signed_name(&file_name(path))),
    };
    let signing = Signing { key: &key, cert: &cert, digest, filename, now: unix_now() };
    write_out(&out, &sign_or_wrap(&bytes, &file_name(&out), &signing)?)
}

fn strip(path: &Path, output: Option<&Path>) -> Outcome {
    let file = SignedFile::parse(&read(path)?)?;
    let out = match output {
        Some(o) => o.to_path_buf(),
        None => path.with_file_name(unsigned_name(&file_name(path)).ok_or_else(|| {
            Failure::Bad("the name has no .sgn or .sha512 suffix: give -o".into())
        })?),
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
    let sealed = EncryptedConfig::seal_for_phone(
        &plain,
        &file_name(path),
        &phone,
        unix_now(),
        digest,
        &key,
        &cert,
    )?;
    write_out(&path.with_file_name(&sealed.encrypted_name), &sealed.encrypted)?;
    write_out(&path.with_file_name(&sealed.stub_name), &sealed.stub)?;
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
    records: &[(Role, PathBuf)],
    filename: Option<&str>,
    digest: HashAlgorithm,
) -> Outcome {
    let (key, sast) = (load_key(&signer.key)?, load_cert(&signer.cert)?);
    let mut entries = vec![(Role::SAST, sast.clone())];
    for (role, pem) in records {
        entries.push((*role, load_cert(pem)?));
    }
    let name = filename.unwrap_or_else(|| TrustList::header_filename_for(&file_name(output)));
    let refs: Vec<(Role, &Certificate)> = entries.iter().map(|(r, c)| (*r, c)).collect();
    let mut tl = TrustList::new(name, unix_now(), digest, &refs);
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
