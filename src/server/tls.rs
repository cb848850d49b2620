//! TLS for DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484): the
//! certificate chain and key read from PEM files, TLS 1.2 and 1.3 with
//! ring, ALPN, and session resumption (stateful cache and TLS 1.3
//! tickets), so a client reconnecting skips the full handshake.
//!
//! The files are read again on reload; a pair that does not load leaves
//! the running one serving (`Identity::reload`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

/// ALPN for DNS over TLS (RFC 7858 section 3.2, the IANA registration).
pub const ALPN_DOT: &[u8] = b"dot";
/// ALPN for DNS over HTTPS: HTTP/2 preferred, HTTP/1.1 accepted.
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A handshake must be done this soon after the connection is accepted;
/// a client that stalls in it holds a connection slot no longer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Sessions remembered for resumption without a ticket.
const SESSION_CACHE: usize = 4096;

/// The certificate and key files, and the TLS settings made from them
/// for each protocol, swapped whole on reload.
pub struct TlsIdentity {
    certificate: PathBuf,
    key: PathBuf,
    pub dot: Arc<ArcSwap<ServerConfig>>,
    pub doh: Arc<ArcSwap<ServerConfig>>,
}

impl TlsIdentity {
    /// Reads the certificate chain and key. The error names the file and
    /// what is wrong with it.
    pub fn load(certificate: &Path, key: &Path) -> Result<Self, String> {
        let (dot, doh) = configs(certificate, key)?;
        Ok(Self {
            certificate: certificate.to_path_buf(),
            key: key.to_path_buf(),
            dot: Arc::new(ArcSwap::from_pointee(dot)),
            doh: Arc::new(ArcSwap::from_pointee(doh)),
        })
    }

    /// Reads the files again; on failure the running pair stays.
    pub fn reload(&self) -> Result<(), String> {
        let (dot, doh) = configs(&self.certificate, &self.key)?;
        self.dot.store(Arc::new(dot));
        self.doh.store(Arc::new(doh));
        Ok(())
    }
}

fn configs(certificate: &Path, key: &Path) -> Result<(ServerConfig, ServerConfig), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| {
            format!(
                "{}: cannot read a PEM certificate: {e}",
                certificate.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no certificate in the file",
            certificate.display()
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: cannot read a PEM private key: {e}", key.display()))?;
    let make = |alpn: &[&[u8]]| -> Result<ServerConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key_der.clone_key())
            .map_err(|e| format!("{} and {}: {e}", certificate.display(), key.display()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| e.to_string())?;
        Ok(config)
    };
    Ok((make(&[ALPN_DOT])?, make(&[ALPN_H2, ALPN_HTTP1])?))
}

/// The server side of a TLS handshake, within `HANDSHAKE_TIMEOUT`.
pub async fn accept<S>(stream: S, config: &ArcSwap<ServerConfig>) -> Option<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(config.load_full());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        _ => None,
    }
}
