#!/usr/bin/env bash
# Checks that the deployment files are valid without running them (CI: .ci/run, section
# "deployment files"; run it by hand with `bash scripts/check-deploy.sh`):
#
#   1. Dockerfile: `docker build` where a Docker engine answers; otherwise parsed and linted by
#      dockerfile-utils (scripts/check-dockerfile.ts, every diagnostic fails, COPY sources exist).
#   2. docker-compose.yml (with the observability profile), with deploy/env.example as .env:
#      `docker compose config` where Docker Compose v2 is installed; otherwise Debian's
#      `docker-compose` (1.29, no engine needed) validates it against its Compose schema.
#      docker-compose 1.29 predates two Compose-spec keys the file uses (the top-level `name`
#      and `secrets.<name>.environment`); the copy it validates has them replaced by their 1.29
#      equivalents (`-p mail-helper`, `file:`), after checking the secret's variable is in .env.
#   3. systemd units (deploy/*.service, *.timer): `systemd-analyze verify` against a staged
#      install tree (deploy/README.md's paths: /opt/mail-helper with node_modules/.bin/node and
#      deploy/backup.sh, /etc/mail-helper/env and migrate.env, the mail-helper user). verify
#      exits 0 on settings it cannot parse ("..., ignoring"), so any output fails the check; the
#      paths verify does not look at (EnvironmentFile, WorkingDirectory, ReadWritePaths, User)
#      must exist in the staged tree.
#   4. otel/: the collector, Loki and Grafana configs parse and fit together (see below; the
#      collector's and Loki's own validators have no package here).
#
# Each check that cannot run here (tool missing) says so and is skipped, unless
# CHECK_DEPLOY_STRICT=1 (CI sets it where it installed the tools). Any defect exits non-zero.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
STRICT=${CHECK_DEPLOY_STRICT:-0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

# a python3 with PyYAML (Debian's python3-yaml comes with docker-compose): the compose file's
# preprocessing and the observability configs' check
PYTHON_YAML=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import yaml' 2>/dev/null; then
    PYTHON_YAML=$(command -v "$candidate")
    break
  fi
done

missing_tool() {
  if [[ $STRICT == 1 ]]; then
    echo "FAIL: $1" >&2
    failures=$((failures + 1))
  else
    echo "skipped: $1"
  fi
}

docker_engine() { command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------
echo "--- Dockerfile"
if docker_engine; then
  docker build --target runtime -t mail-helper:ci-check . || failures=$((failures + 1))
else
  echo "no Docker engine: parsing and linting with dockerfile-utils instead of building"
fi
npx tsx scripts/check-dockerfile.ts Dockerfile || failures=$((failures + 1))

# ---------------------------------------------------------------------------------------------
echo "--- docker-compose.yml"
cp deploy/env.example "$WORK/.env"
if docker compose version >/dev/null 2>&1; then
  docker compose --env-file "$WORK/.env" -f docker-compose.yml --profile observability config -q &&
    echo "docker compose config: valid" || failures=$((failures + 1))
elif command -v docker-compose >/dev/null; then
  if [[ -n $PYTHON_YAML ]] && "$PYTHON_YAML" - docker-compose.yml "$WORK/.env" "$WORK/docker-compose.yml" <<'PY'; then
import sys, yaml
source, env_file, target = sys.argv[1:]
doc = yaml.safe_load(open(source))
env = {}
for line in open(env_file):
    line = line.strip()
    if line and not line.startswith("#") and "=" in line:
        key, value = line.split("=", 1)
        env[key] = value
if doc.pop("name", None) != "mail-helper":
    sys.exit(f"{source}: the top-level name is not mail-helper")
for name, secret in (doc.get("secrets") or {}).items():
    variable = secret.pop("environment", None)
    if variable is not None:
        if not env.get(variable):
            sys.exit(f"{source}: secret {name} reads ${variable}, which deploy/env.example does not set")
        secret["file"] = env_file  # any existing file: only the schema is checked
yaml.safe_dump(doc, open(target, "w"), sort_keys=False)
PY
    if docker-compose --project-name mail-helper --project-directory . --env-file "$WORK/.env" \
      -f "$WORK/docker-compose.yml" --profile observability config -q; then
      echo "docker-compose $(docker-compose version --short) config: valid"
    else
      failures=$((failures + 1))
    fi
  else
    failures=$((failures + 1))
  fi
else
  missing_tool "neither 'docker compose' nor 'docker-compose' is installed (apt-get install docker-compose)"
fi

# ---------------------------------------------------------------------------------------------
echo "--- systemd units"
if command -v systemd-analyze >/dev/null; then
  root="$WORK/root"
  mkdir -p "$root/opt/mail-helper/node_modules/.bin" "$root/opt/mail-helper/deploy" \
    "$root/etc/systemd/system" "$root/etc/mail-helper" "$root/usr/lib/systemd" "$root/usr/bin" \
    "$root/var/backups/mail-helper"
  # the system's own units (sysinit.target, basic.target...) the ours are ordered against
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  cp /usr/bin/env "$root/usr/bin/env"
  cp deploy/backup.sh "$root/opt/mail-helper/deploy/backup.sh"
  printf '#!/bin/sh\nexit 0\n' >"$root/opt/mail-helper/node_modules/.bin/node"
  chmod 0755 "$root/opt/mail-helper/node_modules/.bin/node" "$root/opt/mail-helper/deploy/backup.sh"
  cp deploy/env.example "$root/etc/mail-helper/env"
  echo 'DATABASE_OWNER_URL=postgres://mail_helper:x@127.0.0.1:5432/mail_helper' >"$root/etc/mail-helper/migrate.env"
  printf 'root:x:0:0::/root:/bin/sh\npostgres:x:101:101::/var/lib/postgresql:/bin/sh\nmail-helper:x:999:999::/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\npostgres:x:101:\nmail-helper:x:999:\n' >"$root/etc/group"
  units=()
  for file in deploy/*.service deploy/*.timer; do
    cp "$file" "$root/etc/systemd/system/"
    name=$(basename "$file")
    # a template is verified as one instance (the worker's instance is its metrics port)
    [[ $name == *@.service ]] && name=${name/@.service/@9464.service}
    units+=("$name")
  done
  unit_failures=0
  output=$(systemd-analyze --root="$root" verify "${units[@]}" 2>&1) || unit_failures=1
  if [[ -n $output ]]; then
    echo "$output" | sed "s#$root##g" >&2
    unit_failures=1
  fi
  # what verify does not check: the files and users the units name must exist in the staged tree
  while IFS= read -r line; do
    unit=${line%%:*}
    setting=${line#*:}
    key=${setting%%=*}
    value=${setting#*=}
    case $key in
      EnvironmentFile | WorkingDirectory | ReadWritePaths)
        for path in $value; do
          [[ $path == -* ]] && continue
          [[ -e $root$path ]] || {
            echo "$unit: $key=$path: not in the install tree of deploy/README.md" >&2
            unit_failures=1
          }
        done
        ;;
      User | Group)
        grep -q "^$value:" "$root/etc/$([[ $key == User ]] && echo passwd || echo group)" || {
          echo "$unit: $key=$value: no such user or group in the install (deploy/README.md creates mail-helper)" >&2
          unit_failures=1
        }
        ;;
    esac
  done < <(grep -HE '^(EnvironmentFile|WorkingDirectory|ReadWritePaths|User|Group)=' deploy/*.service)
  if [[ $unit_failures -eq 0 ]]; then
    echo "systemd-analyze $(systemd-analyze --version | head -n 1 | awk '{ print $2 }') verify: ${units[*]}: valid"
  else
    failures=$((failures + 1))
  fi
else
  missing_tool "systemd-analyze is not installed (Debian package systemd)"
fi

# ---------------------------------------------------------------------------------------------
echo "--- observability configs (otel/)"
# The collector and Loki have no Debian or npm package, so their own validators
# (`otelcol-contrib validate`, `loki -verify-config`) cannot run here; this checks what can be
# checked without them: every file parses, each pipeline names receivers, processors and exporters
# that are defined, the logs pipeline ends at Loki's OTLP endpoint, Loki accepts OTLP (tsdb v13,
# structured metadata), compose mounts the files, and Grafana's data sources link traces and logs.
if [[ -n $PYTHON_YAML ]]; then
  "$PYTHON_YAML" - <<'PY' || failures=$((failures + 1))
import sys, yaml
problems = []
def load(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except Exception as e:  # a parse error names the file and the line
        problems.append(f"{path}: does not parse: {e}")
        return {}
collector = load("otel/collector.yaml")
loki = load("otel/loki.yaml")
datasources = load("otel/grafana/provisioning/datasources/datasources.yaml")
compose = load("docker-compose.yml")
for path in ("otel/prometheus.yml", "otel/alerts.yml", "otel/grafana/provisioning/dashboards/dashboards.yaml"):
    load(path)
service = collector.get("service") or {}
pipelines = service.get("pipelines") or {}
for kind in ("receivers", "processors", "exporters", "extensions"):
    defined = set(collector.get(kind) or {})
    used = set(service.get("extensions") or []) if kind == "extensions" else set()
    for name, pipeline in pipelines.items():
        if kind == "extensions":
            continue
        names = (pipeline or {}).get(kind) or []
        if kind != "processors" and not names:
            problems.append(f"otel/collector.yaml: pipeline {name} has no {kind}")
        for component in names:
            used.add(component)
            if component not in defined:
                problems.append(f"otel/collector.yaml: pipeline {name} uses {kind[:-1]} {component}, which is not defined")
    for component in sorted(defined - used):
        problems.append(f"otel/collector.yaml: {kind[:-1]} {component} is defined but in no pipeline")
logs = pipelines.get("logs")
if logs is None:
    problems.append("otel/collector.yaml: no logs pipeline")
else:
    if "otlp" not in (logs.get("receivers") or []):
        problems.append("otel/collector.yaml: the logs pipeline does not receive OTLP")
    loki_exporters = [e for e in logs.get("exporters") or [] if str((collector.get("exporters") or {}).get(e, {}).get("endpoint", "")).rstrip("/") == "http://loki:3100/otlp"]
    if not loki_exporters or not all(e.split("/")[0] == "otlphttp" for e in loki_exporters):
        problems.append("otel/collector.yaml: the logs pipeline has no otlphttp exporter to http://loki:3100/otlp")
port = ((loki.get("server") or {}).get("http_listen_port"))
if port != 3100:
    problems.append(f"otel/loki.yaml: http_listen_port is {port}, the collector and Grafana use 3100")
schemas = (loki.get("schema_config") or {}).get("configs") or []
if not schemas or schemas[-1].get("store") != "tsdb" or schemas[-1].get("schema") != "v13":
    problems.append("otel/loki.yaml: OTLP ingestion needs the latest schema to be tsdb v13")
if (loki.get("limits_config") or {}).get("allow_structured_metadata") is not True:
    problems.append("otel/loki.yaml: allow_structured_metadata must be true (trace_id, span_id)")
services = compose.get("services") or {}
mounts = {svc: [str(v).split(":")[0] for v in (services.get(svc) or {}).get("volumes") or []] for svc in services}
for svc, path in (("otel-collector", "./otel/collector.yaml"), ("loki", "./otel/loki.yaml"), ("grafana", "./otel/grafana/provisioning")):
    if svc not in services:
        problems.append(f"docker-compose.yml: no {svc} service")
    elif path not in mounts[svc]:
        problems.append(f"docker-compose.yml: {svc} does not mount {path}")
    elif "observability" not in ((services[svc] or {}).get("profiles") or []):
        problems.append(f"docker-compose.yml: {svc} is not in the observability profile")
by_uid = {d.get("uid"): d for d in datasources.get("datasources") or []}
loki_ds = by_uid.get("loki")
if loki_ds is None or loki_ds.get("type") != "loki" or loki_ds.get("url") != "http://loki:3100":
    problems.append("datasources.yaml: no Loki data source (uid loki) at http://loki:3100")
else:
    fields = (loki_ds.get("jsonData") or {}).get("derivedFields") or []
    if not any(f.get("matcherRegex") == "trace_id" and f.get("datasourceUid") in by_uid for f in fields):
        problems.append("datasources.yaml: Loki has no derived field from trace_id to a defined trace data source")
traces = [d for d in by_uid.values() if d.get("type") in ("jaeger", "tempo")]
links = [((d.get("jsonData") or {}).get("tracesToLogsV2") or {}) for d in traces]
if not any(l.get("datasourceUid") == "loki" and "__trace.traceId" in str(l.get("query", "")) for l in links):
    problems.append("datasources.yaml: no trace data source links its traces to Loki by trace id (tracesToLogsV2)")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"otel/: {len(pipelines)} collector pipelines ({', '.join(pipelines)}) reference defined components; "
      "Loki takes OTLP; Grafana links traces and logs (the collector's and Loki's own validators are not available here)")
PY
else
  missing_tool "no python3 with PyYAML (Debian python3-yaml, installed with docker-compose)"
fi

if [[ $failures -ne 0 ]]; then
  echo "check-deploy: $failures check(s) failed" >&2
  exit 1
fi
echo "check-deploy: all checks passed"
