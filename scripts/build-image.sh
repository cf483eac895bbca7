#!/usr/bin/env bash
# Builds the container image's root filesystem without a container engine.
# The Dockerfile's build stage runs this same script, and .ci/run runs it,
# so what the image needs is checked on every CI run:
#
#   bash scripts/build-image.sh [OUT]     (default OUT: a temporary directory)
#
# Steps: a static, trimmed binary (CGO_ENABLED=0, -trimpath, -s -w); a check
# that it is static; the file capability cap_net_bind_service (when setcap
# exists) so a non-root user can bind the mail ports; /data owned by the
# image's non-root user; checks that the Dockerfile still says what the
# image promises; and (SMOKE=1, the default) a smoke test that runs the
# binary the way the image does: configured only by AUTHSMTP_* variables,
# stopped by SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-$(mktemp -d)}
SMOKE=${SMOKE:-1}
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
NONROOT=65532 # distroless "nonroot"
rootfs=$OUT/rootfs
bin=$rootfs/authsmtp

step() { echo "build-image: $*"; }
fail() { echo "build-image: FAIL: $*" >&2; exit 1; }

rm -rf "$rootfs"
mkdir -p "$rootfs/data"

step "static build ($VERSION)"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=$VERSION" -o "$bin" .

step "check: static binary"
go version -m "$bin" | grep -q 'CGO_ENABLED=0' || fail "binary was not built with CGO_ENABLED=0"
go version -m "$bin" | grep -q -- '-trimpath=true' || fail "binary was not built with -trimpath"
if command -v readelf >/dev/null; then
  if readelf -l "$bin" | grep -q 'INTERP'; then fail "binary asks for a dynamic loader"; fi
fi
"$bin" help >/dev/null 2>&1 || fail "binary does not run"

if command -v setcap >/dev/null; then
  step "file capability cap_net_bind_service"
  if setcap cap_net_bind_service=+ep "$bin" 2>/dev/null; then
    getcap "$bin" | grep -q cap_net_bind_service || fail "setcap did not stick"
  elif [ "$(id -u)" = 0 ]; then
    fail "setcap failed as root"
  else
    step "not root: capability not set (the Dockerfile build runs as root)"
  fi
else
  step "setcap not installed: capability not set (the Dockerfile installs libcap2-bin)"
fi

if [ "$(id -u)" = 0 ]; then
  chown "$NONROOT:$NONROOT" "$rootfs/data"
fi
chmod 700 "$rootfs/data"

step "check: Dockerfile"
for want in 'CGO_ENABLED\|build-image.sh' 'VOLUME /data' 'EXPOSE 25 465 587 143 993 80 443' \
            'HEALTHCHECK' 'USER 65532' 'ENV AUTHSMTP_DATA=/data' 'distroless/static'; do
  grep -q "$want" Dockerfile || fail "Dockerfile lacks: $want"
done
if grep -E '^COPY .*--chown.*/authsmtp /authsmtp' Dockerfile; then
  fail "Dockerfile chowns the binary: that drops its file capability"
fi

if [ "$SMOKE" = 1 ]; then
  step "smoke test: serve from AUTHSMTP_* variables, then SIGTERM"
  data=$(mktemp -d)
  log=$(mktemp)
  [ "$(id -u)" = 0 ] && chown "$NONROOT:$NONROOT" "$data"
  port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  run_as=()
  low=""
  # As root with the capability set, run as the image's user on one port
  # below 1024: this proves the capability lets it bind.
  if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && getcap "$bin" 2>/dev/null | grep -q cap_net_bind_service; then
    for p in 987 988 989; do
      if ! python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',$p))" 2>/dev/null; then continue; fi
      low=$p; break
    done
    if [ -n "$low" ]; then
      run_as=(setpriv --reuid="$NONROOT" --regid="$NONROOT" --clear-groups)
      chmod 755 "$rootfs" "$OUT"
    fi
  fi
  https=127.0.0.1:$(port)
  env -i PATH=/usr/bin:/bin HOME=/nonexistent \
    AUTHSMTP_DATA="$data" AUTHSMTP_HOSTNAME=localhost AUTHSMTP_LOG_FORMAT=json \
    AUTHSMTP_SUBMISSION=127.0.0.1:$(port) AUTHSMTP_SUBMISSIONS=127.0.0.1:$(port) \
    AUTHSMTP_MX=127.0.0.1:$(port) AUTHSMTP_IMAP=127.0.0.1:$(port) AUTHSMTP_IMAPS=127.0.0.1:$(port) \
    AUTHSMTP_HTTPS=$https AUTHSMTP_HTTP=127.0.0.1:$(port) AUTHSMTP_METRICS=127.0.0.1:${low:-$(port)} \
    "${run_as[@]}" "$bin" serve >"$log" 2>&1 &
  pid=$!
  trap 'kill -KILL $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    grep -q '"msg":"authsmtp is running"' "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; fail "serve exited at start"; }
    sleep 0.1
  done
  grep -q '"msg":"authsmtp is running"' "$log" || { cat "$log"; fail "serve did not start"; }
  if [ -n "$low" ]; then
    grep -q "\"addr\":\"127.0.0.1:$low\"" "$log" || { cat "$log"; fail "non-root user could not bind port $low"; }
    step "non-root user $NONROOT bound port $low through the file capability"
  fi
  AUTHSMTP_DATA="$data" "${run_as[@]}" "$bin" domain add smoke.test >/dev/null || fail "admin command through the control socket"
  if grep -q '"service":"https"' "$log"; then
    AUTHSMTP_HTTPS=$https "$bin" healthcheck || { cat "$log"; fail "healthcheck"; }
  else
    step "no https listener yet: healthcheck not tried"
  fi
  kill -TERM "$pid"
  wait "$pid" || { cat "$log"; fail "serve did not exit 0 on SIGTERM"; }
  grep -q '"msg":"stopped"' "$log" || { cat "$log"; fail "no clean stop"; }
  trap - EXIT
  rm -rf "$data" "$log"
fi

step "ok: $(du -h "$bin" | cut -f1) static binary in $rootfs"
