//! TLS termination (beyond Ollama): with `ROLLAMA_TLS_CERT` and `ROLLAMA_TLS_KEY` (PEM files:
//! the certificate chain, then its private key) `serve` speaks HTTPS itself, for a box reached
//! without a reverse proxy. rustls with the ring provider; HTTP/1.1 only, as the plain server.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The acceptor for the certificate chain at `cert` and the key at `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("read ROLLAMA_TLS_CERT {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "ROLLAMA_TLS_CERT {} holds no certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("read ROLLAMA_TLS_KEY {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("ROLLAMA_TLS_CERT and ROLLAMA_TLS_KEY do not make a pair: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
