//! The project a git remote names: GitHub's `OWNER/REPO` and GitLab's full path
//! (subgroups included), from `git@host:path.git` or `https://host/path` alike.

/// `OWNER/REPO` from a remote URL (`git@host:OWNER/REPO.git`, `https://host/OWNER/REPO`).
pub fn owner_repo(url: &str) -> Option<(String, String)> {
    let path = url.trim_end_matches('/').trim_end_matches(".git");
    let path = path.rsplit_once(':').map_or(path, |(_, p)| p);
    let mut parts = path.rsplit('/');
    let name = parts.next()?.to_owned();
    let owner = parts.next()?.to_owned();
    (!owner.is_empty() && !name.is_empty()).then_some((owner, name))
}

/// `GROUP/SUB/PROJECT` from a remote URL (`git@host:GROUP/PROJECT.git`, `https://host/…`).
pub fn project_path(url: &str) -> Option<String> {
    let url = url.trim_end_matches('/').trim_end_matches(".git");
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p)?,
        None => url.split_once(':').map(|(_, p)| p)?,
    };
    path.contains('/').then(|| path.to_owned())
}
