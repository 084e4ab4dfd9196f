//! `POST /containers/{id}/attach` and `POST /containers/{id}/resize`.

use berth_stdio::DetachKeys;
use hyper::body::Incoming;
use hyper::Request;

use super::containers::find;
use super::error::ApiError;
use super::hijack;
use super::http::{status_only, ApiResult, Query};
use crate::container::actor::{Attach, Attachment, Detached, Resize};
use crate::container::attach::{Framing, Session, SessionInput};
use crate::container::logs;
use crate::engine::Engine;

pub async fn attach(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let query = Query::parse(req.uri().query());
    let keys_text = query.get("detachKeys").unwrap_or("");
    let detach_keys = DetachKeys::parse(keys_text).map_err(|_| {
        ApiError::bad_request(format!("Invalid detach keys ({keys_text}) provided"))
    })?;
    let (stdout, stderr) = (query.flag("stdout"), query.flag("stderr"));
    let (_, addr) = find(engine, id).await?;
    let Attachment {
        output,
        tty,
        stdin,
        stdin_once,
        log,
    } = addr
        .send(Attach {
            typed: id.to_owned(),
            stdin: query.flag("stdin"),
            stream: query.flag("stream"),
        })
        .await??;
    // With the `none` driver there is no log to replay.
    let preamble = if let Some(log) = log.filter(|_| query.flag("logs") && (stdout || stderr)) {
        let options = logs::ReadOptions {
            stdout,
            stderr,
            timestamps: false,
            tail: None,
            since: None,
            until: None,
        };
        actix_rt::task::spawn_blocking(move || logs::read(&log, &options, tty))
            .await
            .map_err(|err| ApiError::internal(format!("reading logs: {err}")))??
    } else {
        Vec::new()
    };
    let framing = Framing::of_tty(tty);
    let session = Session {
        output,
        stdout,
        stderr,
        framing,
        preamble,
        input: stdin.map(|port| SessionInput {
            port,
            close_at_eof: stdin_once && !tty,
            detach: tty.then_some(detach_keys),
        }),
        before_close: None,
        on_detach: Some(Box::new(move || addr.do_send(Detached { exec_id: None }))),
    };
    Ok(hijack::upgrade(req, framing, async move { session }))
}

/// A terminal dimension as Docker parses it: a decimal number without sign.
fn dimension(query: &Query, key: &str, name: &str) -> Result<u16, ApiError> {
    let text = query.get(key).unwrap_or("");
    let invalid =
        |why: &str| ApiError::bad_request(format!("invalid resize {name} {text:?}: {why}"));
    if text.is_empty() || text.starts_with('+') {
        return Err(invalid("invalid syntax"));
    }
    if let Some(digits) = text.strip_prefix('-') {
        return match digits.parse::<u64>() {
            Ok(_) => Err(invalid("value out of range")),
            Err(_) => Err(invalid("invalid syntax")),
        };
    }
    let value: u64 = text.parse().map_err(|_| invalid("invalid syntax"))?;
    u16::try_from(value).map_err(|_| invalid("value out of range"))
}

/// `h` and `w` of a resize request; a terminal cannot be 0 rows or columns.
pub fn terminal_size(query: &Query) -> Result<(u16, u16), ApiError> {
    let rows = dimension(query, "h", "height")?;
    let columns = dimension(query, "w", "width")?;
    if rows == 0 || columns == 0 {
        return Err(ApiError::bad_request(format!(
            "invalid resize {rows}x{columns}: a terminal needs at least 1 row and 1 column"
        )));
    }
    Ok((rows, columns))
}

pub async fn resize(engine: &Engine, id: &str, req: Request<Incoming>) -> ApiResult {
    let (rows, columns) = terminal_size(&Query::parse(req.uri().query()))?;
    let (_, addr) = find(engine, id).await?;
    addr.send(Resize { rows, columns }).await??;
    status_only(hyper::StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_sizes_parse_like_docker_and_refuse_zero() {
        let size = |q: &str| terminal_size(&Query::parse(Some(q)));
        assert_eq!(size("h=24&w=80").unwrap(), (24, 80));
        assert_eq!(
            size("h=&w=80").unwrap_err().message,
            "invalid resize height \"\": invalid syntax"
        );
        assert_eq!(
            size("h=-1&w=80").unwrap_err().message,
            "invalid resize height \"-1\": value out of range"
        );
        assert_eq!(
            size("h=24&w=abc").unwrap_err().message,
            "invalid resize width \"abc\": invalid syntax"
        );
        let zero = size("h=0&w=0").unwrap_err();
        assert_eq!(zero.status(), hyper::StatusCode::BAD_REQUEST);
        assert!(zero.message.contains("0x0"), "{}", zero.message);
        assert!(size("h=70000&w=80").is_err());
    }
}
