//! The user's repository as the pipeline commands read it: git's answers, and a cheap
//! copy to run a pipeline in without touching the original.

use std::path::Path;
use std::process::Command;

/// What is not copied into a run's copy of the repository.
const SKIP: &[&str] = &[".mock-pypi", "target", "node_modules"];

/// `git -C repo ARGS`' output, if it succeeded.
pub fn git(repo: &Path, args: &[&str]) -> Option<String> {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// A copy of the repository whose files are hard links (cheap, and the originals are
/// never written: changed files are replaced, not edited).
pub fn copy_of(repo: &Path, into: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(repo)? {
        let entry = entry?;
        let name = entry.file_name();
        if SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let ok = Command::new("cp")
            .arg("-al")
            .arg(entry.path())
            .arg(into.join(&name))
            .status()?
            .success();
        anyhow::ensure!(ok, "copying {} for the run", entry.path().display());
    }
    Ok(())
}
