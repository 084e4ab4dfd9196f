//! `inspect`, `container inspect`, `image inspect`: the daemon's JSON
//! document, indented as docker prints it, or rendered through `--format`.

use std::io::Write;

use hyper::Method;

use crate::client::query::{segment, Query};
use crate::client::{Client, ClientError};
use crate::error::{all_succeeded, CliError};
use crate::format::{json, Template};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Containers first, then images, as docker looks them up.
    Any,
    Container,
    Image,
    Network {
        verbose: bool,
    },
    /// `volume inspect` shows the volume as docker's Go struct re-encodes it;
    /// the generic `inspect` shows the daemon's document.
    Volume {
        as_struct: bool,
    },
}

impl Kind {
    pub fn from_flag(flag: Option<&str>) -> Kind {
        match flag {
            Some("container") => Kind::Container,
            Some("image") => Kind::Image,
            Some("network") => Kind::Network { verbose: false },
            Some("volume") => Kind::Volume { as_struct: false },
            _ => Kind::Any,
        }
    }
}

async fn fetch(
    client: &mut Client,
    kind: Kind,
    name: &str,
    size: bool,
) -> Result<bytes::Bytes, String> {
    let container_path = format!(
        "/containers/{}/json{}",
        segment(name),
        Query::new().flag("size", size).build()
    );
    let image_path = format!("/images/{}/json", segment(name));
    let network_path = |verbose: bool| {
        format!(
            "/networks/{}{}",
            segment(name),
            // docker spells this one `true`, not `1`.
            Query::new()
                .param_opt("verbose", verbose.then_some("true"))
                .build()
        )
    };
    let volume_path = format!("/volumes/{}", segment(name));
    let plain = |e: ClientError| e.to_string();
    match kind {
        Kind::Container => client
            .call(Method::GET, &container_path, None)
            .await
            .map_err(plain),
        Kind::Image => client
            .call(Method::GET, &image_path, None)
            .await
            .map_err(plain),
        Kind::Network { verbose } => client
            .call(Method::GET, &network_path(verbose), None)
            .await
            .map_err(plain),
        Kind::Volume { as_struct } => client
            .call(Method::GET, &volume_path, None)
            .await
            .map_err(plain)
            .map(|raw| if as_struct { as_go_volume(&raw) } else { raw }),
        Kind::Any => {
            // docker's order: containers, images, networks, volumes.
            for path in [container_path, image_path, network_path(false), volume_path] {
                match client.call(Method::GET, &path, None).await {
                    Err(e) if e.is_not_found() => continue,
                    other => return other.map_err(plain),
                }
            }
            Err(format!("Error: No such object: {name}"))
        }
    }
}

/// docker prints a volume as its Go struct re-encodes it, not as the daemon
/// sent it: the struct's fields only, in its (alphabetical) order, the
/// `omitempty` ones left out when empty.
fn as_go_volume(raw: &bytes::Bytes) -> bytes::Bytes {
    const FIELDS: &[(&str, bool)] = &[
        ("ClusterVolume", true),
        ("CreatedAt", true),
        ("Driver", false),
        ("Labels", false),
        ("Mountpoint", false),
        ("Name", false),
        ("Options", false),
        ("Scope", false),
        ("Status", true),
        ("UsageData", true),
    ];
    let Ok(serde_json::Value::Object(volume)) = serde_json::from_slice(raw) else {
        return raw.clone();
    };
    let empty = |v: &serde_json::Value| match v {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Object(m) => m.is_empty(),
        _ => false,
    };
    let go: serde_json::Map<String, serde_json::Value> = FIELDS
        .iter()
        .filter_map(|(field, omit_empty)| {
            let value = volume
                .get(*field)
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            (!(*omit_empty && empty(&value))).then(|| (field.to_string(), value))
        })
        .collect();
    bytes::Bytes::from(serde_json::Value::Object(go).to_string())
}

pub async fn inspect(
    client: &mut Client,
    kind: Kind,
    names: &[String],
    format: Option<&str>,
    size: bool,
) -> Result<(), CliError> {
    // A template that does not parse fails before anything is fetched.
    let template = match format {
        Some(f) if !f.is_empty() && f != "json" => Some(Template::parse(f)?),
        _ => None,
    };
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match fetch(client, kind, name, size).await {
            Ok(raw) => documents.push(raw),
            Err(e) => errors.push(e),
        }
    }
    let mut text = String::new();
    match &template {
        Some(template) => {
            for raw in &documents {
                let value: serde_json::Value = crate::client::decode("inspect", raw)?;
                match template.render(&value) {
                    Ok(rendered) => {
                        text.push_str(&rendered);
                        text.push('\n');
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        None => {
            let joined: Vec<&[u8]> = documents.iter().map(|d| d.as_ref()).collect();
            let array = [b"[".as_slice(), &joined.join(b",".as_slice()), b"]"].concat();
            if format == Some("json") {
                let value: serde_json::Value = crate::client::decode("inspect", &array)?;
                text.push_str(&value.to_string());
            } else {
                text.push_str(&json::indent(&array, "", "    "));
            }
            text.push('\n');
        }
    }
    if template.is_some() && documents.is_empty() {
        // docker's template inspector prints an empty line when nothing was found.
        text.push('\n');
    }
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::io("writing output", e))?;
    all_succeeded(errors)
}
