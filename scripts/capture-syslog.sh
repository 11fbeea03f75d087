#!/usr/bin/env bash
# Captures real syslog datagrams sent by util-linux logger(1) to a loopback
# listener, for internal/decode's syslog golden test. Each record of the
# output file is: the raw datagram (base64), then the values that were given
# to logger (ground truth: tag, message, host, priority, whether a time stamp
# was sent) and the capture time in Unix seconds, tab-separated.
#
#   scripts/capture-syslog.sh [OUT]   (default internal/decode/testdata/syslog/logger.tsv)
#
# Needs logger (bsdutils) and OpenBSD nc. Sends only to 127.0.0.1.
set -euo pipefail
out=${1:-$(dirname "$0")/../internal/decode/testdata/syslog/logger.tsv}
port=${PORT:-55140}
host=$(hostname)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
: >"$out"

# capture NAME TAG MSG PRIO HOST HASTIME LOGGER-ARGS...
capture() {
	local name=$1 tag=$2 msg=$3 prio=$4 ehost=$5 hastime=$6
	shift 6
	timeout 5 nc -u -l -W 1 127.0.0.1 "$port" >"$tmp" &
	local pid=$!
	sleep 0.3
	logger -n 127.0.0.1 -P "$port" -d -t "$tag" -p "$prio" "$@" -- "$msg"
	wait "$pid" || true
	if [ ! -s "$tmp" ]; then
		echo "no datagram captured for $name" >&2
		exit 1
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(base64 -w0 <"$tmp")" "$tag" "$msg" "$prio" "$ehost" "$hastime" "$(date +%s)" >>"$out"
}

kmsg='[ 1234.567890] DSTEST IN=veth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=10.99.0.2 DST=10.99.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1234 DPT=22 WINDOW=512 RES=0x00 SYN URGP=0'
capture rfc3164-kernel kernel "$kmsg" kern.warning "$host" 1 --rfc3164
capture rfc3164-pid sshd 'Accepted publickey for root' auth.info "$host" 1 --rfc3164 --id=4242
capture rfc3164-local local-tag 'hello: with a colon' local3.err "$host" 1 --rfc3164
capture rfc5424-kernel kernel "$kmsg" kern.warning "$host" 1 --rfc5424
capture rfc5424-notime kernel "$kmsg" kern.notice "$host" 0 --rfc5424=notime
capture rfc5424-nohost kernel "$kmsg" kern.warning - 1 --rfc5424=nohost
capture rfc5424-sd app 'message after sd' user.notice "$host" 1 --rfc5424 --sd-id 'test@32473' --sd-param 'k="v\]x"' --sd-param 'q="a\"b"' --msgid ID47 --id=99
capture rfc5424-notq kernel "$kmsg" kern.info "$host" 1 --rfc5424=notq
echo "wrote $(wc -l <"$out") records to $out"
