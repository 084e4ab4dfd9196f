use super::*;
use bollard_stubs::models::HostConfigLogConfig;

fn host(driver: &str, options: &[(&str, &str)]) -> HostConfig {
    HostConfig {
        log_config: Some(HostConfigLogConfig {
            typ: Some(driver.into()),
            config: Some(
                options
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }),
        ..Default::default()
    }
}

fn error(driver: &str, options: &[(&str, &str)]) -> String {
    rotation(&host(driver, options)).unwrap_err().to_string()
}

#[test]
fn json_file_options_parse_as_dockers() {
    let json = |options: &[(&str, &str)]| rotation(&host("json-file", options)).unwrap();
    assert_eq!(
        json(&[("max-size", "10k"), ("max-file", "3"), ("compress", "true")]),
        Some(Rotation {
            max_size: 10_000,
            max_file: 3,
            compress: true,
        })
    );
    assert_eq!(
        json(&[("max-size", "1.5m")]),
        Some(Rotation {
            max_size: 1_500_000,
            max_file: 1,
            compress: false,
        })
    );
    assert_eq!(json(&[("max-file", "3")]), None);
    assert_eq!(json(&[]), None);
    assert_eq!(
        error("json-file", &[("max-size", "1m"), ("max-file", "0")]),
        "max-file cannot be less than 1"
    );
    assert_eq!(
        error("json-file", &[("max-size", "lots")]),
        "invalid size: 'lots'"
    );
    assert_eq!(
        error("json-file", &[("max-size", "0")]),
        "max-size must be a positive number"
    );
    assert_eq!(
        error("json-file", &[("max-size", "1m"), ("max-file", "x")]),
        "strconv.Atoi: parsing \"x\": invalid syntax"
    );
    assert_eq!(
        error("json-file", &[("max-size", "1m"), ("compress", "yes")]),
        "strconv.ParseBool: parsing \"yes\": invalid syntax"
    );
    assert_eq!(
        error("json-file", &[("max-size", "1m"), ("compress", "true")]),
        "compress cannot be true when max-file is less than 2 or max-size is not set"
    );
}

#[test]
fn local_rotates_by_default_and_checks_as_dockers() {
    let local = |options: &[(&str, &str)]| rotation(&host("local", options)).unwrap();
    assert_eq!(
        local(&[]),
        Some(Rotation {
            max_size: 20 * 1024 * 1024,
            max_file: 5,
            compress: true,
        })
    );
    assert_eq!(
        local(&[("max-size", "1k"), ("max-file", "2"), ("compress", "false")]),
        Some(Rotation {
            max_size: 1000,
            max_file: 2,
            compress: false,
        })
    );
    // No size, no compression: the log grows.
    assert_eq!(local(&[("max-size", "0"), ("compress", "false")]), None);
    assert_eq!(
        error("local", &[("max-file", "1")]),
        "compression cannot be enabled when max file count is 1"
    );
    assert_eq!(
        error("local", &[("max-size", "0")]),
        "compression cannot be enabled when max file size is 0"
    );
    assert_eq!(
        error("local", &[("max-size", "big")]),
        "invalid value for max-size: big: invalid size: 'big'"
    );
    assert_eq!(
        error("local", &[("max-file", "-1"), ("compress", "false")]),
        "max-file cannot be less than 0"
    );
    // Other drivers do not rotate.
    assert_eq!(rotation(&host("none", &[])).unwrap(), None);
}

#[test]
fn rotation_shifts_the_files_and_drops_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    std::fs::write(&path, "first\n").unwrap();
    rotate(&path, 3).unwrap();
    std::fs::write(&path, "second\n").unwrap();
    rotate(&path, 3).unwrap();
    std::fs::write(&path, "third\n").unwrap();
    rotate(&path, 3).unwrap();
    std::fs::write(&path, "fourth\n").unwrap();
    let read = |f: &LogFile| std::io::read_to_string(f.open().unwrap().unwrap()).unwrap();
    let files = in_order(&path);
    assert_eq!(
        files.iter().map(read).collect::<Vec<_>>(),
        ["second\n", "third\n", "fourth\n"]
    );
    // One file kept: the log starts over.
    rotate(&path, 1).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
}

#[test]
fn a_compressed_file_reads_back_and_keeps_the_identity_of_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    std::fs::write(&path, "old\n").unwrap();
    let before = LogFile {
        path: path.clone(),
        compressed: false,
    }
    .id()
    .unwrap()
    .unwrap();
    rotate(&path, 3).unwrap();
    compress_first(&path).unwrap();
    assert!(!rotated(&path, 1, false).exists());
    let files = in_order(&path);
    assert_eq!(files.len(), 2);
    assert!(files[0].compressed);
    assert_eq!(files[0].id().unwrap(), Some(before));
    let text = std::io::read_to_string(files[0].open().unwrap().unwrap()).unwrap();
    assert_eq!(text, "old\n");
    // Rotated again, the compressed file shifts with its name.
    rotate(&path, 3).unwrap();
    assert!(rotated(&path, 2, true).exists());
}
