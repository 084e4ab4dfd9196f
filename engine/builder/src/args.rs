//! Build arguments and their scopes, as BuildKit's Dockerfile frontend scopes them.
//!
//! - Global `ARG`s (before the first `FROM`) are visible to `FROM` lines only; a stage sees
//!   one only after re-declaring it (`ARG NAME`), and then gets its global value.
//! - A value given with `--build-arg` wins over any default.
//! - The proxy variables (`HTTP_PROXY`…) may be given without being declared: RUN then sees
//!   them, but they stay out of the history and the cache key, as in Docker.
//! - `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT` and the `BUILD…` ones are
//!   defined in the global scope, and in a stage once declared.

use std::collections::{BTreeMap, BTreeSet};

use crate::dockerfile::ArgDecl;
use crate::subst::{self, SubstError, Vars};

/// Arguments a stage may use without declaring them (for RUN only).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The platform a build targets (berth builds for the one it runs on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
}

impl Platform {
    /// The machine berthd runs on, in OCI's names.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: String::new(),
        }
    }

    pub fn to_spec(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.arch)
        } else {
            format!("{}/{}/{}", self.os, self.arch, self.variant)
        }
    }

    fn automatic_args(&self) -> Vec<(String, String)> {
        let mut args = Vec::new();
        for prefix in ["TARGET", "BUILD"] {
            args.push((format!("{prefix}PLATFORM"), self.to_spec()));
            args.push((format!("{prefix}OS"), self.os.clone()));
            args.push((format!("{prefix}ARCH"), self.arch.clone()));
            args.push((format!("{prefix}VARIANT"), self.variant.clone()));
        }
        args
    }
}

/// What the client gave (`buildargs`) and for which platform.
#[derive(Debug, Clone)]
pub struct BuildArgs {
    pub given: BTreeMap<String, String>,
    pub platform: Platform,
}

/// The arguments declared so far in one scope, in declaration order, with their values
/// (`None`: declared without a value or default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgScope {
    declared: Vec<(String, Option<String>)>,
}

impl ArgScope {
    pub fn get(&self, name: &str) -> Option<&Option<String>> {
        self.declared
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn set(&mut self, name: &str, value: Option<String>) {
        self.declared.retain(|(n, _)| n != name);
        self.declared.push((name.to_string(), value));
    }

    /// The declared arguments that have a value, sorted by name.
    pub fn values(&self) -> BTreeMap<String, String> {
        self.declared
            .iter()
            .filter_map(|(n, v)| v.clone().map(|v| (n.clone(), v)))
            .collect()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.declared.iter().map(|(n, _)| n.as_str())
    }
}

impl Vars for ArgScope {
    fn get(&self, name: &str) -> Option<String> {
        ArgScope::get(self, name).cloned().flatten()
    }
}

impl BuildArgs {
    /// The scope `FROM` lines are substituted in.
    pub fn global_scope(&self, decls: &[ArgDecl], escape: char) -> Result<ArgScope, SubstError> {
        let mut scope = ArgScope::default();
        for (name, value) in self.platform.automatic_args() {
            scope.set(&name, Some(value));
        }
        for decl in decls {
            let value = match self.given.get(&decl.name) {
                Some(given) => Some(given.clone()),
                None => decl
                    .default
                    .as_deref()
                    .map(|d| subst::process_word(d, &scope, escape))
                    .transpose()?,
            };
            scope.set(&decl.name, value);
        }
        Ok(scope)
    }

    /// Declares `decl` in a stage's `scope`: the given value, else the default (substituted
    /// with `vars`, the stage's variables so far), else the global value.
    pub fn declare(
        &self,
        scope: &mut ArgScope,
        global: &ArgScope,
        decl: &ArgDecl,
        vars: &dyn Vars,
        escape: char,
    ) -> Result<(), SubstError> {
        let value = match (self.given.get(&decl.name), &decl.default) {
            (Some(given), _) => Some(given.clone()),
            (None, Some(default)) => Some(subst::process_word(default, vars, escape)?),
            (None, None) => global.get(&decl.name).cloned().flatten(),
        };
        scope.set(&decl.name, value);
        Ok(())
    }

    /// The proxy arguments given but not declared in `scope`: RUN's environment gets them.
    pub fn undeclared_proxies(&self, scope: &ArgScope) -> Vec<(String, String)> {
        PROXY_ARGS
            .iter()
            .filter(|name| scope.get(name).is_none())
            .filter_map(|name| self.given.get(*name).map(|v| (name.to_string(), v.clone())))
            .collect()
    }

    /// Given arguments no stage declared (Docker warns about them).
    pub fn unused(&self, used: &BTreeSet<String>) -> Vec<&str> {
        self.given
            .keys()
            .filter(|k| !used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(given: &[(&str, &str)]) -> BuildArgs {
        BuildArgs {
            given: given
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            platform: Platform {
                os: "linux".into(),
                arch: "amd64".into(),
                variant: String::new(),
            },
        }
    }

    fn decl(name: &str, default: Option<&str>) -> ArgDecl {
        ArgDecl {
            name: name.into(),
            default: default.map(str::to_string),
        }
    }

    #[test]
    fn global_defaults_chain_and_given_values_win() {
        let a = args(&[("TAG", "1.2")]);
        let scope = a
            .global_scope(
                &[
                    decl("BASE", Some("busybox")),
                    decl("TAG", Some("latest")),
                    decl("REF", Some("$BASE:$TAG")),
                ],
                '\\',
            )
            .unwrap();
        assert_eq!(Vars::get(&scope, "REF").as_deref(), Some("busybox:1.2"));
        assert_eq!(
            Vars::get(&scope, "TARGETPLATFORM").as_deref(),
            Some("linux/amd64")
        );
        assert_eq!(Vars::get(&scope, "BUILDARCH").as_deref(), Some("amd64"));
    }

    #[test]
    fn a_stage_sees_a_global_only_once_declared() {
        let a = args(&[]);
        let global = a.global_scope(&[decl("V", Some("g"))], '\\').unwrap();
        let mut stage = ArgScope::default();
        assert_eq!(Vars::get(&stage, "V"), None);
        let none = |_: &str| None;
        a.declare(&mut stage, &global, &decl("V", None), &none, '\\')
            .unwrap();
        assert_eq!(Vars::get(&stage, "V").as_deref(), Some("g"));
        a.declare(&mut stage, &global, &decl("TARGETOS", None), &none, '\\')
            .unwrap();
        assert_eq!(Vars::get(&stage, "TARGETOS").as_deref(), Some("linux"));
        let vars = stage.clone();
        a.declare(
            &mut stage,
            &global,
            &decl("W", Some("${V:-x}-w")),
            &vars,
            '\\',
        )
        .unwrap();
        assert_eq!(Vars::get(&stage, "W").as_deref(), Some("g-w"));
        a.declare(&mut stage, &global, &decl("U", None), &none, '\\')
            .unwrap();
        assert_eq!(stage.get("U"), Some(&None));
        assert_eq!(stage.values().len(), 3);
    }

    #[test]
    fn proxies_need_no_declaration_and_unused_args_are_reported() {
        let a = args(&[
            ("http_proxy", "http://p:3128"),
            ("UNUSED", "1"),
            ("USED", "2"),
        ]);
        let scope = ArgScope::default();
        assert_eq!(
            a.undeclared_proxies(&scope),
            vec![("http_proxy".to_string(), "http://p:3128".to_string())]
        );
        let used = BTreeSet::from(["USED".to_string()]);
        assert_eq!(a.unused(&used), vec!["UNUSED"]);
    }
}
