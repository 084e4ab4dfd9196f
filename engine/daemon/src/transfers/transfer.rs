//! One actor per layer transfer. A download streams the blob from the registry into an
//! extraction running on a blocking thread, so the layer is unpacked while it arrives; the
//! blob's digest and the layer's diff_id are checked before either is stored. An upload
//! streams the stored blob to the registry, unless the registry has it or can mount it.

use std::io::{self, Read};
use std::sync::Arc;

use actix::prelude::*;
use berth_distribution::{MountOutcome, Repository};
use berth_images::ImageStore;
use bytes::Bytes;
use fsdriver::Digest;
use tokio::sync::{mpsc, Semaphore};

use super::progress::Progress;
use super::TransferError;

/// Chunks in flight between the download and the extraction.
const PIPELINE_DEPTH: usize = 64;

/// The short ID Docker shows for a layer.
pub fn short(digest: &Digest) -> String {
    digest.short().to_string()
}

/// What every layer transfer of one pull or push shares; each transfer runs as an actor
/// of its own, started from a copy (see [`transfer_all`]).
#[derive(Clone)]
pub struct LayerTransfer {
    pub repository: Arc<Repository>,
    pub images: Arc<ImageStore>,
    pub progress: Progress,
    /// Limits concurrent transfers of this kind (`--max-concurrent-downloads`/`-uploads`).
    pub permits: Arc<Semaphore>,
}

impl Actor for LayerTransfer {
    type Context = Context<Self>;
}

/// Downloads the layer blob `blob` (`size` bytes) and extracts it as `diff_id`.
#[derive(Message)]
#[rtype(result = "Result<(), TransferError>")]
pub struct Download {
    pub blob: Digest,
    pub size: u64,
    pub diff_id: Digest,
}

/// Uploads the stored blob `blob`, or mounts it from one of `mount_from`. `id` is the
/// short ID shown in progress messages.
#[derive(Message)]
#[rtype(result = "Result<(), TransferError>")]
pub struct Upload {
    pub blob: Digest,
    pub id: String,
    pub mount_from: Vec<String>,
}

type TransferReply = ResponseActFuture<LayerTransfer, Result<(), TransferError>>;

impl LayerTransfer {
    /// Runs the actor's one transfer, then stops it.
    fn run(
        &mut self,
        work: impl std::future::Future<Output = Result<(), TransferError>> + 'static,
    ) -> TransferReply {
        Box::pin(work.into_actor(self).map(|result, _, ctx| {
            ctx.stop();
            result
        }))
    }
}

impl Handler<Download> for LayerTransfer {
    type Result = TransferReply;

    fn handle(&mut self, msg: Download, _: &mut Context<Self>) -> Self::Result {
        let work = self.clone().download(msg);
        self.run(work)
    }
}

impl Handler<Upload> for LayerTransfer {
    type Result = TransferReply;

    fn handle(&mut self, msg: Upload, _: &mut Context<Self>) -> Self::Result {
        let work = self.clone().upload(msg);
        self.run(work)
    }
}

/// Runs each of `transfers` in an actor of its own, concurrently, and waits for all of
/// them; the first failure is returned once every transfer has ended.
pub async fn transfer_all<M>(shared: &LayerTransfer, transfers: Vec<M>) -> Result<(), TransferError>
where
    M: Message<Result = Result<(), TransferError>> + Send + 'static,
    LayerTransfer: Handler<M>,
{
    let replies = transfers
        .into_iter()
        .map(|msg| shared.clone().start().send(msg));
    let mut failure = None;
    for result in futures_util::future::join_all(replies).await {
        let result = result
            .map_err(|e| TransferError::Internal(format!("layer transfer actor: {e}")))
            .and_then(|r| r);
        if let Err(e) = result {
            failure.get_or_insert(e);
        }
    }
    failure.map_or(Ok(()), Err)
}

async fn acquire(
    permits: Arc<Semaphore>,
    progress: &Progress,
    id: &str,
) -> tokio::sync::OwnedSemaphorePermit {
    match permits.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            progress.layer(id, "Waiting");
            permits
                .acquire_owned()
                .await
                .expect("the transfer semaphore is never closed")
        }
    }
}

impl LayerTransfer {
    async fn download(self, msg: Download) -> Result<(), TransferError> {
        let id = short(&msg.blob);
        let _permit = acquire(self.permits, &self.progress, &id).await;
        let (tx, rx) = mpsc::channel::<Bytes>(PIPELINE_DEPTH);
        let extraction = {
            let images = self.images.clone();
            let (blob, diff_id) = (msg.blob.clone(), msg.diff_id.clone());
            actix_rt::task::spawn_blocking(move || {
                let reader = ChannelReader {
                    rx,
                    current: Bytes::new(),
                };
                if images.has_extracted_layer(&diff_id) {
                    // Only the blob is missing (the layer came from an archive, say).
                    images.ingest_blob(reader, Some(&blob)).map(drop)
                } else {
                    images.ingest_layer_blob(reader, &blob, &diff_id).map(drop)
                }
            })
        };
        let meter = self.progress.meter(&id, "Downloading", msg.size);
        let downloaded = self
            .repository
            .download_blob(&msg.blob, msg.size, &tx, &|n| meter.update(n))
            .await;
        // Closed by the extraction: it stopped reading before the download ended.
        let extraction_stopped = tx.is_closed();
        drop(tx);
        if downloaded.is_ok() {
            self.progress.layer(&id, "Verifying Checksum");
            self.progress.layer(&id, "Download complete");
        }
        let extracted = extraction
            .await
            .map_err(|e| TransferError::Internal(format!("layer extraction task: {e}")))?;
        match (downloaded, extracted) {
            (Ok(()), Ok(())) => {
                self.progress.bar(&id, "Extracting", msg.size, msg.size);
                self.progress.layer(&id, "Pull complete");
                Ok(())
            }
            (Err(_), Err(e)) if extraction_stopped => Err(e.into()),
            (Err(e), _) => Err(e.into()),
            (Ok(()), Err(e)) => Err(e.into()),
        }
    }
}

/// The extraction's view of the download: a blocking reader over the channel of chunks.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

impl LayerTransfer {
    async fn upload(self, msg: Upload) -> Result<(), TransferError> {
        let _permit = acquire(self.permits, &self.progress, &msg.id).await;
        if self.repository.blob_exists(&msg.blob).await? {
            self.progress.layer(&msg.id, "Layer already exists");
            return Ok(());
        }
        let mut location = None;
        for from in &msg.mount_from {
            match self.repository.mount_blob(&msg.blob, from).await {
                Ok(MountOutcome::Mounted) => {
                    self.progress
                        .layer(&msg.id, &format!("Mounted from {from}"));
                    return Ok(());
                }
                Ok(MountOutcome::Upload(url)) => {
                    location = Some(url);
                    break;
                }
                Err(e) => tracing::debug!(blob = %msg.blob, from, "mount refused: {e}"),
            }
        }
        let location = match location {
            Some(location) => location,
            None => self.repository.start_upload().await?,
        };
        let size = self.images.blob_size(&msg.blob)?;
        let file = self.images.open_blob(&msg.blob)?;
        let meter = Arc::new(self.progress.meter(&msg.id, "Pushing", size));
        let body = file_stream(tokio::fs::File::from_std(file), meter);
        self.repository
            .finish_upload(location, &msg.blob, size, reqwest_body(body))
            .await?;
        self.progress.layer(&msg.id, "Pushed");
        Ok(())
    }
}

type ChunkStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static>>;

fn file_stream(file: tokio::fs::File, meter: Arc<super::progress::Meter>) -> ChunkStream {
    use tokio::io::AsyncReadExt;
    Box::pin(futures_util::stream::unfold(
        (file, 0u64),
        move |(mut file, sent)| {
            let meter = meter.clone();
            async move {
                let mut buf = vec![0u8; 256 * 1024];
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        let sent = sent + n as u64;
                        meter.update(sent);
                        Some((Ok(Bytes::from(buf)), (file, sent)))
                    }
                    Err(e) => Some((Err(e), (file, sent))),
                }
            }
        },
    ))
}

fn reqwest_body(stream: ChunkStream) -> berth_distribution::client::Body {
    berth_distribution::client::Body::wrap_stream(stream)
}
