#!/usr/bin/env bash
# Back up the mail-helper PostgreSQL database with pg_dump (custom format, compressed).
#
# Usage: deploy/backup.sh [-d DIR] [-k DAYS] [-m MIN] [-p PREFIX]
#   -d DIR     where dumps go            (BACKUP_DIR, default /var/backups/mail-helper)
#   -k DAYS    delete dumps older than   (BACKUP_RETENTION_DAYS, default 14; 0 keeps all)
#   -m MIN     always keep the newest MIN dumps, however old (BACKUP_KEEP_MIN, default 3)
#   -p PREFIX  file name prefix          (BACKUP_PREFIX, default mail-helper)
#
# Connection: BACKUP_DATABASE_URL, else DATABASE_URL (a libpq URI or key=value string).
# Back up as a role that sees every row: a superuser or a BYPASSRLS role. pg_dump refuses a
# role that row-level security applies to (with FORCE ROW LEVEL SECURITY, even the owner).
# pg_dump must be the server's major version or newer.
#
# Writes PREFIX-YYYYmmddTHHMMSSZ.dump (UTC) and a .sha256 beside it; the dump is written to a
# temporary name, checked with pg_restore --list, and only then renamed into place. Retention
# goes by the timestamp in the file name, not by mtime, so copied files age correctly.
# Restore with deploy/restore.sh. Cron example (daily, 03:17):
#   17 3 * * *  mail-helper  set -a; . /etc/mail-helper/env; set +a; /opt/mail-helper/deploy/backup.sh
set -euo pipefail

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

dir="${BACKUP_DIR:-/var/backups/mail-helper}"
keep_days="${BACKUP_RETENTION_DAYS:-14}"
keep_min="${BACKUP_KEEP_MIN:-3}"
prefix="${BACKUP_PREFIX:-mail-helper}"

while getopts ':d:k:m:p:h' opt; do
  case "$opt" in
    d) dir="$OPTARG" ;;
    k) keep_days="$OPTARG" ;;
    m) keep_min="$OPTARG" ;;
    p) prefix="$OPTARG" ;;
    h)
      usage
      exit 0
      ;;
    :)
      echo "backup.sh: -$OPTARG needs a value" >&2
      exit 2
      ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then
  usage >&2
  exit 2
fi

[[ $keep_days =~ ^[0-9]+$ ]] || {
  echo "backup.sh: retention days must be a whole number, got '$keep_days'" >&2
  exit 2
}
[[ $keep_min =~ ^[0-9]+$ ]] || {
  echo "backup.sh: keep-min must be a whole number, got '$keep_min'" >&2
  exit 2
}
[[ $prefix =~ ^[A-Za-z0-9._-]+$ ]] || {
  echo "backup.sh: prefix may only contain letters, digits, '.', '_' and '-'" >&2
  exit 2
}

url="${BACKUP_DATABASE_URL:-${DATABASE_URL:-}}"
if [[ -z $url ]]; then
  echo "backup.sh: set BACKUP_DATABASE_URL or DATABASE_URL" >&2
  exit 2
fi

for tool in pg_dump pg_restore psql; do
  command -v "$tool" >/dev/null || {
    echo "backup.sh: $tool not found (install the PostgreSQL client tools)" >&2
    exit 1
  }
done

log() { printf '%s backup.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

umask 077
mkdir -p -- "$dir"

# Name the database without printing the URL (it may hold a password).
db_name=$(psql --no-psqlrc --no-password --quiet --tuples-only --no-align \
  --dbname="$url" --command='SELECT current_database()')
stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$dir/$prefix-$stamp.dump"
partial="$dir/.$prefix-$stamp.dump.partial"
if [[ -e $final ]]; then
  echo "backup.sh: $final already exists" >&2
  exit 1
fi

cleanup() { rm -f -- "$partial"; }
trap cleanup EXIT

log "dumping database '$db_name' to $final"
start=$(date +%s)
pg_dump --no-password --format=custom --compress=6 --dbname="$url" --file="$partial" || {
  echo "backup.sh: pg_dump failed (a row-level security error means: back up as a superuser or BYPASSRLS role via BACKUP_DATABASE_URL)" >&2
  exit 1
}
# A truncated or corrupt archive fails here rather than at restore time.
listing=$(pg_restore --list "$partial") || {
  echo "backup.sh: pg_restore cannot read the new dump" >&2
  exit 1
}
entries=$(grep -vc '^;' <<<"$listing" || true)
[[ $entries -gt 0 ]] || {
  echo "backup.sh: the dump has no entries" >&2
  exit 1
}
mv -- "$partial" "$final"
(cd -- "$dir" && sha256sum -- "$(basename -- "$final")" >"$(basename -- "$final").sha256")
size=$(du -h -- "$final" | cut -f1)
log "done: $entries archive entries, $size, $(($(date +%s) - start)) s"

# Retention: among the dumps older than keep_days, delete all but the newest keep_min dumps.
if [[ $keep_days -gt 0 ]]; then
  cutoff="$prefix-$(date -u -d "-$keep_days days" +%Y%m%dT%H%M%SZ).dump"
  mapfile -t dumps < <(find "$dir" -maxdepth 1 -type f -name "$prefix-*.dump" -printf '%f\n' |
    grep -E "^${prefix//./\\.}-[0-9]{8}T[0-9]{6}Z\.dump$" | LC_ALL=C sort -r)
  index=0
  for name in "${dumps[@]}"; do
    index=$((index + 1))
    if [[ $index -le $keep_min ]]; then
      continue
    fi
    if [[ $name < $cutoff ]]; then
      log "retention: deleting $name (older than $keep_days days)"
      rm -f -- "$dir/$name" "$dir/$name.sha256"
    fi
  done
fi
