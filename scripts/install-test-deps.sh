#!/usr/bin/env bash
# Installs the Debian packages some tests need (a real OpenLDAP server and its tools,
# a Samba AD domain controller, PostgreSQL, MariaDB, Prometheus's promtool), when they are missing and this runs as root
# (as CI does).
# Otherwise it only says what is missing: those tests then skip, each naming the package
# to install.
# The system services are never started: the tests run their own servers.
set -euo pipefail

packages=()
command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || packages+=(slapd)
command -v ldapadd >/dev/null 2>&1 || packages+=(ldap-utils)
# README.md's first hour looks into the SQLite table with the SQLite shell.
command -v sqlite3 >/dev/null 2>&1 || packages+=(sqlite3)
# The PostgreSQL tests start their own cluster with initdb and pg_ctl (tests/postgresql_server.py).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
# The MySQL provider's tests start their own MariaDB with mariadb-install-db and mariadbd
# (tests/mysql_server.py); the mariadb client seeds their tables.
if ! command -v mariadb-install-db >/dev/null 2>&1 || [ ! -x /usr/sbin/mariadbd ]; then
  packages+=(mariadb-server mariadb-client)
fi
# The Active Directory tests start their own Samba DC (tests/ad_server.py). Installing it
# adds winbind to /etc/nsswitch.conf: expected, and harmless while winbindd is not running.
if ! command -v samba-tool >/dev/null 2>&1 || [ ! -x /usr/sbin/samba ]; then
  packages+=(samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules
    winbind krb5-user ldb-tools)
fi
# The alert rules in deploy/ are loaded by promtool (tests/unit/test_deploy.py); Debian
# ships it in the prometheus package (19 MB), whose server is never started here.
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)

[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${packages[*]} not installed (not root, or no apt-get): the tests that need them skip." >&2
  echo "      install them with: sudo apt-get install ${packages[*]}" >&2
  exit 0
fi

echo "installing test dependencies: ${packages[*]}"
# Answer slapd's questions up front so the install never stops to ask; the tests write
# their own configuration, so these answers only keep the package's postinst quiet.
debconf-set-selections <<'SEL'
slapd slapd/no_configuration boolean false
slapd slapd/domain string example.org
slapd slapd/password1 password adminpw
slapd slapd/password2 password adminpw
krb5-config krb5-config/default_realm string EXAMPLE.TEST
SEL
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d answering 101 keeps the packages from starting the system slapd, samba,
# postgresql, mariadb and prometheus.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
status=0
# Samba's DC is installed as ../shared/INFRA.md tried it: with its recommended packages.
flags=(--no-install-recommends)
[[ " ${packages[*]} " == *" samba "* ]] && flags=()
apt-get install -y -qq "${flags[@]}" "${packages[@]}" >/dev/null || status=$?
[ "$created_policy" -eq 1 ] && rm -f "$policy"
exit "$status"
