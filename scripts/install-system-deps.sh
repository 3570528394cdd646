#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks drive for real (openssl for interop,
# tshark/nmap/tcpdump/dig for captures, mosquitto clients, nginx and wrk for benchmarks).
# Only what is missing is installed; without root it says what is missing and carries on,
# and the tests that need a missing tool say so when they skip.
set -euo pipefail
declare -A want=(
  [openssl]=openssl [tshark]=tshark [nmap]=nmap [tcpdump]=tcpdump [dig]=dnsutils
  [mosquitto_pub]=mosquitto-clients [mosquitto]=mosquitto [nginx]=nginx-light [wrk]=wrk [ip]=iproute2 [iptables]=iptables [curl]=curl [chromium]=chromium [chromedriver]=chromium-driver
)
missing=()
for cmd in "${!want[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${want[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: not root; missing Debian packages: ${missing[*]}" >&2
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
