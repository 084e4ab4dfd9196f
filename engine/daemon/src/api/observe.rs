//! Watching containers: `logs` (and `logs -f`), `top`, `stats`, `pause` and `unpause`.

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use tokio::sync::{mpsc, watch};

use super::containers::{channel_body, find};
use super::error::ApiError;
use super::http::{json, no_content, ApiResult, Query};
use crate::container::actor::{LogFollow, LogFollowing, Pause, Snapshot, TopProcesses, Unpause};
use crate::container::log_chain::ChainReader;
use crate::container::logs::{self, ReadOptions};
use crate::container::output::LogProgress;
use crate::container::{proc_top, top};
use crate::engine::Engine;
use crate::stats::{self, json as stats_json};

/// Output chunks a slow reader may leave unread (each up to about 1 MiB); past that the
/// reading waits, never the container.
const LOG_BACKLOG: usize = 4;

type Sender = mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

fn log_options(query: &Query) -> Result<ReadOptions, ApiError> {
    let stdout = query.flag("stdout");
    let stderr = query.flag("stderr");
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    Ok(ReadOptions {
        stdout,
        stderr,
        timestamps: query.flag("timestamps"),
        tail: match query.get("tail") {
            None | Some("") | Some("all") => None,
            // Docker reads a negative count as "all".
            Some(n) if n.starts_with('-') && n[1..].parse::<u64>().is_ok() => None,
            Some(n) => Some(
                n.parse::<usize>()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for tail: {n:?}")))?,
            ),
        },
        since: logs::parse_time(query.get("since"))?,
        until: logs::parse_time(query.get("until"))?,
    })
}

pub async fn logs(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let options = log_options(&query)?;
    let (_, addr) = find(engine, id).await?;
    let LogFollowing {
        path,
        tty,
        progress,
    } = addr.send(LogFollow).await?;
    let path = path.ok_or_else(|| {
        ApiError::new(
            crate::error::ErrorKind::NotImplemented,
            "configured logging driver does not support reading",
        )
    })?;
    let progress = progress.filter(|_| query.flag("follow"));
    // With `tail`, the entries counted are those complete when the request came.
    let watched = progress.clone();
    let reader = actix_rt::task::spawn_blocking(move || {
        ChainReader::open(&path, &options, tty, || {
            watched.as_ref().map(|p| *p.borrow())
        })
    })
    .await
    .map_err(|err| ApiError::internal(format!("reading logs: {err}")))??;
    let (tx, rx) = mpsc::channel(LOG_BACKLOG);
    if let Some(reader) = reader {
        actix_rt::spawn(stream_log(reader, progress, tx));
    }
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut response = Response::new(channel_body(rx));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// Sends the log from the reader's position on. Without `progress` it ends at the file's
/// end as it was at the start; with it, it reads only up to what the pump reports complete,
/// and waits for more until the pump says the output is over.
async fn stream_log(
    mut reader: ChainReader,
    mut progress: Option<watch::Receiver<LogProgress>>,
    tx: Sender,
) {
    let first = match &mut progress {
        Some(progress) => reader.limit(&progress.borrow_and_update()),
        None => reader.file_len(),
    };
    let mut limit = match first {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!("{err}");
            return;
        }
    };
    loop {
        let read = actix_rt::task::spawn_blocking(move || {
            let chunk = reader.read_chunk(limit);
            (reader, chunk)
        })
        .await;
        let chunk;
        (reader, chunk) = match read {
            Ok(read) => read,
            Err(err) => {
                tracing::warn!("reading logs: {err}");
                return;
            }
        };
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                tracing::warn!("{err}");
                return;
            }
        };
        if !chunk.output.is_empty()
            && tx
                .send(Ok(Frame::data(Bytes::from(chunk.output))))
                .await
                .is_err()
        {
            return;
        }
        if chunk.stopped {
            return;
        }
        if !chunk.caught_up {
            continue;
        }
        let Some(progress) = &mut progress else {
            return;
        };
        loop {
            let now = *progress.borrow_and_update();
            let mut moved = false;
            if reader.lags(&now) {
                // The log rotated: the files after the one held are opened (quick, but
                // a compressed one is unpacked), and the one held is read to its end.
                let followed = actix_rt::task::spawn_blocking(move || {
                    let result = reader.follow(now.file);
                    (reader, result)
                })
                .await;
                let result;
                (reader, result) = match followed {
                    Ok(followed) => followed,
                    Err(err) => {
                        tracing::warn!("reading logs: {err}");
                        return;
                    }
                };
                match result {
                    Ok(took) => moved = took,
                    Err(err) => {
                        tracing::warn!("{err}");
                        return;
                    }
                }
            }
            let next = match reader.limit(&now) {
                Ok(next) => next,
                Err(err) => {
                    tracing::warn!("{err}");
                    return;
                }
            };
            if moved || next > limit {
                limit = next;
                break;
            }
            if now.closed {
                return;
            }
            tokio::select! {
                changed = progress.changed() => {
                    if changed.is_err() {
                        // The pump is gone without saying so: read what it wrote, then end.
                        let last = *progress.borrow();
                        match reader.limit(&last) {
                            Ok(last) if last > limit => {
                                limit = last;
                                break;
                            }
                            _ => return,
                        }
                    }
                }
                _ = tx.closed() => return,
            }
        }
    }
}

pub async fn top(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let args = query
        .get("ps_args")
        .filter(|a| !a.trim().is_empty())
        .unwrap_or(top::DEFAULT_PS_ARGS)
        .to_string();
    top::validate_ps_args(&args)?;
    let (_, addr) = find(engine, id).await?;
    let pids = addr.send(TopProcesses).await??;
    let listing = actix_rt::task::spawn_blocking(move || {
        if args.trim() == top::DEFAULT_PS_ARGS {
            proc_top::list(&proc_top::HostFiles::host(), &pids)
                .map_err(|err| ApiError::internal(format!("top: {err}")))
        } else {
            top::list(&args, &pids).map_err(ApiError::from)
        }
    })
    .await
    .map_err(|err| ApiError::internal(format!("ps: {err}")))??;
    json(StatusCode::OK, &listing)
}

fn stats_line(name: &str, id: &str, frame: Option<stats::Frame>) -> Bytes {
    let value = match frame {
        Some(frame) => stats_json::render(
            name,
            id,
            &frame.current,
            frame.previous.as_deref(),
            frame.machine_memory,
        ),
        None => stats_json::empty(name, id),
    };
    let mut line = serde_json::to_vec(&value).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub async fn stats(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    // `stream` defaults to true.
    let stream = query.get("stream").is_none() || query.flag("stream");
    let one_shot = query.flag("one-shot");
    if stream && one_shot {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let (full_id, addr) = find(engine, id).await?;
    let record = addr.send(Snapshot).await?;
    let name = format!("/{}", record.name);
    let sampler = &engine.services.stats;
    if !stream {
        let frame = if record.state.status.is_live() {
            let reply = sampler
                .send(stats::Once {
                    id: full_id.clone(),
                    one_shot,
                })
                .await
                .map_err(|err| ApiError::internal(format!("stats sampler unavailable: {err}")))?;
            reply.await.unwrap_or(None)
        } else {
            None
        };
        let mut response = Response::new(super::http::full(stats_line(&name, &full_id, frame)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(response);
    }
    let mut frames = sampler
        .send(stats::Watch {
            id: full_id.clone(),
        })
        .await
        .map_err(|err| ApiError::internal(format!("stats sampler unavailable: {err}")))?;
    let (tx, rx) = mpsc::channel(2);
    actix_rt::spawn(async move {
        while let Some(frame) = frames.recv().await {
            let line = stats_line(&name, &full_id, frame);
            if tx.send(Ok(Frame::data(line))).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(channel_body(rx));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

pub async fn pause(engine: &Engine, id: &str) -> ApiResult {
    let (_, addr) = find(engine, id).await?;
    addr.send(Pause).await??;
    no_content()
}

pub async fn unpause(engine: &Engine, id: &str) -> ApiResult {
    let (_, addr) = find(engine, id).await?;
    addr.send(Unpause).await??;
    no_content()
}
