/**
 * `curl -fsSL <control plane>/api/agent/install.sh | sh -s -- --token <token>`: the agent for hosts the control
 * plane cannot reach over SSH. The same layout and unit as the SSH installer; the bundle is fetched from the
 * versioned URL and checked against the sha256 this script carries, the agent's prerequisite check runs before
 * anything is configured, and without systemd the agent is started in the background (nohup, setsid).
 */
import type { BundleManifest } from './bundle';
import { agentUnit, defaultLayout } from './layout';
import { envFileQuote, shQuote } from './quote';

export function installCommand(publicUrl: string, token: string): string {
  return `curl -fsSL ${shQuote(new URL('/api/agent/install.sh', publicUrl).toString())} | sh -s -- --token ${shQuote(token)}`;
}

export function installScript(publicUrl: string, manifest: BundleManifest): string {
  // The unit and paths are written with the script's variables, which the unquoted heredoc expands on the host.
  const unit = agentUnit({
    prefix: '$PREFIX',
    dataRoot: '$DATA_ROOT',
    dockerSocket: '$DOCKER_SOCKET',
    unitName: defaultLayout.unitName,
  });
  const bundleUrl = new URL(`/api/agent/bundle/${manifest.version}/berth-agent.mjs`, publicUrl).toString();
  return `#!/bin/sh
# Berth agent ${manifest.version} installer.
# Usage: curl -fsSL <this URL> | sh -s -- --token <enrolment token> [--prefix DIR] [--data-root DIR] [--docker-socket PATH]
set -eu
CONTROL_PLANE_LINE=${shQuote(`BERTH_CONTROL_PLANE=${envFileQuote(publicUrl)}`)}
BUNDLE_URL=${shQuote(bundleUrl)}
SHA256=${shQuote(manifest.sha256)}
PREFIX=${shQuote(defaultLayout.prefix)}
DATA_ROOT=${shQuote(defaultLayout.dataRoot)}
DOCKER_SOCKET=${shQuote(defaultLayout.dockerSocket)}
UNIT=${shQuote(`/etc/systemd/system/${defaultLayout.unitName}.service`)}
TOKEN=
fail() { echo "$*" >&2; exit 1; }
plain_path() {
  case "$1" in
    /*) ;;
    *) fail "$2 must be an absolute path" ;;
  esac
  case "$1" in
    *[!A-Za-z0-9._/-]* | *..*) fail "$2 may hold only letters, digits and . _ / -" ;;
  esac
}
while [ $# -gt 0 ]; do
  case "$1" in
    --token) TOKEN=\${2:-}; shift 2 ;;
    --prefix) PREFIX=\${2:-}; shift 2 ;;
    --data-root) DATA_ROOT=\${2:-}; shift 2 ;;
    --docker-socket) DOCKER_SOCKET=\${2:-}; shift 2 ;;
    *) echo "unknown option: $1 (usage: sh -s -- --token <enrolment token>)" >&2; exit 2 ;;
  esac
done
case "$TOKEN" in
  '') echo "--token is required: copy the command from Add a host in Berth" >&2; exit 2 ;;
  *[!A-Za-z0-9_-]*) echo "the token has characters an enrolment token never has" >&2; exit 2 ;;
esac
plain_path "$PREFIX" --prefix
plain_path "$DATA_ROOT" --data-root
plain_path "$DOCKER_SOCKET" --docker-socket
[ "$(id -u)" = 0 ] || fail "run as root (… | sudo sh -s -- --token …)"
command -v node >/dev/null 2>&1 || fail "Node.js 20.19 or newer is needed: apt-get install nodejs (Debian 13, Ubuntu 24.04) or NodeSource"
mkdir -p "$PREFIX"
staging=$(mktemp -d "$PREFIX/.install.XXXXXX")
trap 'rm -rf "$staging"' EXIT
tmp="$staging/berth-agent.mjs"
echo "downloading the agent from $BUNDLE_URL"
curl -fsSL "$BUNDLE_URL" -o "$tmp"
echo "$SHA256  $tmp" | sha256sum -c - >/dev/null || fail "the download does not match its checksum; try again"
node "$tmp" check || fail "fix what is missing above (apt-get install …), then run this again"
chmod 0644 "$tmp"
mv -f "$tmp" "$PREFIX/berth-agent.mjs"
(umask 077 && printf '%s\n' "$CONTROL_PLANE_LINE" "BERTH_DATA_ROOT='$DATA_ROOT'" "BERTH_DOCKER_SOCKET='$DOCKER_SOCKET'" "BERTH_ENROLL_TOKEN='$TOKEN'" > "$PREFIX/agent.env")
if [ -d /run/systemd/system ]; then
  cat > "$UNIT" <<EOF
${unit}EOF
  systemctl daemon-reload
  systemctl enable ${defaultLayout.unitName}.service
  systemctl restart ${defaultLayout.unitName}.service
  echo "the agent runs as ${defaultLayout.unitName}.service; the host appears in Berth once it has enrolled"
else
  if [ -f "$PREFIX/agent.pid" ] && kill -0 "$(cat "$PREFIX/agent.pid")" 2>/dev/null; then kill "$(cat "$PREFIX/agent.pid")"; sleep 2; fi
  cd "$PREFIX"
  set -a; . "$PREFIX/agent.env"; set +a
  BERTH_PID_FILE="$PREFIX/agent.pid" nohup setsid /usr/bin/env node "$PREFIX/berth-agent.mjs" >> "$PREFIX/agent.log" 2>&1 < /dev/null &
  echo $! > "$PREFIX/agent.pid"
  echo "systemd is not running on this host: the agent was started in the background (log $PREFIX/agent.log); it will not be restarted after a crash or a reboot"
fi
`;
}
