#!/usr/bin/env bash
# What naming the holder (migration 0073) costs a batch claim of mail.analyze.
#
#   bash bench/claims.sh [messages=20000] [rounds=5] [cycles=300]
#
# A throw-away database (migrated to the newest schema) with one owner and `messages` pending
# messages. One session runs one job's cycle `cycles` times: claim the 50 oldest pending messages
# (ProcessingStore.claimAnalysis's pick and stamp), then release them by id (the table stays as it
# was). Two forms, interleaved `rounds` times in the same run:
#   until   0072's claim: stamps analysis_claimed_until; the release clears unexpired claims
#   holder  0073's claim: stamps analysis_claimed_until and analysis_claimed_by; takes the holder's
#           own claims too; the release clears the holder's
# Per round and form it prints the server backend's CPU per cycle (utime + stime of the backend
# from /proc/self/stat, read through pg_read_file: steadier than wall time on a loaded host) and
# the wall time; then the medians, the CPU ratio holder/until, and the share of the row updates
# that were HOT (no new entry in any of the emails indexes: the claim columns are in none).
#
# Read: `ratio holder/until` near 1.00 (the holder adds one uuid per stamped row and an OR to the
# filter) and `HOT` near 100 % for both. As superuser (no row-level security): the SQL's own cost.
# PostgreSQL must run on this host (the backend's /proc). Takes ~2-4 minutes (most of it the migration).
set -euo pipefail
MESSAGES=${1:-20000}
ROUNDS=${2:-5}
CYCLES=${3:-300}
BASE=${DRILL_POSTGRES_URL:-postgres://root@127.0.0.1:5432}
DB="mh_bench_claims_$$"
URL="$BASE/$DB"
WORK=$(mktemp -d)
cleanup() {
  psql "$BASE/postgres" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$(dirname "$0")/.."

psql "$BASE/postgres" -qAtc "CREATE DATABASE $DB"
cat >"$WORK/migrate.mts" <<EOF
import { migrateDatabase } from "$PWD/scripts/drills/support.ts"
await migrateDatabase(process.env["BENCH_DB"] ?? "")
process.exit(0)
EOF
BENCH_DB="$URL" npx tsx "$WORK/migrate.mts" >/dev/null

OWNER=0b0b0b0b-0000-4000-8000-0000000000c1
HOLDER=0b0b0b0b-0000-4000-8000-0000000000d1
psql "$URL" -v ON_ERROR_STOP=1 -qAt <<SQL
INSERT INTO users (id, email, password_hash) VALUES ('$OWNER', 'claims@bench.test', 'x');
INSERT INTO mail_accounts (id, user_id, label, host, port, security, username, password_sealed)
  VALUES ('$OWNER', '$OWNER', 'bench', 'imap.bench.test', 993, 'tls', 'claims', 'x');
INSERT INTO mailboxes (id, user_id, account_id, path, name) VALUES ('$OWNER', '$OWNER', '$OWNER', 'INBOX', 'INBOX');
INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, thread_id, subject, text_body, message_key)
  SELECT '$OWNER', '$OWNER', '$OWNER', 1, i, 't' || i, 'Subject ' || i, repeat('body text ', 1000), 'k' || i
  FROM generate_series(1, $MESSAGES) i;
VACUUM ANALYZE emails;
SQL

# one job's cycle in each form: claim the 50 oldest pending, then release them by id
psql "$URL" -v ON_ERROR_STOP=1 -qAt <<SQL
CREATE FUNCTION bench_cycle_until() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE ids uuid[];
BEGIN
  WITH picked AS MATERIALIZED (
    SELECT e.id FROM emails e
    WHERE e.user_id = '$OWNER' AND e.analysis_state = 'pending' AND e.canonical
      AND (e.analysis_claimed_until IS NULL OR e.analysis_claimed_until <= now())
    ORDER BY e.created_at, e.id LIMIT 50
    FOR NO KEY UPDATE SKIP LOCKED),
  claimed AS (
    UPDATE emails c SET analysis_claimed_until = now() + make_interval(secs => 900)
    FROM picked WHERE c.id = picked.id RETURNING c.id)
  SELECT array_agg(id) INTO ids FROM claimed;
  UPDATE emails c SET analysis_claimed_until = NULL
  FROM (SELECT e.id FROM emails e
        WHERE e.user_id = '$OWNER' AND e.id = ANY(ids) AND e.analysis_claimed_until > now()
        FOR NO KEY UPDATE SKIP LOCKED) held
  WHERE c.id = held.id;
END \$\$;
CREATE FUNCTION bench_cycle_holder() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE ids uuid[];
BEGIN
  WITH picked AS MATERIALIZED (
    SELECT e.id FROM emails e
    WHERE e.user_id = '$OWNER' AND e.analysis_state = 'pending' AND e.canonical
      AND (e.analysis_claimed_until IS NULL OR e.analysis_claimed_until <= now()
           OR e.analysis_claimed_by = '$HOLDER'::uuid)
    ORDER BY e.created_at, e.id LIMIT 50
    FOR NO KEY UPDATE SKIP LOCKED),
  claimed AS (
    UPDATE emails c SET analysis_claimed_until = now() + make_interval(secs => 900),
      analysis_claimed_by = '$HOLDER'::uuid
    FROM picked WHERE c.id = picked.id RETURNING c.id)
  SELECT array_agg(id) INTO ids FROM claimed;
  UPDATE emails c SET analysis_claimed_until = NULL, analysis_claimed_by = NULL
  FROM (SELECT e.id FROM emails e
        WHERE e.user_id = '$OWNER' AND e.id = ANY(ids) AND e.analysis_claimed_by = '$HOLDER'::uuid
        FOR NO KEY UPDATE SKIP LOCKED) held
  WHERE c.id = held.id;
END \$\$;
-- the backend's CPU so far (utime + stime, clock ticks): /proc/self is the backend
CREATE FUNCTION bench_cpu_ticks() RETURNS bigint LANGUAGE sql AS \$\$
  SELECT (f[12])::bigint + (f[13])::bigint
  -- the fields after the command's name: state is f[1], utime f[12], stime f[13]
  FROM (SELECT string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS f) s
\$\$;
SQL

hot() { psql "$URL" -qAtc "SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'emails'"; }
TICK_MS=$(awk -v hz="$(getconf CLK_TCK)" 'BEGIN {print 1000 / hz}')
declare -A CPU WALL UPD HOTS
for form in until holder; do CPU[$form]=""; WALL[$form]=""; UPD[$form]=0; HOTS[$form]=0; done
for round in $(seq 1 "$ROUNDS"); do
  for form in until holder; do
    read -r u0 h0 <<<"$(hot)"
    # one session: CPU ticks before, CYCLES cycles, ticks after, wall time (ms)
    read -r t0 t1 ms <<<"$(psql "$URL" -v ON_ERROR_STOP=1 -qAt -F ' ' <<SQL
SELECT bench_cpu_ticks() AS t0, clock_timestamp() AS c0 \gset
$(for _ in $(seq 1 "$CYCLES"); do echo "SELECT bench_cycle_$form() \\g /dev/null"; done)
SELECT :t0, bench_cpu_ticks(), round(extract(epoch FROM clock_timestamp() - :'c0'::timestamptz) * 1000);
SQL
)"
    sleep 0.6 # the statistics' flush
    read -r u1 h1 <<<"$(hot)"
    UPD[$form]=$((UPD[$form] + u1 - u0))
    HOTS[$form]=$((HOTS[$form] + h1 - h0))
    cpu=$(awk -v a="$t0" -v b="$t1" -v t="$TICK_MS" -v n="$CYCLES" 'BEGIN {printf "%.3f", (b - a) * t / n}')
    wall=$(awk -v ms="$ms" -v n="$CYCLES" 'BEGIN {printf "%.3f", ms / n}')
    CPU[$form]="${CPU[$form]} $cpu"
    WALL[$form]="${WALL[$form]} $wall"
    echo "round $round $form: $cpu ms CPU, $wall ms wall per claim + release of 50"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
cu=$(echo "${CPU[until]}" | median)
ch=$(echo "${CPU[holder]}" | median)
echo "median CPU per cycle: until $cu ms, holder $ch ms, ratio holder/until: $(awk -v a="$ch" -v b="$cu" 'BEGIN {printf "%.2f", a / b}')"
echo "median wall per cycle: until $(echo "${WALL[until]}" | median) ms, holder $(echo "${WALL[holder]}" | median) ms"
for form in until holder; do
  share=$(awk -v h="${HOTS[$form]}" -v u="${UPD[$form]}" 'BEGIN {if (u > 0) printf "%.1f", 100 * h / u; else printf "0"}')
  echo "HOT $form: $share % of ${UPD[$form]} row updates"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
