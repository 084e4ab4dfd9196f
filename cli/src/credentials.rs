//! Registry credentials, where the docker CLI keeps them: a credential helper named in the
//! config file (`credHelpers` per registry, else `credsStore`), or the file's own `auths`.
//!
//! A helper is the program `docker-credential-NAME` on `PATH`, spoken to as docker/cli
//! does: `get` and `erase` read the server address on standard input, `store` reads
//! `{"ServerURL","Username","Secret"}`, and `get` answers with the same object. A login
//! kept by a helper still gets an empty entry in `auths`, as docker writes one, so the
//! file lists every registry logged in to.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::docker_config::{hostname, DockerConfig, Login};
use crate::error::CliError;

/// What a helper answers when it has nothing for a server (docker-credential-helpers'
/// `ErrCredentialsNotFound`).
const NOT_FOUND: &str = "credentials not found in native keychain";

#[derive(Serialize, Deserialize)]
struct HelperCredentials {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The credentials of every registry, as configured in one docker config file.
pub struct Credentials {
    config: DockerConfig,
}

impl Credentials {
    pub fn new(config: DockerConfig) -> Credentials {
        Credentials { config }
    }

    /// The credential helper for `server`: its `credHelpers` entry, else `credsStore`.
    pub fn helper(&self, server: &str) -> Option<String> {
        let root = self.config.root();
        let host = hostname(server);
        root.get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|helpers| helpers.get(server).or_else(|| helpers.get(host)))
            .or_else(|| root.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
    }

    /// Whether `server`'s login is kept in the file itself (docker warns that it is
    /// unencrypted there).
    pub fn in_file(&self, server: &str) -> bool {
        self.helper(server).is_none()
    }

    pub fn config(&self) -> &DockerConfig {
        &self.config
    }

    /// The stored login for `server`, if any.
    pub fn get(&self, server: &str) -> Result<Option<Login>, CliError> {
        let Some(helper) = self.helper(server) else {
            return Ok(self.config.login(server));
        };
        let answer = match run_helper(&helper, "get", server.as_bytes()) {
            Ok(answer) => answer,
            Err(HelperFailure::Said(message)) if message.contains(NOT_FOUND) => return Ok(None),
            Err(failure) => return Err(failure.into_error(&helper, "get")),
        };
        let found: HelperCredentials = serde_json::from_slice(&answer).map_err(|e| {
            CliError::Usage(format!(
                "docker-credential-{helper} get answered with malformed JSON: {e}"
            ))
        })?;
        Ok(Some(Login {
            username: found.username,
            password: found.secret,
            server: server.to_owned(),
        }))
    }

    /// Keeps `server`'s login and saves the config file.
    pub fn store(&mut self, server: &str, username: &str, password: &str) -> Result<(), CliError> {
        match self.helper(server) {
            None => self.config.store(server, username, password),
            Some(helper) => {
                let request = HelperCredentials {
                    server_url: server.to_owned(),
                    username: username.to_owned(),
                    secret: password.to_owned(),
                };
                let body = serde_json::to_vec(&request).expect("credentials serialize");
                run_helper(&helper, "store", &body)
                    .map_err(|failure| failure.into_error(&helper, "store"))?;
                self.config.store_entry(server, serde_json::json!({}));
            }
        }
        self.config.save()
    }

    /// Forgets `server`'s login; returns whether there was one. The config file is saved
    /// when it changed.
    pub fn erase(&mut self, server: &str) -> Result<bool, CliError> {
        let mut found = false;
        if let Some(helper) = self.helper(server) {
            if self.get(server)?.is_some() {
                run_helper(&helper, "erase", server.as_bytes())
                    .map_err(|failure| failure.into_error(&helper, "erase"))?;
                found = true;
            }
        }
        if self.config.remove(server) {
            found = true;
            self.config.save()?;
        }
        Ok(found)
    }
}

enum HelperFailure {
    /// The program could not be run.
    Start(std::io::Error),
    /// It ran and failed, saying this.
    Said(String),
}

impl HelperFailure {
    fn into_error(self, helper: &str, action: &str) -> CliError {
        match self {
            HelperFailure::Start(e) => CliError::io(
                format!("running the credential helper docker-credential-{helper} {action}"),
                e,
            ),
            HelperFailure::Said(message) => CliError::Usage(format!(
                "error {action} credentials with docker-credential-{helper}: {message}"
            )),
        }
    }
}

/// Runs `docker-credential-<helper> <action>` with `input` on its standard input; returns
/// its standard output.
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>, HelperFailure> {
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(HelperFailure::Start)?;
    let written = child.stdin.take().expect("stdin is piped").write_all(input);
    let output = child.wait_with_output().map_err(HelperFailure::Start)?;
    if !output.status.success() {
        let mut message = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if message.is_empty() {
            message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        }
        if message.is_empty() {
            message = format!("it exited with {}", output.status);
        }
        return Err(HelperFailure::Said(message));
    }
    written.map_err(HelperFailure::Start)?;
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(json: &str) -> (tempfile::TempDir, Credentials) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        let config = DockerConfig::load(&path).unwrap();
        (dir, Credentials::new(config))
    }

    #[test]
    fn a_registrys_own_helper_wins_over_the_default_store() {
        let (_dir, creds) =
            credentials(r#"{"credsStore":"desktop","credHelpers":{"127.0.0.1:5000":"pass"}}"#);
        assert_eq!(creds.helper("127.0.0.1:5000").as_deref(), Some("pass"));
        assert_eq!(
            creds.helper("https://127.0.0.1:5000/v1/").as_deref(),
            Some("pass")
        );
        assert_eq!(creds.helper("other.example").as_deref(), Some("desktop"));
        let (_dir, creds) = credentials(r#"{"auths":{}}"#);
        assert_eq!(creds.helper("other.example"), None);
        assert!(creds.in_file("other.example"));
    }

    #[test]
    fn a_missing_helper_is_a_clear_error() {
        let (_dir, creds) = credentials(r#"{"credsStore":"berth-test-no-such-helper"}"#);
        let err = creds.get("127.0.0.1:5000").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-berth-test-no-such-helper"),
            "{err}"
        );
    }
}
