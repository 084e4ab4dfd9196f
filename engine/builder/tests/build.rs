//! Whole builds against a fake executor: what runs, what is cached, what is printed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_builder::args::{BuildArgs, Platform};
use berth_builder::build::{BuildError, Builder, Options};
use berth_builder::cache::Cache;
use berth_builder::context::Context;
use berth_builder::executor::{
    BaseImage, CommitSpec, ExecError, Executor, LayerWriter, Network, Progress, RunOutcome, RunSpec,
};
use berth_builder::ErrorKind;
use oci_spec::image::Config;

/// Images as directories: each image's whole file system, copied from its parent's and
/// its layer.
struct Fake {
    root: PathBuf,
    /// RUN steps whose command starts with `meet` wait here for one another.
    meeting: std::sync::Barrier,
    images: Mutex<HashMap<String, (Config, Vec<String>)>>,
    runs: Mutex<Vec<RunSpec>>,
    tags: Mutex<Vec<(String, String)>>,
    /// The layer tars of COPY steps made straight from the context.
    tars: Mutex<Vec<Vec<u8>>>,
    next: Mutex<u64>,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl Fake {
    fn new(root: &Path) -> Fake {
        let fake = Fake {
            root: root.to_path_buf(),
            meeting: std::sync::Barrier::new(2),
            images: Mutex::new(HashMap::new()),
            runs: Mutex::new(Vec::new()),
            tags: Mutex::new(Vec::new()),
            tars: Mutex::new(Vec::new()),
            next: Mutex::new(0),
        };
        let base = root.join("sha256:base");
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::write(base.join("etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
        let mut config = Config::default();
        config.set_env(Some(vec!["PATH=/bin".into()]));
        config.set_cmd(Some(vec!["sh".into()]));
        fake.images
            .lock()
            .unwrap()
            .insert("sha256:base".into(), (config, vec![]));
        fake
    }

    fn new_image(&self, parent: Option<&str>, layer: Option<&Path>, spec: &CommitSpec) -> String {
        let mut next = self.next.lock().unwrap();
        *next += 1;
        let id = format!("sha256:{:064x}", *next);
        let dir = self.root.join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut history = Vec::new();
        if let Some(parent) = parent {
            copy_dir(&self.root.join(parent), &dir);
            history = self.images.lock().unwrap()[parent].1.clone();
        }
        if let Some(layer) = layer {
            copy_dir(layer, &dir);
        }
        history.push(spec.created_by.clone());
        self.images
            .lock()
            .unwrap()
            .insert(id.clone(), (spec.config.clone(), history));
        id
    }

    fn history(&self, id: &str) -> Vec<String> {
        self.images.lock().unwrap()[id].1.clone()
    }
}

impl Executor for Fake {
    fn base_image(
        &self,
        name: &str,
        _pull: bool,
        _: &dyn Progress,
    ) -> Result<BaseImage, ExecError> {
        if name != "busybox" {
            return Err(ExecError::new(
                ErrorKind::NotFound,
                format!("No such image: {name}"),
            ));
        }
        Ok(BaseImage {
            id: "sha256:base".into(),
            config: self.images.lock().unwrap()["sha256:base"].0.clone(),
            healthcheck: None,
            on_build: Vec::new(),
        })
    }
    fn image_exists(&self, id: &str) -> bool {
        self.images.lock().unwrap().contains_key(id)
    }
    fn with_rootfs(
        &self,
        image: &str,
        work: &mut (dyn FnMut(&Path) + Send),
    ) -> Result<(), ExecError> {
        work(&self.root.join(image));
        Ok(())
    }
    fn run(
        &self,
        parent: Option<&str>,
        spec: &RunSpec,
        started: &mut dyn FnMut(&str),
        progress: &dyn Progress,
    ) -> Result<RunOutcome, ExecError> {
        started("c0ffee0000000000");
        self.runs.lock().unwrap().push(spec.clone());
        let script = spec.argv.last().cloned().unwrap_or_default();
        if script.starts_with("meet") {
            // Two stages' steps meet here: a build running them one after the other
            // would wait forever, so the test's thread gives up on it.
            self.meeting.wait();
        }
        progress.output(format!("ran {script}\n").as_bytes());
        if let Some(code) = script.strip_prefix("exit ") {
            return Ok(RunOutcome::Failed {
                code: code.trim().parse().unwrap(),
            });
        }
        let layer = tempfile::tempdir().unwrap();
        std::fs::write(layer.path().join("ran"), &script).unwrap();
        Ok(RunOutcome::Committed {
            id: self.new_image(parent, Some(layer.path()), &spec.commit),
        })
    }
    fn commit(
        &self,
        parent: Option<&str>,
        layer: Option<&Path>,
        spec: &CommitSpec,
    ) -> Result<String, ExecError> {
        Ok(self.new_image(parent, layer, spec))
    }
    fn commit_tar(
        &self,
        parent: Option<&str>,
        write: &mut LayerWriter<'_>,
        spec: &CommitSpec,
    ) -> Result<String, ExecError> {
        let mut tar = Vec::new();
        write(&mut tar).unwrap();
        self.tars.lock().unwrap().push(tar.clone());
        let layer = tempfile::tempdir().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.unpack(layer.path()).unwrap();
        Ok(self.new_image(parent, Some(layer.path()), spec))
    }
    fn fetch(&self, url: &str, dest: &Path) -> Result<(), ExecError> {
        match url.strip_prefix("http://files.test/") {
            Some(name) => {
                std::fs::write(dest, format!("downloaded {name}")).unwrap();
                Ok(())
            }
            None => Err(ExecError::new(
                ErrorKind::Unavailable,
                format!("cannot fetch {url}"),
            )),
        }
    }
    fn tag(&self, image: &str, reference: &str) -> Result<(), ExecError> {
        self.tags
            .lock()
            .unwrap()
            .push((image.into(), reference.into()));
        Ok(())
    }
}

/// COPY gives files to root (0:0), which only root may do.
fn root_or_skip() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        eprintln!("skipped: COPY chowns to root, which needs root");
    }
    root
}

#[derive(Default)]
struct Output(Mutex<String>);

impl Progress for Output {
    fn stream(&self, text: &str) {
        self.0.lock().unwrap().push_str(text);
    }
}

struct Env {
    dir: tempfile::TempDir,
    fake: Fake,
    cache: Cache,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["images", "ctx", "scratch"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("ctx/app.txt"), "v1").unwrap();
        let fake = Fake::new(&dir.path().join("images"));
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        Env { dir, fake, cache }
    }

    fn build(
        &self,
        dockerfile: &str,
        tweak: impl FnOnce(&mut Options),
    ) -> (Result<String, BuildError>, String) {
        let context = Context::at(&self.dir.path().join("ctx"));
        let builder = Builder {
            executor: &self.fake,
            cache: &self.cache,
            context: &context,
            scratch: &self.dir.path().join("scratch"),
        };
        let mut options = Options {
            dockerfile: dockerfile.as_bytes().to_vec(),
            target: None,
            build_args: BuildArgs {
                given: BTreeMap::new(),
                platform: Platform::host(),
            },
            labels: BTreeMap::new(),
            tags: vec!["app".into()],
            no_cache: false,
            pull: false,
            cache_from: vec![],
            network: Network::Default,
            secrets: Default::default(),
        };
        tweak(&mut options);
        let output = Output::default();
        let result = builder.build(&options, &output).map(|o| o.image);
        (result, output.0.into_inner().unwrap())
    }
}

const SIMPLE: &str =
    "FROM busybox\nENV GREETING=hi\nRUN echo $GREETING\nCOPY app.txt /srv/\nCMD [\"sh\"]\n";

#[test]
fn a_build_streams_steps_and_records_history() {
    if !root_or_skip() {
        return;
    }
    let env = Env::new();
    let (image, out) = env.build(SIMPLE, |_| {});
    let image = image.unwrap();
    assert!(
        out.starts_with("Step 1/5 : FROM busybox\n ---> base\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "Step 3/5 : RUN echo $GREETING\n ---> Running in c0ffee000000\nran echo $GREETING\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!("Successfully built {}\n", &image[7..19])),
        "{out}"
    );
    assert!(out.ends_with("Successfully tagged app:latest\n"), "{out}");
    let history = env.fake.history(&image);
    assert_eq!(history[0], "/bin/sh -c #(nop)  ENV GREETING=hi");
    assert_eq!(history[1], "/bin/sh -c echo $GREETING");
    assert!(
        history[2].starts_with("/bin/sh -c #(nop) COPY file:"),
        "{history:?}"
    );
    assert!(history[2].ends_with(" in /srv/ "), "{history:?}");
    assert_eq!(history[3], "/bin/sh -c #(nop)  CMD [\"sh\"]");
    let run = &env.fake.runs.lock().unwrap()[0];
    assert_eq!(run.argv, vec!["/bin/sh", "-c", "echo $GREETING"]);
    assert_eq!(run.env, vec!["PATH=/bin", "GREETING=hi"]);
    let files = env.fake.root.join(&image);
    assert_eq!(std::fs::read(files.join("srv/app.txt")).unwrap(), b"v1");
    assert_eq!(
        env.fake.tags.lock().unwrap()[0],
        (image.clone(), "app".to_string())
    );
}

#[test]
fn a_rebuild_is_all_cache_and_a_changed_file_redoes_from_its_copy() {
    if !root_or_skip() {
        return;
    }
    let env = Env::new();
    let first = env.build(SIMPLE, |_| {}).0.unwrap();
    let (second, out) = env.build(SIMPLE, |_| {});
    assert_eq!(second.unwrap(), first);
    assert_eq!(out.matches(" ---> Using cache").count(), 4, "{out}");
    assert_eq!(env.fake.runs.lock().unwrap().len(), 1, "nothing ran again");

    std::fs::write(env.dir.path().join("ctx/app.txt"), "v2").unwrap();
    let (third, out) = env.build(SIMPLE, |_| {});
    assert_ne!(third.unwrap(), first);
    assert_eq!(
        out.matches(" ---> Using cache").count(),
        2,
        "ENV and RUN only: {out}"
    );
    assert_eq!(env.fake.runs.lock().unwrap().len(), 1);

    let (_, out) = env.build(SIMPLE, |o| o.no_cache = true);
    assert!(!out.contains("Using cache"), "{out}");
    assert_eq!(env.fake.runs.lock().unwrap().len(), 2);
}

#[test]
fn cache_from_limits_hits_to_the_named_images_ancestors() {
    if !root_or_skip() {
        return;
    }
    let env = Env::new();
    env.build(SIMPLE, |_| {}).0.unwrap();
    // busybox (the base) has no built ancestors: nothing is a hit.
    let (_, out) = env.build(SIMPLE, |o| o.cache_from = vec!["busybox".into()]);
    assert!(!out.contains("Using cache"), "{out}");
}

#[test]
fn a_failing_run_says_which_command_and_code() {
    let env = Env::new();
    let (result, _) = env.build("FROM busybox\nRUN exit 3\n", |_| {});
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    );
    assert!(
        env.fake.tags.lock().unwrap().is_empty(),
        "nothing is tagged"
    );
}

#[test]
fn multi_stage_with_target_skips_what_it_does_not_need() {
    let env = Env::new();
    let dockerfile = "FROM busybox AS build\nRUN make\n\
        FROM busybox AS unused\nRUN exit 1\n\
        FROM busybox AS final\nCOPY --from=build /ran /built\n\
        FROM final AS extra\nRUN exit 2\n";
    let (image, out) = env.build(dockerfile, |o| o.target = Some("final".into()));
    let image = image.unwrap();
    assert!(out.contains("Step 1/4 : FROM busybox AS build"), "{out}");
    assert!(
        out.contains("Step 4/4 : COPY --from=build /ran /built"),
        "{out}"
    );
    assert!(!out.contains("exit"), "{out}");
    assert_eq!(
        std::fs::read(env.fake.root.join(&image).join("built")).unwrap(),
        b"make"
    );
}

#[test]
fn independent_stages_run_and_print_in_order() {
    let env = Env::new();
    let dockerfile = "FROM busybox AS a\nRUN one\nFROM busybox AS b\nRUN two\n\
        FROM busybox\nCOPY --from=a /ran /a\nCOPY --from=b /ran /b\n";
    let (image, out) = env.build(dockerfile, |_| {});
    let image = image.unwrap();
    let a = out.find("ran one").unwrap();
    let b = out.find("Step 3/7 : FROM busybox AS b").unwrap();
    assert!(a < b, "stage b's lines come after stage a's: {out}");
    let files = env.fake.root.join(&image);
    assert_eq!(std::fs::read(files.join("a")).unwrap(), b"one");
    assert_eq!(std::fs::read(files.join("b")).unwrap(), b"two");
}

#[test]
fn build_args_scope_and_history() {
    let env = Env::new();
    let dockerfile = "ARG TAG=busybox\nFROM $TAG\nARG V=default\nARG TAG\nRUN echo $V\n";
    let (image, out) = env.build(dockerfile, |o| {
        o.build_args.given.insert("V".into(), "given".into());
        o.build_args.given.insert("STRAY".into(), "x".into());
    });
    let image = image.unwrap();
    assert_eq!(
        env.fake.history(&image)[2],
        "|2 TAG=busybox V=given /bin/sh -c echo $V"
    );
    assert!(
        out.contains("[Warning] One or more build-args [STRAY] were not consumed"),
        "{out}"
    );
    let run = &env.fake.runs.lock().unwrap()[0];
    assert!(run.env.contains(&"V=given".to_string()), "{:?}", run.env);
}

#[test]
fn secrets_reach_the_run_but_not_its_cache_key() {
    use berth_builder::mounts::{RunMount, SecretValue, Secrets};
    let env = Env::new();
    let dockerfile = "FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n\
        RUN --mount=type=secret,id=absent true\n";
    let with = |content: &'static [u8]| {
        move |o: &mut Options| {
            o.secrets = Secrets([("tok".to_string(), SecretValue(content.to_vec()))].into());
        }
    };
    env.build(dockerfile, with(b"first")).0.unwrap();
    {
        let runs = env.fake.runs.lock().unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            runs[0].mounts,
            vec![RunMount::Secret {
                target: "/run/secrets/tok".into(),
                content: SecretValue(b"first".to_vec()),
                mode: 0o400,
                uid: 0,
                gid: 0,
            }]
        );
        assert_eq!(
            runs[1].mounts,
            vec![],
            "an optional secret not given is skipped"
        );
    }
    // Another content of the same secret is still a hit, as in BuildKit.
    let (result, out) = env.build(dockerfile, with(b"second"));
    result.unwrap();
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
    assert_eq!(env.fake.runs.lock().unwrap().len(), 2);
}

#[test]
fn bad_input_is_a_clear_error() {
    let env = Env::new();
    let err = |dockerfile: &str| env.build(dockerfile, |_| {}).0.unwrap_err();
    let e = err("FROM busybox\nCOPY ../secret /x\n");
    assert!(
        e.to_string()
            .contains("forbidden path outside the build context"),
        "{e}"
    );
    let e = err("FROM busybox\nCOPY missing /x\n");
    assert!(
        e.to_string().contains("file not found in build context"),
        "{e}"
    );
    let e = err("FROM nothing-here\n");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = err("FROM busybox\nRUN --mount=type=secret,id=t,required true\n");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("secret t: not found"), "{e}");
    let e = err("FROM busybox\nRUN --mount=type=ssh,target=/t true\n");
    assert_eq!(e.kind(), ErrorKind::NotImplemented);
    let e = err("FROM busybox\nRUN --mount=type=bind,source=../x,target=/x true\n");
    assert!(e.to_string().contains("outside the build context"), "{e}");
    let e = err("FROM busybox\nADD http://example.invalid/x /x\n");
    assert!(
        e.to_string()
            .contains("ADD failed: cannot fetch http://example.invalid/x"),
        "{e}"
    );
    let e = err("FROM busybox\nCOPY http://files.test/a /x\n");
    assert!(
        e.to_string().contains("source can't be a URL for COPY"),
        "{e}"
    );
    let e = err("FROM --platform=linux/s390x busybox\n");
    assert_eq!(e.kind(), ErrorKind::NotImplemented, "{e}");
    env.build("FROM --platform=$BUILDPLATFORM busybox\n", |_| {})
        .0
        .unwrap();
    let e = err("FROM busybox\nBOGUS x\n");
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = err("FROM busybox\nCOPY app.txt app.txt /notadir\n");
    assert!(e.to_string().contains("must be a directory"), "{e}");
}

#[test]
fn workdir_and_heredocs() {
    if !root_or_skip() {
        return;
    }
    let env = Env::new();
    let dockerfile = "FROM busybox\nWORKDIR /app\nCOPY <<EOF greeting.txt\nhello $HOSTNAME\nEOF\nRUN <<EOF\necho from heredoc\nEOF\n";
    let (image, _) = env.build(dockerfile, |_| {});
    let image = image.unwrap();
    let files = env.fake.root.join(&image);
    assert!(files.join("app").is_dir());
    assert_eq!(
        std::fs::read(files.join("app/greeting.txt")).unwrap(),
        b"hello \n"
    );
    let run = &env.fake.runs.lock().unwrap()[0];
    assert_eq!(run.argv, vec!["/bin/sh", "-c", "echo from heredoc\n"]);
    assert_eq!(run.working_dir, "/app");
    assert_eq!(
        env.fake.history(&image)[0],
        "/bin/sh -c #(nop) WORKDIR /app"
    );
}

#[test]
fn labels_of_the_request_are_a_last_step() {
    let env = Env::new();
    let (image, out) = env.build("FROM busybox\n", |o| {
        o.labels.insert("org.example".into(), "yes".into());
    });
    let image = image.unwrap();
    assert!(
        out.contains("Step 2/2 : LABEL \"org.example\"=\"yes\""),
        "{out}"
    );
    let config = &env.fake.images.lock().unwrap()[&image].0;
    assert_eq!(config.labels().clone().unwrap()["org.example"], "yes");
}

#[test]
fn run_mounts_reach_the_executor_and_a_bound_file_decides_the_cache() {
    use berth_builder::mounts::{RunMount, Sharing};
    let env = Env::new();
    let dockerfile = "FROM busybox\nRUN --mount=type=cache,target=/var/cache/apk,id=apk --mount=type=bind,source=app.txt,target=/app.txt --mount=type=tmpfs,target=/tmp,size=1m use\n";
    env.build(dockerfile, |_| {}).0.unwrap();
    let mounts = env.fake.runs.lock().unwrap()[0].mounts.clone();
    assert_eq!(
        mounts[0],
        RunMount::Cache {
            id: "apk".into(),
            target: "/var/cache/apk".into(),
            sharing: Sharing::Shared,
            readonly: false,
            uid: 0,
            gid: 0,
            mode: 0o755,
        }
    );
    assert_eq!(
        mounts[1],
        RunMount::Bind {
            source: env.dir.path().join("ctx/app.txt"),
            target: "/app.txt".into(),
            readonly: true,
        }
    );
    assert_eq!(
        mounts[2],
        RunMount::Tmpfs {
            target: "/tmp".into(),
            options: "size=1m".into(),
        }
    );
    let (_, out) = env.build(dockerfile, |_| {});
    assert!(out.contains("Using cache"), "{out}");
    std::fs::write(env.dir.path().join("ctx/app.txt"), "changed").unwrap();
    let (_, out) = env.build(dockerfile, |_| {});
    assert!(
        !out.contains("Using cache"),
        "the bound file changed: {out}"
    );
}

#[test]
fn independent_stages_run_at_the_same_time() {
    let env = std::sync::Arc::new(Env::new());
    let dockerfile = "FROM busybox AS a\nRUN meet a\nFROM busybox AS b\nRUN meet b\n\
        FROM busybox\nCOPY --from=a /ran /a\nCOPY --from=b /ran /b\n";
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = env.clone();
    std::thread::spawn(move || {
        let _ = tx.send(
            shared
                .build(dockerfile, |_| {})
                .0
                .map_err(|e| e.to_string()),
        );
    });
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the stages ran one after the other: their steps never met");
    result.unwrap();
}

#[test]
fn add_downloads_a_url_to_a_private_file() {
    if !root_or_skip() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let (image, _) = env.build(
        "FROM busybox\nADD http://files.test/data.tar /srv/\n",
        |_| {},
    );
    let file = env.fake.root.join(image.unwrap()).join("srv/data.tar");
    assert_eq!(std::fs::read(&file).unwrap(), b"downloaded data.tar");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
