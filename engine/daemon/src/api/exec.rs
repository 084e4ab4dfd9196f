//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `POST /exec/{id}/resize` and
//! `GET /exec/{id}/json`.

use actix::Addr;
use bollard_stubs::models::{ExecConfig as ExecCreateBody, ExecStartConfig};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::attach::terminal_size;
use super::containers::find;
use super::error::ApiError;
use super::hijack;
use super::http::{json, read_json, status_only, ApiResult, Query};
use crate::container::actor::{ContainerActor, Detached};
use crate::container::attach::{Framing, Session, SessionInput};
use crate::container::exec::{
    self, CheckExec, CreateExec, ExecStart, InspectExec, ResizeExec, StartExec,
};
use crate::container::output::StreamKind;
use crate::engine::Engine;

pub async fn create(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let body: ExecCreateBody = read_json(req.into_body()).await?;
    let (_, addr) = find(engine, id).await?;
    let exec_id = addr
        .send(CreateExec {
            typed: id.to_owned(),
            body,
        })
        .await??;
    json(StatusCode::CREATED, &serde_json::json!({ "Id": exec_id }))
}

/// The container an exec belongs to: its ID and actor.
async fn find_exec(
    engine: &Engine,
    exec_id: &str,
) -> Result<(String, Addr<ContainerActor>), ApiError> {
    let no_such_exec = || ApiError::not_found(format!("No such exec instance: {exec_id}"));
    let container = engine
        .services
        .execs
        .container_of(exec_id)
        .ok_or_else(no_such_exec)?;
    find(engine, &container).await.map_err(|_| no_such_exec())
}

pub async fn start(engine: &Engine, exec_id: &str, req: Request<Incoming>) -> ApiResult {
    let (parts, body) = req.into_parts();
    let body: ExecStartConfig = read_json(body).await?;
    let console_size = exec::console_size(body.console_size.as_ref())?;
    let (container, addr) = find_exec(engine, exec_id).await?;
    let start = StartExec {
        id: exec_id.to_owned(),
        typed: container.clone(),
        console_size,
        attached: body.detach != Some(true),
    };
    if !start.attached {
        return match addr.send(start).await??.failure {
            Some(failure) => Err(failure.into()),
            None => status_only(StatusCode::OK),
        };
    }
    addr.send(CheckExec {
        id: exec_id.to_owned(),
        typed: container,
    })
    .await??;
    // As with Docker, the start request's Tty decides the stream's framing.
    let framing = Framing::of_tty(body.tty == Some(true));
    let exec_id = exec_id.to_owned();
    let session = async move {
        match addr.send(start).await {
            Ok(Ok(started)) => {
                let on_detach = move || {
                    addr.do_send(Detached {
                        exec_id: Some(exec_id),
                    })
                };
                exec_session(started, framing, Box::new(on_detach))
            }
            Ok(Err(error)) => failed(framing, &error.to_string()),
            Err(error) => failed(framing, &error.to_string()),
        }
    };
    Ok(hijack::upgrade(
        Request::from_parts(parts, ()),
        framing,
        session,
    ))
}

/// The session of a started exec; one that could not start only says why.
fn exec_session(started: ExecStart, framing: Framing, on_detach: Box<dyn FnOnce()>) -> Session {
    let ExecStart {
        tty,
        attach_stdout,
        attach_stderr,
        output,
        stdin,
        detach_keys,
        failure,
        exited,
    } = started;
    if let Some(failure) = failure {
        return failed(framing, &failure.to_string());
    }
    Session {
        output,
        stdout: attach_stdout,
        stderr: attach_stderr,
        framing,
        preamble: Vec::new(),
        input: stdin.map(|port| SessionInput {
            port,
            close_at_eof: !tty,
            detach: tty.then_some(detach_keys),
        }),
        before_close: Some(Box::pin(async move {
            let _ = exited.await;
        })),
        on_detach: Some(on_detach),
    }
}

/// Docker writes why an exec could not start where its output would have gone.
fn failed(framing: Framing, why: &str) -> Session {
    Session {
        output: None,
        stdout: true,
        stderr: true,
        framing,
        preamble: framing.encode(StreamKind::Stdout, format!("{why}\r\n").as_bytes()),
        input: None,
        before_close: None,
        on_detach: None,
    }
}

pub async fn resize(engine: &Engine, exec_id: &str, req: Request<Incoming>) -> ApiResult {
    let (rows, columns) = terminal_size(&Query::parse(req.uri().query()))?;
    let (container, addr) = find_exec(engine, exec_id).await?;
    addr.send(ResizeExec {
        id: exec_id.to_owned(),
        typed: container,
        rows,
        columns,
    })
    .await??;
    status_only(StatusCode::OK)
}

pub async fn inspect(engine: &Engine, exec_id: &str) -> ApiResult {
    let (_, addr) = find_exec(engine, exec_id).await?;
    json(
        StatusCode::OK,
        &addr.send(InspectExec(exec_id.to_owned())).await??,
    )
}
