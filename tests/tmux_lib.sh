# Shared by the tmux drives (tests/tmux_drive.sh, tests/tmux_drive_agent.sh): finds tmux and SmolLM2
# (exit 77 = skip), makes a temporary home for glmchat (config with greedy, short answers) and a
# private tmux server (its own socket, so a drive never sees or touches the user's sessions), and
# defines screen, wait_for PATTERN SECONDS, wait_gone PATTERN SECONDS, wait_closed SECONDS and step. Source it from the
# repository root; PY and SESSION may be set before.
if ! command -v tmux >/dev/null 2>&1; then
  (apt-get install -y tmux || (apt-get update && apt-get install -y tmux)) >/dev/null 2>&1 || { echo "tmux unavailable"; exit 77; }
fi
MODEL=${1:-$($PY -c 'from tests.conftest import find_smollm2; p = find_smollm2(); print(p or "")')}
[ -n "$MODEL" ] || { echo "SmolLM2 model not found"; exit 77; }

WORK=$(mktemp -d)
export GLMCHAT_CONFIG_DIR=$WORK/config GLMCHAT_DATA_DIR=$WORK/data GLMCHAT_CACHE_DIR=$WORK/cache HF_HUB_OFFLINE=1
mkdir -p "$GLMCHAT_CONFIG_DIR"
cat > "$GLMCHAT_CONFIG_DIR/config.toml" <<TOML
[chat]
thinking = "off"

[model]
n_ctx = 8192

[profiles.general]
temperature = 0.0
top_k = 1
max_tokens = 16
TOML
SESSION=glmchat-drive-$$
# A private tmux server (its own socket), so the drive never sees or touches the user's sessions.
tmux() { command tmux -L "glmchat-test-$$" "$@"; }
trap 'tmux kill-server 2>/dev/null; rm -rf "$WORK"' EXIT

screen() { tmux capture-pane -p -t "$SESSION"; }
wait_for() {  # wait_for PATTERN SECONDS
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    if screen | grep -q -- "$1"; then return 0; fi
    sleep 0.3
  done
  echo "FAILED waiting for: $1"; echo "----- screen -----"; screen; return 1
}
wait_gone() {  # wait_gone PATTERN SECONDS
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    if ! screen | grep -q -- "$1"; then return 0; fi
    sleep 0.3
  done
  echo "FAILED waiting for this to go: $1"; echo "----- screen -----"; screen; return 1
}
wait_closed() {  # wait_closed SECONDS: until the app has quit and its session is gone
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do
    tmux has-session -t "$SESSION" 2>/dev/null || return 0
    sleep 0.3
  done
  echo "FAILED waiting for the app to quit"; echo "----- screen -----"; screen; return 1
}
step() { echo "== $*"; }
