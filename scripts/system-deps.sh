#!/usr/bin/env bash
# Installs the system tools ran-harness drives (Debian/Ubuntu package names), or, when not
# root, says exactly what to install. Usage: scripts/system-deps.sh [run|test|build]
set -euo pipefail
mode="${1:-run}"
# tool:package pairs; the test suite also needs real net-snmp and OpenSSH servers.
needs=(iperf3:iperf3 irtt:irtt ping:iputils-ping)
# report.pdf: WeasyPrint prints with pango and embeds DejaVu (Vietnamese diacritics)
needs+=(/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core)
needs+=("/usr/lib/*/libpango-1.0.so.0:libpango-1.0-0")
if [ "$mode" = test ]; then
  needs+=(snmpd:snmpd snmpget:snmp snmptrap:snmp snmpinform:snmp sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client)
  needs+=(snmptrapd:snmptrapd)  # the simulated gNodeB's traps are received by net-snmp's
  needs+=(ssh-agent:openssh-client openssl:openssl unshare:util-linux)  # SSH auth tests
  needs+=(victoria-metrics:victoria-metrics)  # serves InfluxDB's v2 write API to sink tests
  needs+=(pdftotext:poppler-utils pdffonts:poppler-utils)  # the PDF report's text and fonts
  needs+=(chromium:chromium)  # screenshot of report.html at 1280 px
  needs+=("/usr/lib/postgresql/*/bin/initdb:postgresql" runuser:util-linux)  # campaign queue tests
fi
if [ "$mode" = build ]; then
  # the UDP relay's C core (harness/simlab/_udpcore.c), built by `pip install -e .`: a C compiler
  # and the headers of the Python that builds it (optional: without them the Python relay runs)
  needs=(gcc:gcc)
  py="${PYTHON:-python3}"
  if ! "$py" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
    needs+=(python3-dev-headers:python3-dev)
  fi
fi
missing=()
for pair in "${needs[@]}"; do
  tool="${pair%%:*}"; pkg="${pair##*:}"
  if [ "${tool#/}" != "$tool" ]; then  # a file (glob) the package installs
    present=$(compgen -G "$tool" >/dev/null && echo yes || echo no)
  elif command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ]; then present=yes
  else present=no; fi
  if [ "$present" = no ]; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "missing system packages: ${missing[*]}" >&2
echo "install them with:  sudo apt-get install ${missing[*]}" >&2
exit 1
