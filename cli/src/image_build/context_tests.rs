//! Tests of the build context: what the tar holds after `.dockerignore`,
//! where the Dockerfile is found, stdin detection.

use super::*;

fn entries(tar: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let header = e.header();
            assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
            e.path().unwrap().to_string_lossy().into_owned()
        })
        .collect()
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

#[test]
fn the_tar_leaves_out_what_dockerignore_excludes_but_keeps_the_build_files() {
    let dir = tree(&[
        ("Dockerfile", "FROM busybox\n"),
        (
            ".dockerignore",
            "*.log\nnode_modules\ndocs/**\n!docs/keep.md\nDockerfile\n.dockerignore\n",
        ),
        ("app.js", "x"),
        ("debug.log", "x"),
        ("node_modules/dep/index.js", "x"),
        ("docs/a.md", "x"),
        ("docs/keep.md", "x"),
        ("src/deep/main.rs", "x"),
    ]);
    std::os::unix::fs::symlink("app.js", dir.path().join("link")).unwrap();
    let mut tar = Vec::new();
    write_tar(dir.path(), "Dockerfile", &mut tar).unwrap();
    assert_eq!(
        entries(&tar),
        [
            ".dockerignore",
            "Dockerfile",
            "app.js",
            "docs/",
            "docs/keep.md",
            "link",
            "src/",
            "src/deep/",
            "src/deep/main.rs"
        ]
    );
    let mut archive = tar::Archive::new(&tar[..]);
    let link = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some("link"))
        .unwrap();
    assert_eq!(link.link_name().unwrap().unwrap().to_str(), Some("app.js"));
}

#[test]
fn without_exceptions_an_excluded_directory_is_not_walked() {
    let dir = tree(&[
        ("Dockerfile", "FROM x"),
        (".dockerignore", "build\n"),
        ("build/out", "x"),
    ]);
    let mut tar = Vec::new();
    write_tar(dir.path(), "Dockerfile", &mut tar).unwrap();
    assert_eq!(entries(&tar), [".dockerignore", "Dockerfile"]);
}

#[test]
fn the_dockerfile_is_found_as_docker_finds_it() {
    let dir = tree(&[
        ("ctx/Dockerfile", "FROM x"),
        ("ctx/sub/Other", "FROM y"),
        ("outside.df", "FROM z"),
    ]);
    let ctx = dir.path().join("ctx");
    let (root, rel) = local_dir(&ctx, None, Path::new("/")).unwrap();
    assert_eq!(
        (root.clone(), rel.as_str()),
        (std::fs::canonicalize(&ctx).unwrap(), "Dockerfile")
    );
    // -f is relative to the current directory.
    let (_, rel) = local_dir(Path::new("ctx"), Some("ctx/sub/Other"), dir.path()).unwrap();
    assert_eq!(rel, "sub/Other");
    let (_, rel) = local_dir(&ctx, Some("outside.df"), dir.path()).unwrap();
    assert_eq!(rel, "../outside.df");
    let missing = local_dir(&ctx, Some("nope"), dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("unable to prepare context: Cannot locate Dockerfile: "),
        "{missing}"
    );
    let lower = tree(&[("dockerfile", "FROM x")]);
    assert_eq!(
        local_dir(lower.path(), None, Path::new("/")).unwrap().1,
        "dockerfile"
    );
    let absent = local_dir(Path::new("/nonexistent/ctx"), None, Path::new("/")).unwrap_err();
    assert_eq!(
        absent.to_string(),
        "unable to prepare context: path \"/nonexistent/ctx\" not found"
    );
    let file = local_dir(&ctx.join("Dockerfile"), None, Path::new("/")).unwrap_err();
    assert!(
        file.to_string().contains("context must be a directory"),
        "{file}"
    );
}

#[test]
fn an_outside_dockerfile_is_added_under_a_random_name_and_ignored() {
    let dir = tree(&[("Dockerfile", "FROM a"), ("f", "x")]);
    let mut tar = Vec::new();
    write_tar(dir.path(), "Dockerfile", &mut tar).unwrap();
    let (tar, name) = add_dockerfile(&tar, b"FROM other\n").unwrap();
    assert!(
        name.starts_with(".dockerfile.") && name.len() == ".dockerfile.".len() + 20,
        "{name}"
    );
    let names = entries(&tar);
    assert!(
        names.contains(&name) && names.contains(&".dockerignore".to_owned()),
        "{names:?}"
    );
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        if path == ".dockerignore" {
            assert_eq!(text, format!(".dockerignore\n{name}\n"));
        } else if path == name {
            assert_eq!(text, "FROM other\n");
        }
    }
}

#[test]
fn stdin_is_an_archive_or_a_dockerfile() {
    let context = dockerfile_context(b"FROM busybox\n").unwrap();
    assert!(is_archive(&context));
    assert_eq!(entries(&context), ["Dockerfile"]);
    assert!(is_archive(&[0x1f, 0x8b, 0x08, 0, 0]));
    assert!(!is_archive(b"FROM busybox\nRUN true\n"));
    assert!(!is_archive(&[b'F'; 1024]));
    assert_eq!(detect("-"), Source::Stdin);
    assert_eq!(
        detect("https://example.com/ctx.tar"),
        Source::Remote("https://example.com/ctx.tar".into())
    );
    assert_eq!(
        detect("git@github.com:a/b.git"),
        Source::Remote("git@github.com:a/b.git".into())
    );
    assert_eq!(detect("."), Source::Local(".".into()));
}
