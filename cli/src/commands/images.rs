//! Image commands: `images`, `rmi`, `tag`, `import`.

use std::io::Write;
use std::path::Path;

use bollard_stubs::models::{ImageDeleteResponseItem, ImageSummary};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::Method;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::args::{ImagesArgs, ImportArgs, RmiArgs, TagArgs};
use crate::client::query::{segment, Query};
use crate::client::{Client, RequestBody};
use crate::commands::ps::parse_filters;
use crate::error::{all_succeeded, CliError};
use crate::format::units::{ago, go_time_string, human_size, human_size_with_precision, short_id};
use crate::format::Template;
use crate::progress::fail_if_error;

const DEFAULT_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGESTS_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

const HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

pub fn list_path(args: &ImagesArgs) -> Result<String, CliError> {
    let mut filters = parse_filters(&args.filter)?;
    if let Some(reference) = &args.reference {
        filters.push(("reference".to_owned(), reference.clone()));
    }
    let query = Query::new().flag("all", args.all).filters(&filters);
    Ok(format!("/images/json{}", query.build()))
}

pub async fn images(client: &mut Client, args: ImagesArgs) -> Result<(), CliError> {
    if args.tree {
        return Err(CliError::Unsupported("'berth images --tree'".into()));
    }
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.ID}}",
        (Some(f), false) if f != "table" => f.as_str(),
        _ if args.digests => DIGESTS_FORMAT,
        _ => DEFAULT_FORMAT,
    };
    let template = Template::parse(format)?;
    let images: Vec<ImageSummary> = client.get(&list_path(&args)?).await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|image| rows(image, !args.no_trunc, now))
        .collect();
    let text = template.render_rows(&rows, HEADERS)?;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing the image list", e))
}

/// Splits `name:tag` at the tag's colon (not a registry port's).
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "<none>"),
    }
}

/// One row per tag, as docker lists them; an untagged image is one
/// `<none>` row (named after its digest's repository when it has one).
pub fn rows(image: &ImageSummary, trunc: bool, now: i64) -> Vec<Value> {
    let id = if trunc {
        short_id(&image.id).to_owned()
    } else {
        image.id.clone()
    };
    let digest_for = |repo: &str| {
        image
            .repo_digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(name, _)| *name == repo)
                    .map(|(_, dg)| dg.to_owned())
            })
            .unwrap_or_else(|| "<none>".to_owned())
    };
    let na_or = |n: i64, f: &dyn Fn(i64) -> String| if n < 0 { "N/A".to_owned() } else { f(n) };
    let row = |repository: &str, tag: &str, digest: String| {
        json!({
            "Containers": na_or(image.containers, &|n| n.to_string()),
            "CreatedAt": go_time_string(image.created),
            "CreatedSince": ago(image.created, now),
            "Digest": digest,
            "ID": id,
            "Repository": repository,
            "SharedSize": na_or(image.shared_size, &|n| human_size(n as f64)),
            "Size": human_size(image.size as f64),
            "Tag": tag,
            "UniqueSize": na_or(image.shared_size, &|n| human_size((image.size - n) as f64)),
            "VirtualSize": human_size_with_precision(image.virtual_size.unwrap_or(image.size) as f64, 4),
        })
    };
    let tags: Vec<&String> = image
        .repo_tags
        .iter()
        .filter(|t| t.as_str() != "<none>:<none>")
        .collect();
    if tags.is_empty() {
        let from_digest = image.repo_digests.iter().find_map(|d| d.split_once('@'));
        return vec![match from_digest {
            Some((repo, digest)) => row(repo, "<none>", digest.to_owned()),
            None => row("<none>", "<none>", "<none>".to_owned()),
        }];
    }
    tags.iter()
        .map(|reference| {
            let (repo, tag) = split_tag(reference);
            row(repo, tag, digest_for(repo))
        })
        .collect()
}

pub async fn rmi(client: &mut Client, args: RmiArgs) -> Result<(), CliError> {
    let mut errors = Vec::new();
    let mut out = std::io::stdout();
    for image in &args.images {
        let query = Query::new()
            .flag("force", args.force)
            .flag("noprune", args.no_prune);
        let path = format!("/images/{}{}", segment(image), query.build());
        match client.call(Method::DELETE, &path, None).await {
            Ok(body) => {
                let items: Vec<ImageDeleteResponseItem> = crate::client::decode(&path, &body)?;
                for item in items {
                    let line = match (item.untagged, item.deleted) {
                        (Some(untagged), _) => format!("Untagged: {untagged}\n"),
                        (None, Some(deleted)) => format!("Deleted: {deleted}\n"),
                        (None, None) => continue,
                    };
                    out.write_all(line.as_bytes())
                        .map_err(|e| CliError::io("writing output", e))?;
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    all_succeeded(errors)
}

/// `NAME[:TAG]` → (name, tag), the tag defaulting to `latest`. Digests cannot
/// be the target of a tag.
pub(crate) fn split_target(reference: &str) -> Result<(&str, &str), CliError> {
    if reference.contains('@') {
        return Err(CliError::Usage(format!(
            "invalid reference format: \"{reference}\" is a digest reference and cannot be a tag"
        )));
    }
    Ok(match split_tag(reference) {
        (name, "<none>") => (name, "latest"),
        (name, tag) => (name, tag),
    })
}

pub async fn tag(client: &mut Client, args: TagArgs) -> Result<(), CliError> {
    let (repo, tag) = split_target(&args.target)?;
    let query = Query::new().param("repo", repo).param("tag", tag);
    let path = format!("/images/{}/tag{}", segment(&args.source), query.build());
    client.call(Method::POST, &path, None).await?;
    Ok(())
}

pub fn import_path(args: &ImportArgs) -> Result<String, CliError> {
    let mut query = Query::new().param("fromSrc", "-");
    if let Some(reference) = &args.reference {
        let (repo, tag) = split_target(reference)?;
        query = query.param("repo", repo).param("tag", tag);
    }
    query = query.param_opt("message", args.message.clone());
    for change in &args.change {
        query = query.param("changes", change.clone());
    }
    Ok(format!("/images/create{}", query.build()))
}

/// Streams the tarball as the request body, in chunks, without reading it
/// into memory first.
pub fn file_body<R: tokio::io::AsyncRead + Unpin + Send + 'static>(reader: R) -> RequestBody {
    let chunks = futures_util::stream::unfold(reader, |mut reader| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), reader))
            }
            Err(e) => Some((Err(e), reader)),
        }
    });
    BodyExt::boxed_unsync(StreamBody::new(chunks.boxed()))
}

pub async fn import(client: &mut Client, args: ImportArgs) -> Result<(), CliError> {
    if args.platform.is_some() {
        return Err(CliError::Unsupported("'berth import --platform'".into()));
    }
    if args.source.contains("://") {
        return Err(CliError::Unsupported("importing from a URL".into()));
    }
    let path = import_path(&args)?;
    let body = if args.source == "-" {
        file_body(tokio::io::stdin())
    } else {
        let file = tokio::fs::File::open(Path::new(&args.source))
            .await
            .map_err(|e| CliError::io(format!("open {}", args.source), e))?;
        file_body(file)
    };
    let response = client.stream(Method::POST, &path, body).await?;
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| CliError::Status {
            code: 1,
            message: format!("reading the import progress: {e}"),
        })?
        .to_bytes();
    print_json_messages(&bytes)
}

/// The daemon answers an import with a stream of JSON messages; statuses
/// are printed, an error message ends the command.
fn print_json_messages(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout();
    for message in serde_json::Deserializer::from_slice(bytes).into_iter::<Value>() {
        let message = message.map_err(|e| CliError::Status {
            code: 1,
            message: format!("the daemon's import progress is not JSON: {e}"),
        })?;
        fail_if_error(&message)?;
        if let Some(status) = message.get("status").and_then(Value::as_str) {
            writeln!(out, "{status}").map_err(|e| CliError::io("writing output", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_daemon::{FakeDaemon, Reply};

    fn import_routes(_: &str, path: &str) -> Reply {
        if path.starts_with("/v1.49/images/create?") {
            Reply::Json(200, "{\"status\":\"sha256:1234\"}\n".into())
        } else {
            Reply::Json(500, r#"{"message":"unexpected"}"#.into())
        }
    }

    #[tokio::test]
    async fn import_streams_the_file_as_the_body() {
        let daemon = FakeDaemon::start(import_routes);
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("rootfs.tar");
        let content: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&tarball, &content).unwrap();
        let mut client = Client::new(daemon.host());
        let args = ImportArgs {
            change: vec![],
            message: None,
            platform: None,
            source: tarball.display().to_string(),
            reference: Some("busybox".into()),
        };
        import(&mut client, args).await.unwrap();
        let requests = daemon.requests.lock().unwrap().clone();
        assert_eq!(
            requests[0].path,
            "/v1.49/images/create?fromSrc=-&repo=busybox&tag=latest"
        );
        assert!(
            requests[0].body == content,
            "the body is the file, byte for byte"
        );
    }

    #[test]
    fn image_rows_match_docker() {
        let now = 1_800_000_000;
        let images: Vec<ImageSummary> = serde_json::from_value(json!([
            {"Id": "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999", "ParentId": "",
             "RepoTags": ["busybox:latest", "localhost:5000/mybox:1.0"], "RepoDigests": [], "Created": now - 3 * 86400,
             "Size": 4261376, "SharedSize": -1, "Labels": null, "Containers": -1},
            {"Id": "sha256:1111bbbbccccddddeeeeffff0000111122223333444455556666777788889999", "ParentId": "",
             "RepoTags": [], "RepoDigests": [], "Created": now - 30, "Size": 1234, "SharedSize": -1,
             "Labels": {}, "Containers": -1}
        ]))
        .unwrap();
        let rows: Vec<Value> = images.iter().flat_map(|i| rows(i, true, now)).collect();
        let text = Template::parse(DEFAULT_FORMAT)
            .unwrap()
            .render_rows(&rows, HEADERS)
            .unwrap();
        assert_eq!(
            text,
            "REPOSITORY             TAG       IMAGE ID       CREATED          SIZE\n\
             busybox                latest    aaaabbbbcccc   3 days ago       4.26MB\n\
             localhost:5000/mybox   1.0       aaaabbbbcccc   3 days ago       4.26MB\n\
             <none>                 <none>    1111bbbbcccc   30 seconds ago   1.23kB\n"
        );
        assert_eq!(rows[0]["VirtualSize"], "4.261MB");
        assert_eq!(rows[0]["Containers"], "N/A");
        assert_eq!(rows[0]["Digest"], "<none>");
    }

    #[test]
    fn import_and_list_queries() {
        let args = ImportArgs {
            change: vec!["CMD [\"/bin/sh\"]".into()],
            message: Some("msg".into()),
            platform: None,
            source: "-".into(),
            reference: Some("repo:tag".into()),
        };
        assert_eq!(
            import_path(&args).unwrap(),
            "/images/create?fromSrc=-&repo=repo&tag=tag&message=msg&changes=CMD+%5B%22%2Fbin%2Fsh%22%5D"
        );
        let args = ImportArgs {
            change: vec![],
            message: None,
            platform: None,
            source: "f".into(),
            reference: Some("localhost:5000/busybox".into()),
        };
        assert_eq!(
            import_path(&args).unwrap(),
            "/images/create?fromSrc=-&repo=localhost%3A5000%2Fbusybox&tag=latest"
        );
        let args = ImagesArgs {
            reference: Some("bus*".into()),
            ..Default::default()
        };
        assert_eq!(
            list_path(&args).unwrap(),
            "/images/json?filters=%7B%22reference%22%3A%7B%22bus*%22%3Atrue%7D%7D"
        );
    }

    #[test]
    fn import_progress_errors_fail() {
        assert!(print_json_messages(br#"{"status":"sha256:abc"}"#).is_ok());
        let err =
            print_json_messages(br#"{"errorDetail":{"message":"bad tar"},"error":"bad tar"}"#)
                .unwrap_err();
        assert_eq!(err.to_string(), "bad tar");
    }
}
