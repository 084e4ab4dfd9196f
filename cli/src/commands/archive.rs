//! Archive commands: `save`, `load`, and a container's file system: `export` and `diff`.

use std::io::Write;

use http_body_util::BodyExt;
use hyper::Method;

use crate::client::query::segment;
use crate::client::query::Query;
use crate::client::{empty_body, Client};
use crate::commands::images::file_body;
use crate::commands::registry::{render, Target};
use crate::error::CliError;
use crate::registry_args::{DiffArgs, ExportArgs, LoadArgs, SaveArgs};

/// Copies a streamed response body to `-o FILE` (written to a temporary name and renamed
/// once complete) or to standard output, which must not be a terminal.
pub async fn write_download(
    response: hyper::Response<hyper::body::Incoming>,
    output: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let (mut out, partial): (Box<dyn Write>, Option<std::path::PathBuf>) = match output {
        Some(path) => {
            let partial = path.with_file_name(format!(
                ".{}.partial",
                path.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("download")
            ));
            let file = std::fs::File::create(&partial)
                .map_err(|e| CliError::io(format!("creating {}", partial.display()), e))?;
            (Box::new(std::io::BufWriter::new(file)), Some(partial))
        }
        None => {
            if rustix::termios::isatty(std::io::stdout()) {
                return Err(CliError::Usage(
                    "Cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
                ));
            }
            (Box::new(std::io::stdout()), None)
        }
    };
    let result = copy_body(response, &mut out).await.map(|_| ());
    drop(out);
    match (result, partial, output) {
        (Ok(()), Some(partial), Some(path)) => std::fs::rename(&partial, path)
            .map_err(|e| CliError::io(format!("renaming to {}", path.display()), e)),
        (Err(e), Some(partial), _) => {
            let _ = std::fs::remove_file(partial);
            Err(e)
        }
        (result, _, _) => result,
    }
}

/// Writes a response body to `out` as it arrives; the bytes written.
pub async fn copy_body(
    response: hyper::Response<hyper::body::Incoming>,
    out: &mut impl Write,
) -> Result<u64, CliError> {
    let mut body = response.into_body();
    let mut size = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Status {
            code: 1,
            message: format!("error during the transfer from the daemon: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data)
                .map_err(|e| CliError::io("writing the archive", e))?;
            size += data.len() as u64;
        }
    }
    out.flush()
        .map_err(|e| CliError::io("writing the archive", e))?;
    Ok(size)
}

pub async fn save(client: &mut Client, args: SaveArgs) -> Result<(), CliError> {
    if args.platform.is_some() {
        return Err(CliError::Unsupported("'berth save --platform'".into()));
    }
    let mut query = Query::new();
    for image in &args.images {
        query = query.param("names", image.clone());
    }
    let path = format!("/images/get{}", query.build());
    let response = client.stream(Method::GET, &path, empty_body()).await?;
    write_download(response, args.output.as_deref()).await
}

pub async fn load(client: &mut Client, args: LoadArgs) -> Result<(), CliError> {
    if args.platform.is_some() {
        return Err(CliError::Unsupported("'berth load --platform'".into()));
    }
    let body = match &args.input {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| CliError::io(format!("open {}", path.display()), e))?;
            file_body(file)
        }
        None => {
            if rustix::termios::isatty(std::io::stdin()) {
                return Err(CliError::Usage(
                    "requested load from stdin, but stdin is empty".into(),
                ));
            }
            file_body(tokio::io::stdin())
        }
    };
    let query = Query::new().flag("quiet", args.quiet);
    let path = format!("/images/load{}", query.build());
    let response = client.stream(Method::POST, &path, body).await?;
    render(response, Target::Stdout.unless_quiet(args.quiet)).await?;
    Ok(())
}

/// `diff`: one line per change, `A`dded, `C`hanged or `D`eleted, as docker prints them.
pub async fn diff(client: &mut Client, args: DiffArgs) -> Result<(), CliError> {
    let path = format!("/containers/{}/changes", segment(&args.container));
    let changes: Vec<serde_json::Value> = client.get(&path).await?;
    let mut text = String::new();
    for change in &changes {
        let letter = match change["Kind"].as_u64() {
            Some(0) => 'C',
            Some(1) => 'A',
            Some(2) => 'D',
            _ => '?',
        };
        text.push(letter);
        text.push(' ');
        text.push_str(change["Path"].as_str().unwrap_or(""));
        text.push('\n');
    }
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing output", e))
}

pub async fn export(client: &mut Client, args: ExportArgs) -> Result<(), CliError> {
    let path = format!("/containers/{}/export", segment(&args.container));
    let response = client.stream(Method::GET, &path, empty_body()).await?;
    write_download(response, args.output.as_deref()).await
}
