//! `berth __man DIR`: man pages for berth and every command, named so that
//! `man berth-run` and `man berth-container-ls` find them.

use std::path::Path;

use clap::CommandFactory;

use crate::args::Cli;
use crate::error::CliError;

pub fn write_pages(dir: &Path) -> Result<Vec<String>, CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::io(format!("creating {}", dir.display()), e))?;
    let mut root = Cli::command();
    root.build();
    let mut written = Vec::new();
    write_page(dir, root.clone(), "berth", &mut written)?;
    for sub in root
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
    {
        let name = format!("berth-{}", sub.get_name());
        write_page(dir, sub.clone(), &name, &mut written)?;
        for nested in sub
            .get_subcommands()
            .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        {
            let nested_name = format!("{name}-{}", nested.get_name());
            write_page(dir, nested.clone(), &nested_name, &mut written)?;
        }
    }
    Ok(written)
}

fn write_page(
    dir: &Path,
    command: clap::Command,
    name: &str,
    written: &mut Vec<String>,
) -> Result<(), CliError> {
    let page_name = name.to_owned();
    let command = command
        .name(page_name.clone())
        .bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| CliError::io(format!("rendering the man page {name}"), e))?;
    let path = dir.join(format!("{name}.1"));
    // Written whole to a temporary name and renamed, so a reader never sees
    // half a page.
    let temporary = dir.join(format!(".{name}.1.tmp"));
    std::fs::write(&temporary, &page)
        .and_then(|_| std::fs::rename(&temporary, &path))
        .map_err(|e| CliError::io(format!("writing {}", path.display()), e))?;
    written.push(format!("{name}.1"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_exist_for_every_visible_command() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_pages(dir.path()).unwrap();
        for page in [
            "berth.1",
            "berth-run.1",
            "berth-ps.1",
            "berth-image-ls.1",
            "berth-container-rm.1",
        ] {
            assert!(
                written.contains(&page.to_owned()),
                "{page} missing from {written:?}"
            );
            assert!(dir.path().join(page).is_file());
        }
        assert!(!written.iter().any(|p| p.contains("__man")));
        let run = std::fs::read_to_string(dir.path().join("berth-run.1")).unwrap();
        assert!(run.contains("berth\\-run"), "{run}");
        assert!(run.contains("\\-\\-memory"));
    }
}
