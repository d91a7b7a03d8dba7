//! Tables for the claims derivation, checked against GitHub's documented forms
//! (reference/pipelines.md §4.2), and for reading workflows and publishing steps.

use serde_json::{Map, Value, json};

use super::github::{self, Event, NoToken, Repo, Running};
use super::publish::{self, Index, Tool};
use super::workflow::{self, Environment};
use crate::issuer::github::subject;

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[test]
fn subjects_take_githubs_documented_forms() {
    let base = json!({
        "repository": "octo-org/octo-repo", "repository_owner": "octo-org",
        "repository_owner_id": "123", "repository_id": "456",
        "ref": "refs/heads/main", "event_name": "push",
    });
    let with = |extra: Value| {
        let mut c = claims(base.clone());
        c.extend(claims(extra));
        c
    };
    type Case<'a> = (
        &'a str,
        Map<String, Value>,
        bool,
        Option<&'a [&'a str]>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "a branch",
            with(json!({})),
            false,
            None,
            "repo:octo-org/octo-repo:ref:refs/heads/main",
        ),
        (
            "a tag",
            with(json!({"ref": "refs/tags/v1"})),
            false,
            None,
            "repo:octo-org/octo-repo:ref:refs/tags/v1",
        ),
        (
            "an environment",
            with(json!({"environment": "Production"})),
            false,
            None,
            "repo:octo-org/octo-repo:environment:Production",
        ),
        (
            "a pull request",
            with(json!({"event_name": "pull_request", "ref": "refs/pull/1/merge"})),
            false,
            None,
            "repo:octo-org/octo-repo:pull_request",
        ),
        (
            "the environment wins over the pull request",
            with(json!({"event_name": "pull_request", "environment": "ci"})),
            false,
            None,
            "repo:octo-org/octo-repo:environment:ci",
        ),
        (
            "colons escaped",
            with(json!({"environment": "prod:eu"})),
            false,
            None,
            "repo:octo-org/octo-repo:environment:prod%3Aeu",
        ),
        (
            "immutable",
            with(json!({"environment": "pypi"})),
            true,
            None,
            "repo:octo-org@123/octo-repo@456:environment:pypi",
        ),
        (
            "a template",
            with(
                json!({"environment": "pypi", "job_workflow_ref": "octo-org/octo-repo/.github/workflows/r.yml@refs/heads/main"}),
            ),
            false,
            Some(&["repo", "context", "job_workflow_ref"]),
            "repo:octo-org/octo-repo:environment:pypi:job_workflow_ref:octo-org/octo-repo/.github/workflows/r.yml@refs/heads/main",
        ),
        (
            "ids only",
            with(json!({})),
            false,
            Some(&["repository_owner_id", "repository_id"]),
            "repository_owner_id:123:repository_id:456",
        ),
        (
            "an immutable template keeps the ids in the repo segment",
            with(json!({})),
            true,
            Some(&["repo", "context"]),
            "repo:octo-org@123/octo-repo@456:ref:refs/heads/main",
        ),
    ];
    for (what, c, immutable, keys, expected) in cases {
        assert_eq!(subject(&c, immutable, keys), expected, "{what}");
    }
}

const RELEASE: &str = r#"
name: release
on:
  push:
    tags: ["v*"]
  pull_request:
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: uv build
  publish:
    needs: [build]
    environment:
      name: pypi
      url: https://example.org/p/demo
    permissions:
      id-token: write
    steps:
      - uses: pypa/gh-action-pypi-publish@release/v1
        with:
          attestations: false
"#;

fn repo() -> Repo {
    Repo {
        owner: "octo-org".into(),
        name: "demo".into(),
        ..Default::default()
    }
}

fn event(name: &str, git_ref: &str) -> Event {
    Event {
        name: name.into(),
        git_ref: git_ref.into(),
        fork: false,
    }
}

#[test]
fn a_workflow_reads_into_triggers_permissions_jobs_and_steps() {
    let wf = workflow::parse(".github/workflows/release.yml", RELEASE).unwrap();
    assert_eq!(wf.file, "release.yml");
    let events: Vec<_> = wf
        .triggers
        .iter()
        .map(|t| (t.event.as_str(), t.tags.clone()))
        .collect();
    assert_eq!(
        events,
        [("push", vec!["v*".to_owned()]), ("pull_request", vec![])]
    );
    let publish = wf.job("publish").unwrap();
    assert_eq!(publish.needs, ["build"]);
    assert_eq!(
        publish.environment.as_ref().map(|e| e.0.clone()),
        Some(Environment::Name("pypi".into()))
    );
    assert_eq!(publish.line, 13);
    assert_eq!(publish.steps[0].line, 21);
    assert_eq!(
        github::default_ref("push", &wf.triggers[0].tags, &[]),
        "refs/tags/v1"
    );
}

#[test]
fn bad_workflows_are_refused_with_file_line_and_what_was_expected() {
    let cases = [
        ("not yaml", "on: [push\njobs: {}\n", 2, "not valid YAML"),
        ("no on", "jobs: {}\n", 1, "no 'on:'"),
        (
            "unknown event",
            "on: pusj\njobs: {}\n",
            1,
            "unknown event 'pusj'",
        ),
        (
            "missing need",
            "on: push\njobs:\n  a:\n    needs: b\n",
            3,
            "needs 'b'",
        ),
        (
            "a cycle",
            "on: push\njobs:\n  a:\n    needs: b\n  b:\n    needs: a\n",
            3,
            "cycle: a → b → a",
        ),
        (
            "a key twice",
            "on: push\non: release\njobs: {}\n",
            2,
            "given twice",
        ),
        ("a list", "- on\n", 1, "expected a mapping"),
    ];
    for (what, text, line, message) in cases {
        let e = workflow::parse("w.yml", text).expect_err(what);
        assert_eq!((e.file.as_str(), e.line), ("w.yml", line), "{what}: {e}");
        assert!(e.message.contains(message), "{what}: {e}");
    }
}

#[test]
fn who_gets_a_token() {
    let parse = |perms_wf: &str, perms_job: &str| {
        let text = format!(
            "on: push\n{perms_wf}jobs:\n  j:\n{perms_job}    steps:\n      - run: uv publish\n"
        );
        workflow::parse("w.yml", &text).unwrap()
    };
    let cases = [
        ("nothing granted", "", "", false),
        (
            "the workflow grants it",
            "permissions:\n  id-token: write\n",
            "",
            true,
        ),
        (
            "the job grants it",
            "",
            "    permissions:\n      id-token: write\n",
            true,
        ),
        (
            "the job narrows the workflow's",
            "permissions:\n  id-token: write\n",
            "    permissions:\n      contents: read\n",
            false,
        ),
        ("write-all", "permissions: write-all\n", "", true),
        ("read-all", "permissions: read-all\n", "", false),
    ];
    for (what, wf_perms, job_perms, gets) in cases {
        let wf = parse(wf_perms, job_perms);
        let running = Running {
            workflow: &wf,
            job: wf.job("j").unwrap(),
            caller: None,
        };
        assert_eq!(
            github::token_for(&running, &event("push", "refs/heads/main")).is_ok(),
            gets,
            "{what}"
        );
    }
    let wf = parse("permissions:\n  id-token: write\n", "");
    let running = Running {
        workflow: &wf,
        job: wf.job("j").unwrap(),
        caller: None,
    };
    let fork = Event {
        fork: true,
        ..event("pull_request", "refs/pull/1/merge")
    };
    assert_eq!(
        github::token_for(&running, &fork),
        Err(NoToken::ForkPullRequest)
    );
}

const CALLER: &str = "on:\n  release:\njobs:\n  release:\n    uses: ./.github/workflows/publish.yml\n    permissions:\n      id-token: write\n";
const CALLED: &str = "on: workflow_call\njobs:\n  upload:\n    environment: pypi\n    steps:\n      - run: uv publish\n";

#[test]
fn a_called_workflow_is_named_in_job_workflow_ref_and_gets_what_its_caller_grants() {
    let caller = workflow::parse(".github/workflows/release.yml", CALLER).unwrap();
    let called = workflow::parse(".github/workflows/publish.yml", CALLED).unwrap();
    let running = Running {
        workflow: &called,
        job: called.job("upload").unwrap(),
        caller: Some((&caller, caller.job("release").unwrap())),
    };
    let e = event("release", "refs/tags/v1.0.0");
    assert_eq!(github::token_for(&running, &e), Ok(()));
    let (id, unknown) = github::identity(&repo(), &running, &e);
    assert!(unknown.is_empty());
    let c = github::claims(&id, "https://iss", "pypi", 1000);
    assert_eq!(
        c["workflow_ref"],
        "octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"
    );
    assert_eq!(
        c["job_workflow_ref"],
        "octo-org/demo/.github/workflows/publish.yml@refs/tags/v1.0.0"
    );
    assert_eq!(c["environment"], "pypi");
    assert_eq!(c["sub"], "repo:octo-org/demo:environment:pypi");
    // Another repository's workflow, as `uses:` names it.
    assert_eq!(
        github::called_ref(
            &repo(),
            "other/tools/.github/workflows/p.yml@v2",
            "refs/heads/main"
        ),
        "other/tools/.github/workflows/p.yml@v2"
    );
    // A caller that grants nothing: the called job gets no token, whatever it asks.
    let stingy = workflow::parse(
        ".github/workflows/release.yml",
        "on: release\njobs:\n  release:\n    uses: ./.github/workflows/publish.yml\n",
    )
    .unwrap();
    let running = Running {
        caller: Some((&stingy, stingy.job("release").unwrap())),
        ..running
    };
    assert!(matches!(
        github::token_for(&running, &e),
        Err(NoToken::CallerDoesNotGrant { .. })
    ));
}

#[test]
fn an_environment_github_evaluates_is_reported_unknown_never_guessed() {
    let wf = workflow::parse("w.yml", "on: push\npermissions: write-all\njobs:\n  j:\n    environment: ${{ inputs.env }}\n    steps:\n      - run: uv publish\n").unwrap();
    let running = Running {
        workflow: &wf,
        job: wf.job("j").unwrap(),
        caller: None,
    };
    let (id, unknown) = github::identity(&repo(), &running, &event("push", "refs/heads/main"));
    assert_eq!(id.environment, None);
    assert!(unknown[0].contains("${{ inputs.env }}"), "{unknown:?}");
}

#[test]
fn publishing_steps_their_index_and_whether_they_can_trust_publish() {
    let step = |uses: Option<&str>, with: &[(&str, &str)], run: Option<&str>, env: &[&str]| {
        workflow::Step {
            line: 10,
            name: None,
            uses: uses.map(str::to_owned),
            with: with
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned(), 11))
                .collect(),
            run: run.map(str::to_owned),
            run_line: 10,
            env: env.iter().map(|e| (*e).to_owned()).collect(),
        }
    };
    let cases: Vec<(&str, workflow::Step, Tool, Index, bool)> = vec![
        (
            "the action",
            step(
                Some("pypa/gh-action-pypi-publish@release/v1"),
                &[],
                None,
                &[],
            ),
            Tool::PublishAction,
            Index::Pypi,
            false,
        ),
        (
            "the action to TestPyPI",
            step(
                Some("pypa/gh-action-pypi-publish@v1.13.0"),
                &[("repository-url", "https://test.example.org/legacy/")],
                None,
                &[],
            ),
            Tool::PublishAction,
            Index::Testpypi,
            false,
        ),
        (
            "the action with a password",
            step(
                Some("pypa/gh-action-pypi-publish@release/v1"),
                &[("password", "${{ secrets.PYPI }}")],
                None,
                &[],
            ),
            Tool::PublishAction,
            Index::Pypi,
            true,
        ),
        (
            "uv",
            step(None, &[], Some("uv publish"), &[]),
            Tool::Uv,
            Index::Pypi,
            false,
        ),
        (
            "uv to TestPyPI by name",
            step(None, &[], Some("uv publish --index testpypi dist/*"), &[]),
            Tool::Uv,
            Index::Testpypi,
            false,
        ),
        (
            "uv with a token",
            step(None, &[], Some("uv publish --token $T"), &[]),
            Tool::Uv,
            Index::Pypi,
            true,
        ),
        (
            "twine",
            step(None, &[], Some("python -m twine upload dist/*"), &[]),
            Tool::Twine,
            Index::Pypi,
            false,
        ),
        (
            "twine to TestPyPI",
            step(None, &[], Some("twine upload -r testpypi dist/*"), &[]),
            Tool::Twine,
            Index::Testpypi,
            false,
        ),
        (
            "twine with TWINE_PASSWORD",
            step(None, &[], Some("twine upload dist/*"), &["TWINE_PASSWORD"]),
            Tool::Twine,
            Index::Pypi,
            true,
        ),
        (
            "pdm",
            step(None, &[], Some("pdm publish --no-build"), &[]),
            Tool::Pdm,
            Index::Pypi,
            false,
        ),
        (
            "hatch",
            step(None, &[], Some("hatch publish"), &[]),
            Tool::Hatch,
            Index::Pypi,
            false,
        ),
        (
            "poetry",
            step(None, &[], Some("poetry publish --build"), &[]),
            Tool::Poetry,
            Index::Pypi,
            false,
        ),
        (
            "maturin",
            step(
                None,
                &[],
                Some("maturin upload --skip-existing dist/*"),
                &[],
            ),
            Tool::Maturin,
            Index::Pypi,
            false,
        ),
        (
            "flit",
            step(None, &[], Some("flit publish"), &[]),
            Tool::Flit,
            Index::Pypi,
            false,
        ),
        (
            "after other commands",
            step(
                None,
                &[],
                Some(
                    "uv build && uvx twine upload --repository-url https://test.example.org/legacy/ dist/*",
                ),
                &[],
            ),
            Tool::Twine,
            Index::Testpypi,
            false,
        ),
    ];
    for (what, s, tool, index, credential) in cases {
        let found = publish::steps(std::slice::from_ref(&s));
        assert_eq!(found.len(), 1, "{what}: {found:?}");
        assert_eq!(
            (
                found[0].tool,
                &found[0].index,
                found[0].credential.is_some()
            ),
            (tool, &index, credential),
            "{what}"
        );
    }
    assert!(publish::steps(&[step(None, &[], Some("uv build\npytest"), &[])]).is_empty());
    assert!(
        !Tool::Poetry.trusts()
            && !Tool::Hatch.trusts()
            && !Tool::Flit.trusts()
            && Tool::Uv.trusts()
    );
}

#[test]
fn variables_go_into_the_env_of_the_jobs_github_gives_a_token_and_nowhere_else() {
    let text = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: uv build\n  publish:\n    needs: build\n    env:\n      KEEP: me\n    permissions:\n      id-token: write\n    steps:\n      - run: uv publish\n  other:\n    # a comment first\n    permissions:\n      id-token: write\n    steps:\n      - run: 'true'\n";
    let wf = workflow::parse(".github/workflows/release.yml", text).unwrap();
    let grants = super::inject::grants(
        &repo(),
        std::slice::from_ref(&wf),
        &event("push", "refs/heads/main"),
        "http://iss",
        "rt'1",
        None,
    );
    let given: Vec<(&str, bool)> = grants
        .iter()
        .map(|g| (g.job.as_str(), g.vars.is_ok()))
        .collect();
    assert_eq!(
        given,
        [("build", false), ("publish", true), ("other", true)]
    );
    let out = super::inject::inject(&wf, text, &grants).unwrap();
    let again = workflow::parse(".github/workflows/release.yml", &out).unwrap();
    let root = marked_yaml::parse_yaml(0, &out).unwrap();
    let jobs = root.as_mapping().unwrap().get_mapping("jobs").unwrap();
    let env = |job: &str| {
        jobs.get_mapping(job).unwrap().get_mapping("env").map(|e| {
            let mut keys: Vec<String> = e.keys().map(|k| k.as_str().to_owned()).collect();
            keys.sort();
            keys
        })
    };
    assert_eq!(env("build"), None, "{out}");
    assert_eq!(
        env("publish").unwrap(),
        [
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "KEEP"
        ],
        "{out}"
    );
    assert_eq!(
        env("other").unwrap(),
        [
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_URL"
        ],
        "{out}"
    );
    let token = jobs
        .get_mapping("publish")
        .unwrap()
        .get_mapping("env")
        .unwrap()
        .get_scalar("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .unwrap();
    assert_eq!(token.as_str(), "rt'1");
    let url = jobs
        .get_mapping("publish")
        .unwrap()
        .get_mapping("env")
        .unwrap()
        .get_scalar("ACTIONS_ID_TOKEN_REQUEST_URL")
        .unwrap();
    assert!(url.as_str().starts_with("http://iss/github/token?api-version=2.0&repository=octo-org%2Fdemo&workflow=release.yml"), "{}", url.as_str());
    // Everything else reads as before.
    assert_eq!(
        again
            .jobs
            .iter()
            .map(|j| (&j.id, &j.needs, j.steps.len()))
            .collect::<Vec<_>>(),
        wf.jobs
            .iter()
            .map(|j| (&j.id, &j.needs, j.steps.len()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn gitlab_jobs_their_id_tokens_and_the_claims_each_token_carries() {
    use super::gitlab;
    let main = "include:\n  - local: ci/publish.yml\nstages: [build, publish]\n.hidden:\n  script: [echo]\nbuild:\n  script:\n    - uv build\n";
    let included = "publish:\n  stage: publish\n  environment:\n    name: pypi\n  id_tokens:\n    PYPI_ID_TOKEN:\n      aud: pypi\n    SIGSTORE_ID_TOKEN:\n      aud: sigstore\n  script:\n    - uv publish\n";
    let read = |f: &str| match f {
        ".gitlab-ci.yml" => Ok(main.to_owned()),
        "ci/publish.yml" => Ok(included.to_owned()),
        other => Err(super::yaml::BadInput::new(other, 0, "no such file")),
    };
    let p = gitlab::parse(".gitlab-ci.yml", &read).unwrap();
    let names: Vec<(&str, &str)> = p
        .jobs
        .iter()
        .map(|j| (j.name.as_str(), j.file.as_str()))
        .collect();
    assert_eq!(
        names,
        [("build", ".gitlab-ci.yml"), ("publish", "ci/publish.yml")]
    );
    let publish = &p.jobs[1];
    let tokens: Vec<(&str, &str)> = publish
        .id_tokens
        .iter()
        .map(|t| (t.variable.as_str(), t.audience.as_str()))
        .collect();
    assert_eq!(
        tokens,
        [("PYPI_ID_TOKEN", "pypi"), ("SIGSTORE_ID_TOKEN", "sigstore")]
    );
    assert!(
        p.jobs[0].id_tokens.is_empty(),
        "a job without id_tokens: gets no token"
    );
    let source = gitlab::Source {
        pipeline_source: "push".into(),
        ref_path: "refs/tags/v1.0".into(),
    };
    let (id, unknown) = gitlab::identity(
        "octo-group/sub/demo",
        &p,
        publish,
        &source,
        Some("abc".into()),
    );
    assert!(unknown.is_empty());
    let c = gitlab::claims(&id, "https://gitlab.example", "pypi", 1000);
    // The documented forms: ci_config_ref_uri names the real CI file, sub the ref.
    assert_eq!(
        c["ci_config_ref_uri"],
        "gitlab.example/octo-group/sub/demo//.gitlab-ci.yml@refs/tags/v1.0"
    );
    assert_eq!(
        c["sub"],
        "project_path:octo-group/sub/demo:ref_type:tag:ref:v1.0"
    );
    assert_eq!(
        (c["namespace_path"].as_str(), c["project_path"].as_str()),
        (Some("octo-group/sub"), Some("octo-group/sub/demo"))
    );
    assert_eq!(
        (
            c["ref_path"].as_str(),
            c["ref_type"].as_str(),
            c["sha"].as_str()
        ),
        (Some("refs/tags/v1.0"), Some("tag"), Some("abc"))
    );
    assert_eq!(
        (
            c["environment"].as_str(),
            c["pipeline_source"].as_str(),
            c["aud"].as_str()
        ),
        (Some("pypi"), Some("push"), Some("pypi"))
    );
    // A variable GitLab expands is not guessed.
    let expr = "deploy:\n  environment: review/$CI_COMMIT_REF_NAME\n  id_tokens:\n    T:\n      aud: pypi\n  script: [uv publish]\n";
    let p = gitlab::parse(".gitlab-ci.yml", &|_| Ok(expr.to_owned())).unwrap();
    let (id, unknown) = gitlab::identity("g/p", &p, &p.jobs[0], &source, None);
    assert_eq!(id.environment, None);
    assert!(unknown[0].contains("$CI_COMMIT_REF_NAME"), "{unknown:?}");
}

#[test]
fn remotes_name_the_project() {
    use super::remote::{owner_repo, project_path};
    assert_eq!(
        owner_repo("git@git.example:octo-org/demo.git"),
        Some(("octo-org".into(), "demo".into()))
    );
    assert_eq!(
        owner_repo("https://git.example/octo-org/demo"),
        Some(("octo-org".into(), "demo".into()))
    );
    assert_eq!(
        project_path("git@gitlab.example:group/sub/demo.git").as_deref(),
        Some("group/sub/demo")
    );
    assert_eq!(
        project_path("https://gitlab.example/group/demo.git").as_deref(),
        Some("group/demo")
    );
    assert_eq!(project_path("demo"), None);
}
