//! One repository of one registry, over the Distribution API v2.

use std::sync::Mutex;
use std::time::Duration;

use berth_images::parse::{DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, MAX_MANIFEST_BYTES};
use bytes::{Bytes, BytesMut};
use fsdriver::Digest;
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LINK, LOCATION,
    RANGE, WWW_AUTHENTICATE,
};
pub use reqwest::Body;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use url::Url;

use crate::auth::{parse_challenge, Challenge, Credentials, TokenResponse};
use crate::Error;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Every manifest type berth can pull, as sent in `Accept`.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
/// How many times a dropped blob download is resumed before giving up.
const MAX_RESUMES: u32 = 5;
const DIGEST_HEADER: &str = "docker-content-digest";

/// A manifest (or index) as the registry served it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

impl FetchedManifest {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }
}

/// What a cross-repository mount request achieved.
#[derive(Debug)]
pub enum MountOutcome {
    Mounted,
    /// The registry would not mount; it opened an upload session at this location instead.
    Upload(Url),
}

/// A repository on a registry, authenticated for the scopes it was opened with. Cheap to
/// share between concurrent transfers.
#[derive(Debug)]
pub struct Repository {
    http: reqwest::Client,
    base: Url,
    path: String,
    credentials: Option<Credentials>,
    scopes: Vec<String>,
    authorization: Mutex<Option<String>>,
}

impl Repository {
    pub(crate) async fn connect(
        http: reqwest::Client,
        base: Url,
        path: &str,
        credentials: Option<Credentials>,
        scopes: Vec<String>,
    ) -> Result<Repository, Error> {
        let repository = Repository {
            http,
            base,
            path: path.to_string(),
            credentials,
            scopes,
            authorization: Mutex::new(None),
        };
        let ping = repository.ping().await?;
        if ping.status() == StatusCode::UNAUTHORIZED {
            if let Some(challenge) = challenge_of(ping.headers()) {
                repository.authenticate(&challenge).await?;
            }
        }
        Ok(repository)
    }

    pub(crate) async fn login(
        http: reqwest::Client,
        base: Url,
        credentials: Credentials,
    ) -> Result<(), Error> {
        let repository = Repository {
            http,
            base,
            path: String::new(),
            credentials: Some(credentials),
            scopes: Vec::new(),
            authorization: Mutex::new(None),
        };
        let ping = repository.ping().await?;
        if ping.status().is_success() {
            return Ok(());
        }
        let Some(challenge) = challenge_of(ping.headers()) else {
            return Err(unexpected("logging in", ping).await);
        };
        repository.authenticate(&challenge).await?;
        let ping = repository.ping().await?;
        match ping.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Error::Unauthorized(
                "unauthorized: incorrect username or password".into(),
            )),
            _ => Err(unexpected("logging in", ping).await),
        }
    }

    async fn ping(&self) -> Result<Response, Error> {
        let url = self.url("/v2/")?;
        let mut request = self.http.get(url.clone());
        if let Some(header) = self.current_authorization() {
            request = request.header(AUTHORIZATION, header);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::http(format!("pinging {url}"), e))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(Error::Registry(format!(
                "{} does not serve the Distribution API v2",
                self.base
            )));
        }
        Ok(response)
    }

    /// The repository's name on its registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn url(&self, path: &str) -> Result<Url, Error> {
        self.base
            .join(path)
            .map_err(|e| Error::Invalid(format!("bad registry URL {path:?}: {e}")))
    }

    fn repo_url(&self, tail: &str) -> Result<Url, Error> {
        self.url(&format!("/v2/{}/{tail}", self.path))
    }

    fn current_authorization(&self) -> Option<String> {
        self.authorization
            .lock()
            .expect("the authorization lock is never poisoned")
            .clone()
    }

    /// Answers a challenge: basic credentials as they are, or a bearer token fetched from
    /// the realm for this repository's scopes (and whatever scope the challenge names).
    async fn authenticate(&self, challenge: &Challenge) -> Result<(), Error> {
        let header = match challenge {
            Challenge::Basic => match &self.credentials {
                Some(credentials) if !credentials.username.is_empty() => credentials.basic_header(),
                _ => {
                    return Err(Error::Unauthorized(
                        "unauthorized: authentication required".into(),
                    ))
                }
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                if let Some(token) = self
                    .credentials
                    .as_ref()
                    .map(|c| c.registry_token.clone())
                    .filter(|t| !t.is_empty())
                {
                    format!("Bearer {token}")
                } else {
                    let mut scopes = self.scopes.clone();
                    if let Some(scope) = scope {
                        scopes.extend(scope.split(' ').map(str::to_string));
                    }
                    scopes.sort();
                    scopes.dedup();
                    format!(
                        "Bearer {}",
                        self.fetch_token(realm, service.as_deref(), &scopes).await?
                    )
                }
            }
        };
        *self
            .authorization
            .lock()
            .expect("the authorization lock is never poisoned") = Some(header);
        Ok(())
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, Error> {
        let mut url = Url::parse(realm)
            .map_err(|e| Error::Registry(format!("token realm {realm:?} is not a URL: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
            if let Some(credentials) = self.credentials.as_ref().filter(|c| !c.username.is_empty())
            {
                query.append_pair("account", &credentials.username);
            }
        }
        let mut request = self.http.get(url.clone());
        if let Some(credentials) = self.credentials.as_ref().filter(|c| !c.username.is_empty()) {
            request = request.header(AUTHORIZATION, credentials.basic_header());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::http(format!("fetching a token from {realm}"), e))?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(Error::Unauthorized(
                    "unauthorized: incorrect username or password".into(),
                ))
            }
            _ => return Err(unexpected("fetching a token", response).await),
        }
        let body = read_limited(response, 1 << 20, "token").await?;
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| Error::Registry(format!("the token server's answer is not JSON: {e}")))?;
        token
            .into_token()
            .ok_or_else(|| Error::Registry("the token server sent no token".into()))
    }

    /// Sends a request built by `build`, answering one authentication challenge if the
    /// registry raises it.
    async fn send(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, Error> {
        let mut challenged = false;
        loop {
            let mut request = build();
            if let Some(header) = self.current_authorization() {
                request = request.header(AUTHORIZATION, header);
            }
            let response = request.send().await.map_err(|e| Error::http(what, e))?;
            if response.status() == StatusCode::UNAUTHORIZED && !challenged {
                if let Some(challenge) = challenge_of(response.headers()) {
                    challenged = true;
                    self.authenticate(&challenge).await?;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// Fetches a manifest or index by tag or digest. The bytes are checked against the
    /// digest asked for, or the digest the registry announced.
    pub async fn get_manifest(&self, reference: &str) -> Result<FetchedManifest, Error> {
        let url = self.repo_url(&format!("manifests/{reference}"))?;
        let what = format!("fetching manifest {}:{reference}", self.path);
        let response = self
            .send(&what, || {
                self.http.get(url.clone()).header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        let response = check(&what, response).await?;
        let announced = response
            .headers()
            .get(DIGEST_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok());
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let bytes = read_limited(response, MAX_MANIFEST_BYTES, "manifest").await?;
        let digest = Digest::of_bytes(&bytes);
        let expected = Digest::parse(reference).ok().or(announced);
        if let Some(expected) = expected {
            if expected != digest {
                return Err(Error::Invalid(format!(
                    "manifest verification failed for {}:{reference}: expected digest {expected}, got {digest}",
                    self.path
                )));
            }
        }
        let media_type = match content_type {
            Some(t) if is_manifest_media_type(&t) => t,
            _ => media_type_field(&bytes).ok_or_else(|| {
                Error::Invalid(format!(
                    "manifest {}:{reference} names no media type berth understands",
                    self.path
                ))
            })?,
        };
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Fetches a small blob (a config) whole, checking its digest.
    pub async fn get_blob_bytes(&self, digest: &Digest, limit: usize) -> Result<Bytes, Error> {
        let url = self.repo_url(&format!("blobs/{digest}"))?;
        let what = format!("fetching blob {digest}");
        let response = self.send(&what, || self.http.get(url.clone())).await?;
        let response = check(&what, response).await?;
        let bytes = read_limited(response, limit, "blob").await?;
        let actual = Digest::of_bytes(&bytes);
        if actual != *digest {
            return Err(Error::Invalid(format!(
                "blob verification failed: expected digest {digest}, got {actual}"
            )));
        }
        Ok(bytes)
    }

    /// Streams the blob into `sink`, `size` bytes in all. A connection that drops (or a
    /// body cut short) is resumed with a `Range` request, up to a few times; a registry
    /// that ignores ranges has its first bytes skipped. `progress` is told the bytes
    /// received so far. The caller checks the digest of what it received.
    pub async fn download_blob(
        &self,
        digest: &Digest,
        size: u64,
        sink: &tokio::sync::mpsc::Sender<Bytes>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), Error> {
        let url = self.repo_url(&format!("blobs/{digest}"))?;
        let what = format!("downloading blob {digest}");
        let mut received: u64 = 0;
        let mut resumes = 0;
        loop {
            let outcome = self
                .download_from(&url, &what, digest, size, &mut received, sink, progress)
                .await;
            match outcome {
                Ok(()) if received == size => return Ok(()),
                Ok(()) => {
                    tracing::info!(%digest, received, size, "blob download cut short");
                }
                Err(Error::Http { source, .. }) if resumes < MAX_RESUMES => {
                    tracing::info!(%digest, received, size, "blob download dropped: {source}");
                }
                Err(e) => return Err(e),
            }
            if resumes == MAX_RESUMES {
                return Err(Error::Invalid(format!(
                    "blob {digest} is truncated: received {received} of {size} bytes"
                )));
            }
            resumes += 1;
            tokio::time::sleep(Duration::from_millis(200 * u64::from(resumes))).await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn download_from(
        &self,
        url: &Url,
        what: &str,
        digest: &Digest,
        size: u64,
        received: &mut u64,
        sink: &tokio::sync::mpsc::Sender<Bytes>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), Error> {
        let offset = *received;
        let response = self
            .send(what, || {
                let request = self.http.get(url.clone());
                if offset > 0 {
                    request.header(RANGE, format!("bytes={offset}-"))
                } else {
                    request
                }
            })
            .await?;
        // Bytes of the body that were already received (a registry that ignored Range).
        let mut skip = 0;
        match response.status() {
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                let start = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start);
                if start != Some(offset) {
                    return Err(Error::Registry(format!(
                        "{what}: the registry resumed at the wrong offset"
                    )));
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                return Err(Error::Invalid(format!(
                    "blob {digest} is truncated: received {offset} of {size} bytes"
                )))
            }
            s if s.is_success() => skip = offset,
            _ => return Err(check(what, response).await.expect_err("not a success")),
        }
        let mut response = response;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Error::http(what, e)),
            };
            let chunk = if skip > 0 {
                let n = skip.min(chunk.len() as u64);
                skip -= n;
                chunk.slice(n as usize..)
            } else {
                chunk
            };
            if chunk.is_empty() {
                continue;
            }
            *received += chunk.len() as u64;
            if *received > size {
                return Err(Error::Invalid(format!(
                    "blob {digest} is larger than the {size} bytes its descriptor gives"
                )));
            }
            if sink.send(chunk).await.is_err() {
                return Err(Error::Registry(format!(
                    "{what}: the download was abandoned"
                )));
            }
            progress(*received);
        }
    }

    /// Whether the repository has the blob.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool, Error> {
        let url = self.repo_url(&format!("blobs/{digest}"))?;
        let what = format!("checking blob {digest}");
        let response = self.send(&what, || self.http.head(url.clone())).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(check(&what, response).await.expect_err("not a success")),
        }
    }

    /// Asks the registry to mount `digest` from the repository `from` (cross-repository
    /// blob mount), without sending its bytes.
    pub async fn mount_blob(&self, digest: &Digest, from: &str) -> Result<MountOutcome, Error> {
        let mut url = self.repo_url("blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let what = format!("mounting blob {digest} from {from}");
        let response = self.send(&what, || self.http.post(url.clone())).await?;
        match response.status() {
            StatusCode::CREATED => Ok(MountOutcome::Mounted),
            StatusCode::ACCEPTED => Ok(MountOutcome::Upload(self.location(&what, &response)?)),
            _ => Err(check(&what, response).await.expect_err("not a success")),
        }
    }

    /// Opens an upload session.
    pub async fn start_upload(&self) -> Result<Url, Error> {
        let url = self.repo_url("blobs/uploads/")?;
        let what = format!("starting an upload to {}", self.path);
        let response = self.send(&what, || self.http.post(url.clone())).await?;
        let response = check(&what, response).await?;
        self.location(&what, &response)
    }

    fn location(&self, what: &str, response: &Response) -> Result<Url, Error> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::Registry(format!("{what}: the registry gave no upload location"))
            })?;
        self.url(location)
    }

    /// Sends the whole blob to an upload session and closes it (a monolithic upload).
    pub async fn finish_upload(
        &self,
        location: Url,
        digest: &Digest,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), Error> {
        let mut url = location;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let what = format!("uploading blob {digest}");
        let mut request = self
            .http
            .request(Method::PUT, url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        if let Some(header) = self.current_authorization() {
            request = request.header(AUTHORIZATION, header);
        }
        let response = request.send().await.map_err(|e| Error::http(&what, e))?;
        check(&what, response).await.map(drop)
    }

    /// Stores a manifest under a tag or its digest; returns the digest the registry gives.
    pub async fn put_manifest(
        &self,
        reference: &str,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<Digest, Error> {
        let url = self.repo_url(&format!("manifests/{reference}"))?;
        let what = format!("pushing manifest {}:{reference}", self.path);
        let response = self
            .send(&what, || {
                self.http
                    .put(url.clone())
                    .header(CONTENT_TYPE, media_type)
                    .body(bytes.clone())
            })
            .await?;
        let response = check(&what, response).await?;
        let ours = Digest::of_bytes(&bytes);
        match response
            .headers()
            .get(DIGEST_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(Digest::parse)
        {
            Some(Ok(theirs)) if theirs != ours => Err(Error::Registry(format!(
                "{what}: the registry stored digest {theirs}, expected {ours}"
            ))),
            _ => Ok(ours),
        }
    }

    /// Every tag of the repository, following pagination.
    pub async fn tags(&self) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.repo_url("tags/list")?;
        let what = format!("listing tags of {}", self.path);
        let mut tags = Vec::new();
        loop {
            let response = self.send(&what, || self.http.get(url.clone())).await?;
            let response = check(&what, response).await?;
            let next = response
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .map(|link| self.url(&link))
                .transpose()?;
            let body = read_limited(response, 16 << 20, "tag list").await?;
            let list: TagList = serde_json::from_slice(&body).map_err(|e| {
                Error::Registry(format!("{what}: the answer is not a tag list: {e}"))
            })?;
            tags.extend(list.tags.unwrap_or_default());
            match next {
                Some(next) => url = next,
                None => return Ok(tags),
            }
        }
    }
}

fn challenge_of(headers: &HeaderMap) -> Option<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(parse_challenge)
        .max_by_key(|c| matches!(c, Challenge::Bearer { .. }))
}

fn is_manifest_media_type(media_type: &str) -> bool {
    [
        OCI_INDEX,
        OCI_MANIFEST,
        DOCKER_MANIFEST_LIST,
        DOCKER_MANIFEST_V2,
    ]
    .contains(&media_type)
}

fn media_type_field(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).ok()?;
    match (probe.media_type, probe.manifests, probe.layers) {
        (Some(t), _, _) if is_manifest_media_type(&t) => Some(t),
        (None, Some(_), None) => Some(OCI_INDEX.to_string()),
        (None, None, Some(_)) => Some(OCI_MANIFEST.to_string()),
        _ => None,
    }
}

/// `bytes 100-199/200` → 100.
fn content_range_start(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes")?.trim();
    range.split('-').next()?.trim().parse().ok()
}

/// The target of `<…>; rel="next"` in a Link header.
fn next_link(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

async fn read_limited(mut response: Response, limit: usize, what: &str) -> Result<Bytes, Error> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Error::Invalid(format!(
            "{what} is larger than {limit} bytes"
        )));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::http(format!("reading the {what}"), e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(Error::Invalid(format!(
                "{what} is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Passes success through; turns anything else into an error carrying the registry's
/// own explanation (`{"errors":[{"code":…,"message":…}]}`).
async fn check(what: &str, response: Response) -> Result<Response, Error> {
    if response.status().is_success() {
        return Ok(response);
    }
    Err(unexpected(what, response).await)
}

async fn unexpected(what: &str, response: Response) -> Error {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let status = response.status();
    let body = read_limited(response, 64 << 10, "error")
        .await
        .unwrap_or_default();
    let explained = serde_json::from_slice::<Errors>(&body)
        .ok()
        .filter(|e| !e.errors.is_empty())
        .map(|e| {
            e.errors
                .iter()
                .map(|item| {
                    let code = item.code.to_ascii_lowercase().replace('_', " ");
                    match (code.is_empty(), item.message.is_empty()) {
                        (false, false) => format!("{code}: {}", item.message),
                        (false, true) => code,
                        _ => item.message.clone(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_ascii_lowercase()
            } else {
                text
            }
        });
    match status {
        StatusCode::UNAUTHORIZED => {
            Error::Unauthorized(format!("{what}: unauthorized: {explained}"))
        }
        StatusCode::FORBIDDEN => Error::Unauthorized(format!("{what}: denied: {explained}")),
        StatusCode::NOT_FOUND => Error::NotFound(format!("{what}: {explained}")),
        _ => Error::Registry(format!("{what}: HTTP {}: {explained}", status.as_u16())),
    }
}

#[cfg(test)]
mod tests;
