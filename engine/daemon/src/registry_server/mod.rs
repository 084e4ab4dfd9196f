//! `berthd --registry-addr`: a Distribution API v2 registry served from the image store's
//! content store, over plain HTTP or TLS (`--registry-tls-cert/-key`), open or behind
//! htpasswd basic auth (`--registry-htpasswd`, bcrypt entries as `htpasswd -B` writes).

mod api;
mod auth;
mod repositories;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::config::DistributionConfig;
use crate::engine::Engine;

pub use api::Registry;

/// Binds the registry's address and serves it until the daemon stops.
pub async fn start(engine: &Engine, config: &DistributionConfig, addr: SocketAddr) -> Result<()> {
    let registry = Arc::new(Registry::open(engine, config.registry_htpasswd.as_deref())?);
    let tls = match &config.registry_tls {
        Some((cert, key)) => Some(auth::tls_acceptor(cert, key)?),
        None => None,
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for the registry on {addr}"))?;
    tracing::info!(
        "serving a registry on {}://{addr}",
        if tls.is_some() { "https" } else { "http" }
    );
    actix_rt::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accepting a registry connection: {e}");
                    continue;
                }
            };
            let registry = registry.clone();
            let tls = tls.clone();
            actix_rt::spawn(async move {
                let service = service_fn(move |req| {
                    let registry = registry.clone();
                    async move { Ok::<_, Infallible>(registry.handle(req).await) }
                });
                let result = match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => {
                            http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Err(e) => {
                            tracing::debug!(%peer, "registry TLS handshake failed: {e}");
                            return;
                        }
                    },
                    None => {
                        http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, "registry connection ended: {e}");
                }
            });
        }
    });
    Ok(())
}
