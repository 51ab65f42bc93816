//! TLS for the HTTPS listener (6971), through rustls with the ring provider: no OpenSSL.
//!
//! The certificate is a [`ServedCertificate`]: each handshake takes the one current then, so
//! that a reload replaces it for new connections while open ones keep theirs.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::Error;

/// The HTTPS listener's configuration (rustls').
pub use tokio_rustls::rustls::ServerConfig as TlsConfig;

/// The certificate chain and key the HTTPS listener presents, replaceable while it runs.
#[derive(Debug)]
pub struct ServedCertificate {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServedCertificate {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 RSA or
    /// SEC1 EC) that goes with it.
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be read, [`Error::Tls`] when it holds no certificate or
    /// key, or the key does not go with the certificate.
    pub fn load(cert_pem: &Path, key_pem: &Path) -> Result<Arc<Self>, Error> {
        Ok(Arc::new(Self { current: RwLock::new(certified_key(cert_pem, key_pem)?) }))
    }

    /// Reads the files again: new handshakes present the new certificate, connections already
    /// open keep theirs. On an error the current certificate stays.
    ///
    /// # Errors
    /// As [`ServedCertificate::load`].
    pub fn reload(&self, cert_pem: &Path, key_pem: &Path) -> Result<(), Error> {
        let fresh = certified_key(cert_pem, key_pem)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Presents `other`'s certificate from now on (a reload that read and checked it first).
    pub fn replace_with(&self, other: &Self) {
        let fresh = other.current.read().unwrap_or_else(PoisonError::into_inner).clone();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }
}

impl ResolvesServerCert for ServedCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// A server configuration presenting `certificate`. TLS 1.2 and 1.3: the phones that fetch over
/// 6971 speak 1.2.
///
/// # Errors
/// [`Error::Tls`] when rustls refuses the protocol versions (never with its defaults).
pub fn config_for(certificate: Arc<ServedCertificate>) -> Result<Arc<TlsConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls { path: "rustls".into(), reason: e.to_string() })?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    Ok(Arc::new(config))
}

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 RSA or SEC1 EC), which stays as it is read now.
///
/// # Errors
/// [`Error::Io`] when a file cannot be read, [`Error::Tls`] when it holds no certificate or key,
/// or the key does not go with the certificate.
pub fn server_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<TlsConfig>, Error> {
    config_for(ServedCertificate::load(cert_pem, key_pem)?)
}

fn certified_key(cert_pem: &Path, key_pem: &Path) -> Result<Arc<CertifiedKey>, Error> {
    let pem = |path: &Path, e: rustls_pki_types::pem::Error| match e {
        rustls_pki_types::pem::Error::Io(source) => Error::Io { path: path.to_owned(), source },
        e => Error::Tls { path: path.to_owned(), reason: e.to_string() },
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| pem(cert_pem, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem(cert_pem, e))?;
    if certs.is_empty() {
        return Err(Error::Tls {
            path: cert_pem.to_owned(),
            reason: "no CERTIFICATE in the PEM".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| pem(key_pem, e))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(certs, key, &provider).map_err(|e| {
        let reason = match e {
            rustls::Error::InconsistentKeys(_) => {
                format!("this key does not go with the certificate of {}", cert_pem.display())
            }
            e => e.to_string(),
        };
        Error::Tls { path: key_pem.to_owned(), reason }
    })?;
    Ok(Arc::new(certified))
}
