//! TLS and basic auth for the served registry.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use parking_lot::Mutex;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};
use tokio_rustls::TlsAcceptor;

pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the registry certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing the registry certificate {}", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the registry key {}", key.display()))?;
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the registry certificate and key do not go together")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Users of an htpasswd file (bcrypt only, as the reference registry).
pub struct Htpasswd {
    users: Vec<(String, String)>,
    /// sha256 of `user:password` pairs already verified: bcrypt is slow by design.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the htpasswd file {}", path.display()))?;
        let mut users = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                bail!("{}:{}: expected user:hash", path.display(), n + 1);
            };
            if !hash.starts_with("$2") {
                bail!(
                    "{}:{}: only bcrypt entries are supported (htpasswd -B)",
                    path.display(),
                    n + 1
                );
            }
            users.push((user.to_string(), hash.to_string()));
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Whether an `Authorization` header carries a valid user and password.
    pub fn check(&self, header: Option<&str>) -> bool {
        let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let key: [u8; 32] = Sha256::digest(&decoded).into();
        if self.verified.lock().contains(&key) {
            return true;
        }
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let ok = self
            .users
            .iter()
            .any(|(u, hash)| u == user && bcrypt::verify(password, hash).unwrap_or(false));
        if ok {
            self.verified.lock().insert(key);
        }
        ok
    }
}
