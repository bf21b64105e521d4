//! Where a run came from: source revision and machine. Best effort: missing information is recorded as
//! `None`, never an error, because a run must not fail for lack of git or of `/proc`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::record::{GitInfo, HostInfo};

/// Git revision of the repository containing `dir`, or `None` if git is missing or `dir` is not in a
/// work tree.
pub fn git_info(dir: &Path) -> Option<GitInfo> {
    // `status` decides whether this is a repository at all; `rev-parse HEAD` fails legitimately in a
    // repository without commits.
    let status = git(dir, &["status", "--porcelain"])?;
    let commit = git(dir, &["rev-parse", "HEAD"]).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Some(GitInfo { commit, dirty: !status.trim().is_empty() })
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        // `git status` may refresh the index; without this it would take the index lock and could collide
        // with a git command the user runs at the same time.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// The current machine: CPU model, usable threads, OS and architecture.
pub fn host_info() -> HostInfo {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| cpu_model_from(&t));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    HostInfo { cpu_model, cores, os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH) }
}

/// The first `model name` of a `/proc/cpuinfo` text.
fn cpu_model_from(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string()).filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_is_parsed() {
        let text =
            "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(cpu_model_from(text).as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
        assert_eq!(cpu_model_from("processor : 0\n"), None);
        let host = host_info();
        assert!(host.cores >= 1);
        assert!(host.os.starts_with(std::env::consts::OS));
    }

    #[test]
    fn git_info_of_a_repository_and_of_a_plain_folder() {
        let plain = tempfile::tempdir().unwrap();
        if Command::new("git").arg("--version").output().is_err() {
            eprintln!("skipping: git is not installed");
            assert_eq!(git_info(plain.path()), None);
            return;
        }
        assert_eq!(git_info(plain.path()), None, "a folder outside any repository has no git info");

        let repo = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"])
                .args(args)
                .current_dir(repo.path())
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        run(&["init", "-q"]);
        assert_eq!(git_info(repo.path()), Some(GitInfo { commit: None, dirty: false }), "no commits yet");
        std::fs::write(repo.path().join("a.txt"), "a").unwrap();
        run(&["add", "a.txt"]);
        run(&["commit", "-q", "-m", "first"]);
        let info = git_info(repo.path()).unwrap();
        let commit = info.commit.unwrap();
        assert_eq!(commit.len(), 40, "{commit}");
        assert!(commit.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!info.dirty);
        std::fs::write(repo.path().join("a.txt"), "changed").unwrap();
        assert!(git_info(repo.path()).unwrap().dirty);
    }
}
