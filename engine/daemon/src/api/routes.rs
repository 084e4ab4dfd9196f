//! Which endpoint a request names: the method and path alone decide, before any handler
//! runs, so the routing is testable and measurable without a running engine.

use hyper::Method;

use super::error::ApiError;

/// One endpoint of the Docker Engine API that berth serves, with the IDs and names its path
/// carries. Image names may contain slashes, so they are joined back from their segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Ping,
    Version,
    Info,
    Events,
    SystemDf,
    Auth,
    ContainerList,
    ContainerCreate,
    ContainerPrune,
    ContainerInspect(&'a str),
    ContainerStart(&'a str),
    ContainerStop(&'a str),
    ContainerRestart(&'a str),
    ContainerKill(&'a str),
    ContainerWait(&'a str),
    ContainerRename(&'a str),
    ContainerAttach(&'a str),
    ContainerResize(&'a str),
    ContainerLogs(&'a str),
    ContainerTop(&'a str),
    ContainerStats(&'a str),
    ContainerPause(&'a str),
    ContainerUnpause(&'a str),
    ContainerExport(&'a str),
    ContainerChanges(&'a str),
    ContainerPathStat(&'a str),
    ContainerArchiveGet(&'a str),
    ContainerArchivePut(&'a str),
    ContainerRemove(&'a str),
    ContainerUpdate(&'a str),
    ExecCreate(&'a str),
    ExecStart(&'a str),
    ExecResize(&'a str),
    ExecInspect(&'a str),
    Build,
    BuildPrune,
    Commit,
    ImageCreate,
    ImageList,
    ImageSaveMany,
    ImageLoad,
    ImagePrune,
    ImagePush(String),
    ImageHistory(String),
    ImageSave(String),
    ImageInspect(String),
    ImageTag(String),
    ImageRemove(String),
    NetworkList,
    NetworkCreate,
    NetworkPrune,
    NetworkInspect(&'a str),
    NetworkRemove(&'a str),
    NetworkConnect(&'a str),
    NetworkDisconnect(&'a str),
    VolumeCreate,
    VolumeList,
    VolumePrune,
    VolumeInspect(&'a str),
    VolumeRemove(&'a str),
}

/// The route of `method` and `path` (the path after its `/v1.NN` prefix is stripped), or
/// the error Docker answers for a path it does not serve: 501 for endpoints berth will
/// add, 404 otherwise.
pub fn parse_route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, ApiError> {
    let segments: Vec<&'a str> = path.trim_matches('/').split('/').collect();
    let image = |name: &[&str]| name.join("/");
    let route = match (method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Route::Ping,
        (&Method::GET, ["version"]) => Route::Version,
        (&Method::GET, ["info"]) => Route::Info,
        (&Method::GET, ["events"]) => Route::Events,
        (&Method::GET, ["system", "df"]) => Route::SystemDf,
        (&Method::POST, ["auth"]) => Route::Auth,

        (&Method::GET, ["containers", "json"]) => Route::ContainerList,
        (&Method::POST, ["containers", "create"]) => Route::ContainerCreate,
        (&Method::POST, ["containers", "prune"]) => Route::ContainerPrune,
        (&Method::GET, ["containers", id, "json"]) => Route::ContainerInspect(id),
        (&Method::POST, ["containers", id, "start"]) => Route::ContainerStart(id),
        (&Method::POST, ["containers", id, "stop"]) => Route::ContainerStop(id),
        (&Method::POST, ["containers", id, "restart"]) => Route::ContainerRestart(id),
        (&Method::POST, ["containers", id, "kill"]) => Route::ContainerKill(id),
        (&Method::POST, ["containers", id, "wait"]) => Route::ContainerWait(id),
        (&Method::POST, ["containers", id, "rename"]) => Route::ContainerRename(id),
        (&Method::POST, ["containers", id, "attach"]) => Route::ContainerAttach(id),
        (&Method::POST, ["containers", id, "resize"]) => Route::ContainerResize(id),
        (&Method::POST, ["containers", id, "exec"]) => Route::ExecCreate(id),
        (&Method::GET, ["containers", id, "logs"]) => Route::ContainerLogs(id),
        (&Method::GET, ["containers", id, "top"]) => Route::ContainerTop(id),
        (&Method::GET, ["containers", id, "stats"]) => Route::ContainerStats(id),
        (&Method::POST, ["containers", id, "pause"]) => Route::ContainerPause(id),
        (&Method::POST, ["containers", id, "unpause"]) => Route::ContainerUnpause(id),
        (&Method::GET, ["containers", id, "export"]) => Route::ContainerExport(id),
        (&Method::GET, ["containers", id, "changes"]) => Route::ContainerChanges(id),
        (&Method::HEAD, ["containers", id, "archive"]) => Route::ContainerPathStat(id),
        (&Method::GET, ["containers", id, "archive"]) => Route::ContainerArchiveGet(id),
        (&Method::PUT, ["containers", id, "archive"]) => Route::ContainerArchivePut(id),
        (&Method::DELETE, ["containers", id]) => Route::ContainerRemove(id),
        (&Method::POST, ["containers", id, "update"]) => Route::ContainerUpdate(id),

        (&Method::POST, ["exec", id, "start"]) => Route::ExecStart(id),
        (&Method::POST, ["exec", id, "resize"]) => Route::ExecResize(id),
        (&Method::GET, ["exec", id, "json"]) => Route::ExecInspect(id),

        (&Method::GET, ["networks"]) => Route::NetworkList,
        (&Method::POST, ["networks", "create"]) => Route::NetworkCreate,
        (&Method::POST, ["networks", "prune"]) => Route::NetworkPrune,
        (&Method::GET, ["networks", id]) => Route::NetworkInspect(id),
        (&Method::DELETE, ["networks", id]) => Route::NetworkRemove(id),
        (&Method::POST, ["networks", id, "connect"]) => Route::NetworkConnect(id),
        (&Method::POST, ["networks", id, "disconnect"]) => Route::NetworkDisconnect(id),

        (&Method::POST, ["build"]) => Route::Build,
        (&Method::POST, ["build", "prune"]) => Route::BuildPrune,
        (&Method::POST, ["commit"]) => Route::Commit,
        (&Method::POST, ["images", "create"]) => Route::ImageCreate,
        (&Method::GET, ["images", "json"]) => Route::ImageList,
        (&Method::GET, ["images", "get"]) => Route::ImageSaveMany,
        (&Method::POST, ["images", "load"]) => Route::ImageLoad,
        (&Method::POST, ["images", "prune"]) => Route::ImagePrune,
        (&Method::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            Route::ImagePush(image(name))
        }
        (&Method::GET, ["images", name @ .., "history"]) if !name.is_empty() => {
            Route::ImageHistory(image(name))
        }
        (&Method::GET, ["images", name @ .., "get"]) if !name.is_empty() => {
            Route::ImageSave(image(name))
        }
        (&Method::GET, ["images", name @ .., "json"]) if !name.is_empty() => {
            Route::ImageInspect(image(name))
        }
        (&Method::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            Route::ImageTag(image(name))
        }
        (&Method::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            Route::ImageRemove(image(name))
        }
        (&Method::POST, ["volumes", "create"]) => Route::VolumeCreate,
        (&Method::GET, ["volumes"]) => Route::VolumeList,
        (&Method::POST, ["volumes", "prune"]) => Route::VolumePrune,
        (&Method::GET, ["volumes", name]) => Route::VolumeInspect(name),
        (&Method::DELETE, ["volumes", name]) => Route::VolumeRemove(name),
        _ => return Err(unsupported_or_unknown(method, path)),
    };
    Ok(route)
}

/// Endpoints of the Docker API that later work will add answer 501 with a clear text;
/// anything else is Docker's 404 "page not found".
fn unsupported_or_unknown(method: &Method, path: &str) -> ApiError {
    const LATER: &[&str] = &[
        "/build",
        "/volumes",
        "/system",
        "/plugins",
        "/swarm",
        "/services",
        "/nodes",
        "/secrets",
        "/configs",
        "/tasks",
        "/session",
        "/distribution",
    ];
    let container_later = ["/attach/ws"];
    if LATER.iter().any(|p| path.starts_with(p))
        || (path.starts_with("/containers/") && container_later.iter().any(|s| path.ends_with(s)))
        || (path.starts_with("/images/") && method != Method::GET)
        || path.starts_with("/images/search")
    {
        return ApiError::unsupported(&format!("{method} {path}"));
    }
    ApiError::not_found("page not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_and_exec_paths_carry_their_ids() {
        assert_eq!(
            parse_route(&Method::POST, "/containers/abc/start").unwrap(),
            Route::ContainerStart("abc")
        );
        assert_eq!(
            parse_route(&Method::DELETE, "/containers/abc").unwrap(),
            Route::ContainerRemove("abc")
        );
        assert_eq!(
            parse_route(&Method::GET, "/exec/e1/json").unwrap(),
            Route::ExecInspect("e1")
        );
        assert_eq!(parse_route(&Method::HEAD, "/_ping").unwrap(), Route::Ping);
    }

    #[test]
    fn image_names_keep_their_slashes() {
        assert_eq!(
            parse_route(&Method::GET, "/images/localhost:5000/team/app/json").unwrap(),
            Route::ImageInspect("localhost:5000/team/app".into())
        );
        assert_eq!(
            parse_route(&Method::DELETE, "/images/library/busybox").unwrap(),
            Route::ImageRemove("library/busybox".into())
        );
        // "json" and "get" alone are the listing and the multi-image save.
        assert_eq!(
            parse_route(&Method::GET, "/images/json").unwrap(),
            Route::ImageList
        );
    }

    #[test]
    fn unknown_paths_are_404_and_later_endpoints_501() {
        let status = |method: Method, path: &str| parse_route(&method, path).unwrap_err().status();
        assert_eq!(
            status(Method::GET, "/nothing/here"),
            hyper::StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(Method::GET, "/containers/abc/json/extra"),
            hyper::StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(Method::POST, "/swarm/init"),
            hyper::StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            parse_route(&Method::POST, "/networks/front/connect").unwrap(),
            Route::NetworkConnect("front")
        );
        assert_eq!(
            status(Method::GET, "/containers/abc"),
            hyper::StatusCode::NOT_FOUND
        );
    }
}
