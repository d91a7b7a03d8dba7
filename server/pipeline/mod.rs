//! The user's real pipeline, read as GitHub would run it: a workflow file becomes, for
//! every job and event, the token GitHub would (or would not) give the job (`github`,
//! over the parsed `workflow`), its publishing steps and their index (`publish`), and
//! the verdict the index would give that token, with the pitfalls a person can fix
//! (`preflight`). Pure: reading the files and the repository's facts is the caller's.

pub mod github;
pub mod gitlab;
pub mod inject;
pub mod preflight;
pub mod publish;
pub mod remote;
pub mod report;
pub mod workflow;
pub mod yaml;

#[cfg(test)]
mod tests;

/// The token-wide facts of a token derived here: GitHub's and GitLab's default 5 minutes,
/// a fixed `jti` (the claims that matter to PyPI are the identity's).
fn context<'a>(
    issuer: &'a str,
    audience: &'a str,
    now: i64,
) -> crate::issuer::claims::ClaimContext<'a> {
    crate::issuer::claims::ClaimContext {
        issuer,
        audience,
        now,
        lifetime: 300,
        jti: "preflight",
    }
}
