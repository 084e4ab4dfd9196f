//! The end-to-end harness (benches/e2e/run.sh) runs, cleans up, and prints tables its readers
//! can parse. Figures are never checked against a bound: this machine is shared and noisy.
//!
//! It needs root (berth starts real containers) and berth's binaries: `BERTH_BIN_DIR`, else
//! the target directory this test was built in (`cargo build --release --bins` for the
//! harness's default, or `cargo build --bins`). Without them the test says so and passes
//! nothing: it returns before running anything.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `berth` and `berthd`: BERTH_BIN_DIR, or this test's own profile
/// directory (target/<profile>/deps/harness-… → target/<profile>).
fn berth_bin_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("BERTH_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()
            .ok()?
            .parent()?
            .parent()?
            .to_path_buf(),
    };
    (dir.join("berth").is_file() && dir.join("berthd").is_file()).then_some(dir)
}

/// One row of a markdown table, split into trimmed cells.
fn cells(line: &str) -> Vec<&str> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

/// "12.3 (10.1–15.0)": a median with its min and max, in order.
fn parse_measurement(cell: &str) -> Option<(f64, f64, f64)> {
    let (median, range) = cell.split_once(" (")?;
    let (min, max) = range.strip_suffix(')')?.split_once('–')?;
    let (median, min, max) = (median.parse().ok()?, min.parse().ok()?, max.parse().ok()?);
    (min <= median && median <= max).then_some((median, min, max))
}

struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Every markdown table in `text` (a header, a `|---|` line, then rows).
fn tables(text: &str) -> Vec<Table> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < lines.len() {
        if lines[i].starts_with("| figure |") && lines[i + 1].starts_with("|---") {
            let header = cells(lines[i]).into_iter().map(String::from).collect();
            let rows = lines[i + 2..]
                .iter()
                .take_while(|l| l.starts_with('|'))
                .map(|l| cells(l).into_iter().map(String::from).collect())
                .collect();
            found.push(Table { header, rows });
        }
        i += 1;
    }
    found
}

fn row<'a>(table: &'a Table, figure_starts: &str) -> &'a [String] {
    table
        .rows
        .iter()
        .find(|r| r[0].starts_with(figure_starts))
        .unwrap_or_else(|| panic!("no row starting {figure_starts:?}"))
}

#[test]
fn quick_berth_only_run_prints_parsable_tables() {
    if !berth_benches::is_root() {
        eprintln!("skipped: the harness starts real containers and needs root");
        return;
    }
    let Some(bin_dir) = berth_bin_dir() else {
        eprintln!("skipped: no berth/berthd binaries (set BERTH_BIN_DIR or build --bins)");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/run.sh");
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg(&script)
        .args(["--quick", "--berth-only", "--no-append"])
        .env("BERTH_BIN_DIR", &bin_dir)
        .env("E2E_TMP", scratch.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "run.sh failed ({}):\n{stdout}\n{stderr}",
        output.status
    );

    let tables = tables(&stdout);
    assert_eq!(
        tables.len(),
        5,
        "the figures, services, density, networking and network density tables:\n{stdout}"
    );
    for table in &tables {
        assert_eq!(table.header, ["figure", "unit", "better", "berth"]);
        assert!(!table.rows.is_empty());
        for row in &table.rows {
            assert_eq!(row.len(), 4, "{row:?}");
            let berth = &row[3];
            assert!(
                parse_measurement(berth).is_some() || berth == "n/a (berth: not supported yet)",
                "unparsable cell {berth:?} in {row:?}"
            );
        }
    }
    // What berth supports today must be measured, not marked n/a.
    let figures = &tables[0];
    for figure in [
        "CLI round trip",
        "`run --rm busybox true`",
        "`ps` with",
        "`stop -t 0`",
        "idle daemon RSS",
    ] {
        let cell = &row(figures, figure)[3];
        assert!(parse_measurement(cell).is_some(), "{figure}: {cell:?}");
    }
    let services = &tables[1];
    for figure in [
        "with a new volume ÷ without",
        "engine CPU with healthchecks",
        "containers whose last check ended",
    ] {
        let cell = &row(services, figure)[3];
        assert!(parse_measurement(cell).is_some(), "{figure}: {cell:?}");
    }
    let density = &tables[2];
    assert!(parse_measurement(&row(density, "start rate")[3]).is_some());
    let networking = &tables[3];
    for figure in [
        "TCP throughput host → container address",
        "published / direct throughput",
        "published / direct request rate",
        "processes per published port",
    ] {
        let cell = &row(networking, figure)[3];
        assert!(parse_measurement(cell).is_some(), "{figure}: {cell:?}");
    }
    // every container of the density run answered, from the host and from a peer
    let net_density = &tables[4];
    let started = row(net_density, "start ")[0].clone();
    let count: f64 = started
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {started:?}"));
    for figure in ["answering ping from the host", "answering ping from a peer"] {
        let (median, _, _) = parse_measurement(&row(net_density, figure)[3]).unwrap();
        assert_eq!(median, count, "{figure}");
    }

    // Everything the run made lived in its scratch directory, which it removed.
    let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // Nor did the accept rule berthd puts in iptables' and ip6tables' FORWARD stay behind.
    for tool in ["iptables", "ip6tables"] {
        let Ok(listed) = Command::new(tool).args(["-w", "-S", "FORWARD"]).output() else {
            continue;
        };
        let rules = String::from_utf8_lossy(&listed.stdout);
        assert!(
            !rules.contains("\"berth berth_bench\""),
            "{tool} FORWARD rule left behind:\n{rules}"
        );
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(&*scratch.path().to_string_lossy()),
        "mounts left under {}",
        scratch.path().display()
    );
}

#[test]
fn measurement_cells_parse_only_when_ordered() {
    assert_eq!(
        parse_measurement("12.3 (10.1–15.0)"),
        Some((12.3, 10.1, 15.0))
    );
    assert_eq!(parse_measurement("1.00 (1.00–1.00)"), Some((1.0, 1.0, 1.0)));
    assert_eq!(parse_measurement("9 (10–15)"), None);
    assert_eq!(parse_measurement("n/a (berth: not supported yet)"), None);
    assert_eq!(parse_measurement("12.3"), None);
}
