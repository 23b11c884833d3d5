#!/usr/bin/env bash
# Database roles and the database of mail-helper (docs/security.md, "Database roles in deployment").
# Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d); safe to run
# again (for an existing volume after an upgrade, or on a systemd host as the postgres superuser):
#   docker compose exec postgres /docker-entrypoint-initdb.d/10-app-role.sh
#   sudo -u postgres env APP_DB_USER=mail_helper APP_DB_PASSWORD=... APP_DB_NAME=mail_helper \
#     RUNTIME_DB_USER=mail_helper_runtime RUNTIME_DB_PASSWORD=... deploy/postgres-init/10-app-role.sh
#
#   APP_DB_USER      the schema owner: owns the database and every table, runs migrations only
#                    (DATABASE_OWNER_URL). Not a superuser.
#   mail_helper_app, mail_helper_system
#                    NOLOGIN roles row-level security is written for (migration 0010 reuses them;
#                    the owner may not create roles). The owner is a member (migrations hand a
#                    function to the system role).
#   RUNTIME_DB_USER  the login of the api and the workers (DATABASE_URL): LOGIN NOINHERIT, a member of
#                    mail_helper_app and mail_helper_system only, no other attribute, owns nothing,
#                    may only CONNECT. Re-running resets its attributes and password to these.
# Values are passed as psql variables and quoted by format(%I / %L), never pasted into SQL.
set -euo pipefail

: "${APP_DB_USER:?APP_DB_USER is not set}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is not set}"
: "${APP_DB_NAME:?APP_DB_NAME is not set}"
: "${RUNTIME_DB_USER:?RUNTIME_DB_USER is not set}"
: "${RUNTIME_DB_PASSWORD:?RUNTIME_DB_PASSWORD is not set}"
if [ "$RUNTIME_DB_USER" = "$APP_DB_USER" ]; then
  echo "10-app-role.sh: RUNTIME_DB_USER must differ from APP_DB_USER (the owner can step out of row-level security)" >&2
  exit 1
fi

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v app_user="$APP_DB_USER" -v app_password="$APP_DB_PASSWORD" -v app_db="$APP_DB_NAME" \
  -v runtime_user="$RUNTIME_DB_USER" -v runtime_password="$RUNTIME_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS',
              :'app_user', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user')
\gexec
SELECT format('CREATE ROLE %I NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', role)
FROM unnest(ARRAY['mail_helper_app', 'mail_helper_system']) AS role
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role)
\gexec
SELECT format('GRANT mail_helper_app, mail_helper_system TO %I', :'app_user')
\gexec
SELECT format('CREATE ROLE %I LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION PASSWORD %L',
              :'runtime_user', :'runtime_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'runtime_user')
\gexec
SELECT format('ALTER ROLE %I LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION PASSWORD %L',
              :'runtime_user', :'runtime_password')
\gexec
SELECT format('GRANT mail_helper_app, mail_helper_system TO %I', :'runtime_user')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'app_db', :'app_user', 'UTF8')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'app_db')
\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'app_db', :'runtime_user')
\gexec
SQL

echo "10-app-role.sh: ${APP_DB_USER} owns database ${APP_DB_NAME}; the programs log in as ${RUNTIME_DB_USER}"
