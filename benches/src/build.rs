//! Fixtures of the builder benchmark (`benches/benches/build_rebuild.rs`): a build context of
//! many small files, and an executor that stores nothing, so that what is measured is the
//! builder's own work on a cached rebuild (parsing, planning, hashing the context, looking
//! the steps up in the cache).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_builder::args::{BuildArgs, Platform};
use berth_builder::build::Options;
use berth_builder::executor::{
    BaseImage, CommitSpec, ExecError, Executor, LayerWriter, Network, Progress, RunOutcome, RunSpec,
};

/// The 10-step Dockerfile of issue 11's benchmark.
pub const DOCKERFILE: &str = "FROM base\n\
    ENV APP=/app\n\
    WORKDIR /app\n\
    RUN echo prepare\n\
    COPY tree /app/tree\n\
    RUN echo build\n\
    LABEL bench=rebuild\n\
    EXPOSE 8080\n\
    USER nobody\n\
    CMD [\"/app/run\"]\n";

/// The build of [`DOCKERFILE`] as a client asks for it with no flags.
pub fn options() -> Options {
    Options {
        dockerfile: DOCKERFILE.as_bytes().to_vec(),
        target: None,
        build_args: BuildArgs {
            given: Default::default(),
            platform: Platform::host(),
        },
        labels: Default::default(),
        tags: vec![],
        no_cache: false,
        pull: false,
        cache_from: vec![],
        network: Network::Default,
        secrets: Default::default(),
    }
}

/// Writes `mb` MiB of 4 KiB files under `dir/tree`, 256 to a directory; how many.
pub fn context_tree(dir: &Path, mb: usize) -> usize {
    let files = mb * 256;
    let content = vec![b'x'; 4096];
    for i in 0..files {
        let sub = dir.join("tree").join(format!("d{:04}", i / 256));
        if i % 256 == 0 {
            std::fs::create_dir_all(&sub).expect("creating a context directory");
        }
        std::fs::write(sub.join(format!("f{i}")), &content).expect("writing a context file");
    }
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).expect("writing the Dockerfile");
    files
}

/// An executor whose images are numbers and whose RUNs do nothing.
#[derive(Default)]
pub struct NullExecutor {
    next: AtomicU64,
    pub runs: AtomicU64,
}

impl NullExecutor {
    fn new_id(&self) -> String {
        format!(
            "sha256:{:064x}",
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        )
    }
}

impl Executor for NullExecutor {
    fn base_image(&self, _: &str, _: bool, _: &dyn Progress) -> Result<BaseImage, ExecError> {
        Ok(BaseImage {
            id: format!("sha256:{:064x}", 0),
            config: Default::default(),
            healthcheck: None,
            on_build: Vec::new(),
        })
    }
    fn image_exists(&self, _: &str) -> bool {
        true
    }
    fn with_rootfs(&self, _: &str, work: &mut (dyn FnMut(&Path) + Send)) -> Result<(), ExecError> {
        let empty = tempfile::tempdir().expect("an empty root");
        work(empty.path());
        Ok(())
    }
    fn run(
        &self,
        _: Option<&str>,
        _: &RunSpec,
        _: &mut dyn FnMut(&str),
        _: &dyn Progress,
    ) -> Result<RunOutcome, ExecError> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        Ok(RunOutcome::Committed { id: self.new_id() })
    }
    fn commit(
        &self,
        _: Option<&str>,
        _: Option<&Path>,
        _: &CommitSpec,
    ) -> Result<String, ExecError> {
        Ok(self.new_id())
    }
    fn commit_tar(
        &self,
        _: Option<&str>,
        write: &mut LayerWriter<'_>,
        _: &CommitSpec,
    ) -> Result<String, ExecError> {
        write(&mut std::io::sink())
            .map_err(|e| ExecError::new(berth_builder::ErrorKind::Internal, e.to_string()))?;
        Ok(self.new_id())
    }
    fn fetch(&self, url: &str, _: &Path) -> Result<(), ExecError> {
        Err(ExecError::new(
            berth_builder::ErrorKind::Unavailable,
            format!("the benchmark fetches nothing ({url})"),
        ))
    }
    fn tag(&self, _: &str, _: &str) -> Result<(), ExecError> {
        Ok(())
    }
}

/// Output that goes nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn stream(&self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_builder::build::Builder;
    use berth_builder::cache::Cache;
    use berth_builder::context::Context;

    #[test]
    fn a_second_build_of_the_fixture_runs_nothing() {
        if !crate::is_root() {
            eprintln!("skipped: COPY chowns to root, which needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        assert_eq!(context_tree(&ctx, 1), 256);
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let context = Context::at(&ctx);
        let executor = NullExecutor::default();
        let builder = Builder {
            executor: &executor,
            cache: &cache,
            context: &context,
            scratch: &scratch,
        };
        let options = options();
        let first = builder.build(&options, &Quiet).unwrap();
        assert_eq!(executor.runs.load(Ordering::Relaxed), 2);
        let second = builder.build(&options, &Quiet).unwrap();
        assert_eq!(second, first);
        assert_eq!(executor.runs.load(Ordering::Relaxed), 2, "all cached");
    }
}
