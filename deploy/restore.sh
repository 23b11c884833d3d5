#!/usr/bin/env bash
# Restore a dump made by deploy/backup.sh into a target database.
#
# Usage: deploy/restore.sh [--yes] [--jobs N] DUMP_FILE [TARGET_DATABASE_URL] [-- PG_RESTORE_ARGS...]
#   TARGET_DATABASE_URL  default RESTORE_DATABASE_URL, else DATABASE_URL
#   --yes                do not ask (needed when stdin is not a terminal)
#   --jobs N             restore with N parallel jobs (then not in one transaction)
#   -- ARGS              extra pg_restore arguments, e.g. -- --no-owner --no-privileges
#
# The target database must exist (createdb it first for a fresh one). Objects in the dump are
# dropped first (--clean --if-exists) and re-created; objects that are not in the dump are left
# alone. Without --jobs the restore runs in a single transaction: on any error nothing changes.
# Ownership and grants are restored as dumped, so restore as a superuser into a cluster that
# has the same roles (the postgres-init script creates the application role); add
# `-- --no-owner --no-privileges` when restoring elsewhere. Stop the api and the workers first.
set -euo pipefail

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

assume_yes=false
jobs=""
positional=()
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --yes | -y)
      assume_yes=true
      shift
      ;;
    --jobs | -j)
      [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || {
        echo "restore.sh: --jobs needs a positive number" >&2
        exit 2
      }
      jobs="$2"
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      extra=("$@")
      break
      ;;
    -*)
      echo "restore.sh: unknown option $1" >&2
      usage >&2
      exit 2
      ;;
    *)
      positional+=("$1")
      shift
      ;;
  esac
done

if [[ ${#positional[@]} -lt 1 || ${#positional[@]} -gt 2 ]]; then
  usage >&2
  exit 2
fi
dump="${positional[0]}"
url="${positional[1]:-${RESTORE_DATABASE_URL:-${DATABASE_URL:-}}}"
if [[ -z $url ]]; then
  echo "restore.sh: give TARGET_DATABASE_URL or set RESTORE_DATABASE_URL / DATABASE_URL" >&2
  exit 2
fi
if [[ ! -f $dump || ! -r $dump ]]; then
  echo "restore.sh: cannot read dump file '$dump'" >&2
  exit 1
fi

for tool in pg_restore psql; do
  command -v "$tool" >/dev/null || {
    echo "restore.sh: $tool not found (install the PostgreSQL client tools)" >&2
    exit 1
  }
done

log() { printf '%s restore.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

# The checksum written by backup.sh, when it is there.
if [[ -f "$dump.sha256" ]]; then
  (cd -- "$(dirname -- "$dump")" && sha256sum --check --quiet -- "$(basename -- "$dump").sha256") || {
    echo "restore.sh: checksum mismatch for $dump" >&2
    exit 1
  }
  log "checksum ok"
fi
entries=$(pg_restore --list "$dump" | grep -vc '^;' || true)
[[ $entries -gt 0 ]] || {
  echo "restore.sh: '$dump' is not a pg_dump custom-format archive with entries" >&2
  exit 1
}

# Name the target without printing the URL (it may hold a password); fails if it does not exist.
target_db=$(psql --no-psqlrc --no-password --quiet --tuples-only --no-align \
  --dbname="$url" --command='SELECT current_database()') || {
  echo "restore.sh: cannot connect to the target database (does it exist? createdb it first)" >&2
  exit 1
}

if [[ $assume_yes != true ]]; then
  if [[ ! -t 0 ]]; then
    echo "restore.sh: refusing to overwrite '$target_db' without --yes (stdin is not a terminal)" >&2
    exit 1
  fi
  printf "This replaces every object of the dump in database '%s'. Type the database name to go on: " "$target_db"
  read -r answer
  if [[ $answer != "$target_db" ]]; then
    echo "restore.sh: not confirmed, nothing changed" >&2
    exit 1
  fi
fi

args=(--no-password --clean --if-exists --exit-on-error --dbname="$url")
if [[ -n $jobs ]]; then
  args+=(--jobs="$jobs")
else
  args+=(--single-transaction)
fi

log "restoring $dump ($entries archive entries) into database '$target_db'"
start=$(date +%s)
pg_restore "${args[@]}" "${extra[@]}" "$dump"
# Planner statistics are not in the dump.
psql --no-psqlrc --no-password --quiet --dbname="$url" --command='ANALYZE' >/dev/null
log "done in $(($(date +%s) - start)) s"
