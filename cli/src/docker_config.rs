//! Credentials in `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`), in Docker's
//! format: `{"auths": {"<registry>": {"auth": "<base64 user:password>"}}}`. Every other
//! field of the file is kept as it is. Credential helpers (`credsStore`, `credHelpers`)
//! are run by [`crate::credentials`], which uses this file for the rest.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::CliError;

/// Docker Hub's key in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

pub struct DockerConfig {
    path: PathBuf,
    root: Map<String, Value>,
}

/// A registry login as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
    pub server: String,
}

impl DockerConfig {
    /// The file the docker CLI would use: `$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`.
    pub fn default_path(env: impl Fn(&str) -> Option<String>) -> Result<PathBuf, CliError> {
        if let Some(dir) = env("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Ok(Path::new(&dir).join("config.json"));
        }
        let home = env("HOME").filter(|h| !h.is_empty()).ok_or_else(|| {
            CliError::Usage(
                "cannot find the docker config: neither DOCKER_CONFIG nor HOME is set".into(),
            )
        })?;
        Ok(Path::new(&home).join(".docker").join("config.json"))
    }

    pub fn load(path: &Path) -> Result<DockerConfig, CliError> {
        let root = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) | Err(_) => {
                    return Err(CliError::Usage(format!(
                        "{} is not a docker config file (a JSON object)",
                        path.display()
                    )))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(CliError::io(format!("reading {}", path.display()), e)),
        };
        Ok(DockerConfig {
            path: path.to_path_buf(),
            root,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file, as read (or as changed since).
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.root.get("auths").and_then(Value::as_object)
    }

    /// The stored login for `registry` (a key as `auth_key` gives, matched as Docker
    /// does, ignoring a scheme and path on either side).
    pub fn login(&self, registry: &str) -> Option<Login> {
        let wanted = hostname(registry);
        let (key, entry) = self
            .auths()?
            .iter()
            .find(|(key, _)| *key == registry || hostname(key) == wanted)?;
        let encoded = entry.get("auth").and_then(Value::as_str)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        Some(Login {
            username: username.to_owned(),
            password: password.to_owned(),
            server: key.clone(),
        })
    }

    pub fn store(&mut self, registry: &str, username: &str, password: &str) {
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.store_entry(registry, serde_json::json!({ "auth": auth }));
    }

    /// Sets `registry`'s entry in `auths` to `entry`.
    pub fn store_entry(&mut self, registry: &str, entry: Value) {
        let auths = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let auths = auths.as_object_mut().expect("made an object above");
        auths.insert(registry.to_owned(), entry);
    }

    /// Removes the login for `registry`; returns whether there was one.
    pub fn remove(&mut self, registry: &str) -> bool {
        let wanted = hostname(registry);
        let Some(auths) = self.root.get_mut("auths").and_then(Value::as_object_mut) else {
            return false;
        };
        let keys: Vec<String> = auths
            .keys()
            .filter(|key| *key == registry || hostname(key) == wanted)
            .cloned()
            .collect();
        for key in &keys {
            auths.remove(key);
        }
        !keys.is_empty()
    }

    /// Writes the file atomically, readable by its owner only (it holds passwords).
    pub fn save(&self) -> Result<(), CliError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::io(format!("creating {}", dir.display()), e))?;
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let mut text = serde_json::to_vec_pretty(&Value::Object(self.root.clone()))
            .expect("a JSON object serializes");
        text.push(b'\n');
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(CliError::io(format!("writing {}", self.path.display()), e));
        }
        Ok(())
    }
}

/// `https://host:port/v1/` → `host:port`.
pub fn hostname(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The `auths` key for the registry of an image reference's domain.
pub fn auth_key(domain: &str) -> String {
    if domain == "docker.io" || domain == "index.docker.io" {
        DOCKER_HUB_KEY.to_owned()
    } else {
        domain.to_owned()
    }
}

/// The registry domain of an image name, as Docker splits it: the first component, when
/// it has a `.` or `:` or is `localhost`.
pub fn image_domain(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            first
        }
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_finds_logins_in_dockers_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://old.example/v1/":{"auth":"dTpw"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let mut config = DockerConfig::load(&path).unwrap();
        assert_eq!(
            config.login("old.example"),
            Some(Login {
                username: "u".into(),
                password: "p".into(),
                server: "https://old.example/v1/".into()
            })
        );
        config.store("127.0.0.1:5000", "alice", "s:cret");
        config.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["auths"]["127.0.0.1:5000"]["auth"], "YWxpY2U6czpjcmV0");
        assert_eq!(json["psFormat"], "x", "other settings are kept");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut config = DockerConfig::load(&path).unwrap();
        assert_eq!(config.login("127.0.0.1:5000").unwrap().password, "s:cret");
        assert!(config.remove("127.0.0.1:5000"));
        assert!(!config.remove("127.0.0.1:5000"));
        assert_eq!(config.login("127.0.0.1:5000"), None);
    }

    #[test]
    fn registry_keys_follow_docker() {
        assert_eq!(image_domain("busybox"), "docker.io");
        assert_eq!(image_domain("user/app"), "docker.io");
        assert_eq!(image_domain("localhost:5000/app"), "localhost:5000");
        assert_eq!(
            image_domain("registry.example.com/a/b"),
            "registry.example.com"
        );
        assert_eq!(auth_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(auth_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            DockerConfig::default_path(|k| (k == "HOME").then(|| "/home/u".to_owned())).unwrap(),
            Path::new("/home/u/.docker/config.json")
        );
    }
}
