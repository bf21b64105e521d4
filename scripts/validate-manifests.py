#!/usr/bin/env python3
"""Validates the deployment manifests in deploy/ offline, and exits 1 naming each error.

- Kubernetes manifests (deploy/kubernetes/*.yaml): every document against the Kubernetes OpenAPI schemas of
  PyPI `kubernetes-validate`, strict (an unknown or misspelled field is an error).
- The Cloud Run service (deploy/cloudrun/*.yaml): Knative's RevisionSpec is a Kubernetes PodSpec plus
  `containerConcurrency` and `timeoutSeconds`, so its template is checked as a Pod with the same schemas
  (strict), after those two fields and the envelope are checked here.
- Vertex AI jobs (deploy/vertex/*.yaml): against deploy/schemas/vertex-custom-job-spec.json, a JSON schema of
  the CustomJobSpec fields these files use (from the Vertex AI REST reference), closed to unknown fields.
- compose.yaml: against deploy/schemas/compose-spec.json, the Compose Specification's own JSON schema
  (compose-spec/compose-spec, schema/compose-spec.json at commit 170098ba07d9, Apache-2.0), which refuses
  unknown service keys.

Usage: python scripts/validate-manifests.py [FILE ...]   (default: every manifest under deploy/)
Runs with the venv of scripts/setup-deploy-lint.sh.
"""

import glob
import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

K8S_VERSION = "1.33.0"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def k8s(doc, where):
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        return []
    except kubernetes_validate.ValidationError as e:
        path = "/".join(str(p) for p in e.path)
        return [f"{where}: {e.message} (at {path or 'the top'})"]
    except Exception as e:  # an unknown kind or apiVersion, or a document that is no resource
        return [f"{where}: {e}"]


def cloud_run(doc, where):
    errors = []
    if doc.get("apiVersion") != "serving.knative.dev/v1" or doc.get("kind") != "Service":
        return [f"{where}: expected apiVersion serving.knative.dev/v1, kind Service"]
    template = doc.get("spec", {}).get("template", {})
    spec = dict(template.get("spec", {}))
    for key, kind in (("containerConcurrency", int), ("timeoutSeconds", int)):
        if key in spec and not isinstance(spec.pop(key), kind):
            errors.append(f"{where}: spec.template.spec.{key} must be an integer")
    extra = set(doc.get("spec", {})) - {"template", "traffic"}
    if extra:
        errors.append(f"{where}: unknown fields in spec: {sorted(extra)}")
    # Cloud Run names containers itself when there is one; a Pod needs the name.
    spec["containers"] = [{"name": f"c{i}", **c} for i, c in enumerate(spec.get("containers", []))]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": template.get("metadata", {}), "spec": spec}
    return errors + k8s(pod, f"{where} (revision template as a Pod)")


def vertex(doc, where):
    with open(os.path.join(ROOT, "deploy/schemas/vertex-custom-job-spec.json")) as f:
        schema = json.load(f)
    v = jsonschema.Draft202012Validator(schema)
    return [f"{where}: {e.message} (at {'/'.join(map(str, e.path)) or 'the top'})" for e in v.iter_errors(doc)]


def compose(doc, where):
    with open(os.path.join(ROOT, "deploy/schemas/compose-spec.json")) as f:
        schema = json.load(f)
    v = jsonschema.Draft7Validator(schema)
    return [f"{where}: {e.message} (at {'/'.join(map(str, e.path)) or 'the top'})" for e in v.iter_errors(doc)]


def check(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if not docs:
        return [f"{path}: no YAML document"], 0
    errors = []
    for i, doc in enumerate(docs):
        where = f"{path}#{i}"
        if os.path.basename(path) == "compose.yaml":
            errors += compose(doc, where)
        elif "/cloudrun/" in path:
            errors += cloud_run(doc, where)
        elif "/vertex/" in path:
            errors += vertex(doc, where)
        else:
            errors += k8s(doc, where)
    return errors, len(docs)


def main():
    files = sys.argv[1:] or sorted(
        glob.glob(os.path.join(ROOT, "deploy/kubernetes/*.yaml"))
        + glob.glob(os.path.join(ROOT, "deploy/cloudrun/*.yaml"))
        + glob.glob(os.path.join(ROOT, "deploy/vertex/*.yaml"))
        + [os.path.join(ROOT, "compose.yaml")]
    )
    errors, n = [], 0
    for path in files:
        e, count = check(os.path.normpath(path))
        errors += e
        n += count
    for e in errors:
        print(e, file=sys.stderr)
    print(f"validated {n} documents in {len(files)} files: {len(errors)} errors")
    sys.exit(1 if errors or not files else 0)


if __name__ == "__main__":
    main()
