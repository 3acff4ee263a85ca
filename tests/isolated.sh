#!/usr/bin/env bash
# Run a command in a fresh private network namespace that has only loopback, so that no test
# can reach a real network interface, not even by mistake (mDNS multicast included).
# Needs root and iproute2; without them the command runs as it is, unless
# GPTGROUP_REQUIRE_NETNS=1 (as in CI), which makes that an error.
set -euo pipefail
if [ -n "${GPTGROUP_TEST_NETNS:-}" ]; then
  exec "$@"  # already isolated
fi
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
  if [ "${GPTGROUP_REQUIRE_NETNS:-}" = 1 ]; then
    echo "isolated.sh: GPTGROUP_REQUIRE_NETNS=1 but network namespaces need root and iproute2" >&2
    exit 2
  fi
  echo "note: not root or no 'ip': tests run without a private network namespace;" \
       "discovery tests will be skipped" >&2
  exec "$@"
fi
ns="gptgroup-test-$$"
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip -n "$ns" link set lo multicast on up
ip -n "$ns" route add 224.0.0.0/4 dev lo 2>/dev/null || true
GPTGROUP_TEST_NETNS="$ns" ip netns exec "$ns" "$@"
