#!/usr/bin/env bash
# Installs the system services the test suite uses, from Debian's packages, when they are
# missing: chromium (real-browser test of the human-eval app) and a PostgreSQL server (the
# vote database's second backend). Tests that need one skip with a clear message when it
# could not be installed (not root, no package registry).
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
  echo "ci_services: chromium and postgresql present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ci_services: not root, cannot install ${need[*]}; the tests that need them will skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "ci_services: installing ${need[*]}"
(apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null) \
  || echo "ci_services: apt-get failed for ${need[*]}; the tests that need them will skip"
exit 0
