//! `reef completions SHELL` and `reef man`: generated from the clap definitions, so they list
//! exactly the commands and flags that exist.

use super::Cli;
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "reef", out);
}

/// Writes the man page of `reef` (roff) to `out`.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Writes `reef.1` and a page per subcommand (`reef-submit.1`, ...) into `dir`.
pub fn man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_the_man_page_name_the_subcommands() {
        let mut bash = Vec::new();
        completions(clap_complete::Shell::Bash, &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        let mut page = Vec::new();
        man(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        for sub in [
            "submit",
            "ls",
            "logs",
            "cancel",
            "retry",
            "runners",
            "completions",
        ] {
            assert!(bash.contains(sub), "bash completion lacks {sub}");
            assert!(page.contains(sub), "man page lacks {sub}");
        }
        assert!(page.contains(".TH reef"), "{page}");
    }

    #[test]
    fn man_pages_are_written_per_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        man_pages(dir.path()).unwrap();
        assert!(dir.path().join("reef.1").exists());
        assert!(dir.path().join("reef-submit.1").exists());
    }
}
