//! TLS for the HTTPS listener (6971), through rustls with the ring provider: no OpenSSL.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

use crate::Error;

/// The HTTPS listener's configuration (rustls').
pub use tokio_rustls::rustls::ServerConfig as TlsConfig;

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 RSA or SEC1 EC). TLS 1.2 and 1.3: the phones that fetch over 6971 speak 1.2.
///
/// # Errors
/// [`Error::Io`] when a file cannot be read, [`Error::Tls`] when it holds no certificate or key,
/// or the key does not go with the certificate.
pub fn server_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<TlsConfig>, Error> {
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| Error::Tls { path: key_pem.to_owned(), reason: e.to_string() })?;
    Ok(Arc::new(config))
}
