#!/usr/bin/env bash
# Drive the coding agent's second level in tmux as a person would, on SmolLM2 with tools on, in a
# workspace with an AGENTS.md, a notes file and a project command: /context shows the request by part
# (AGENTS.md counted), Shift+Tab cycles the modes in the status bar, typing @ opens the file picker and
# Tab inserts the path (the file goes with the message), and /sum (.glmchat/commands/sum.md) expands.
# Usage: tests/tmux_drive_agent.sh [MODEL.gguf]   Exit 0 ok, 1 failed, 77 tmux/model unavailable (skip).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SESSION=glmchat-agent-$$
. "$(dirname "$0")/tmux_lib.sh"
cat >> "$GLMCHAT_CONFIG_DIR/config.toml" <<TOML

[profiles.tool]
temperature = 0.0
top_k = 1
max_tokens = 16
TOML

WS=$WORK/ws
mkdir -p "$WS/.glmchat/commands"
printf 'The launch is on Friday.\nBring the slides.\n' > "$WS/notes.txt"
printf '# Project rules\nAnswer in one line.\n' > "$WS/AGENTS.md"
printf -- '---\ndescription: Summarise something in one line\n---\nSummarise $ARGUMENTS in one line.\n' \
  > "$WS/.glmchat/commands/sum.md"
REPO=$(pwd)

step "launch with tools on, in the workspace"
tmux new-session -d -s "$SESSION" -x 120 -y 35 -c "$WS" "env PYTHONPATH='$REPO' $PY -m glmchat --model '$MODEL' --tools"
wait_for "· ready" 120 || exit 1

step "/context: the next request by part, AGENTS.md counted"
tmux send-keys -t "$SESSION" -l "/context"
tmux send-keys -t "$SESSION" Enter
wait_for "Next request: [0-9,]* tokens" 20 || exit 1
for part in "system prompt (built-in)" "instructions (AGENTS.md)" "tool schemas" "history"; do
  screen | grep -q -- "$part" || { echo "/context lacks: $part"; screen; exit 1; }
done
screen | grep -q "Instructions from: $WS/AGENTS.md" || { echo "/context does not name AGENTS.md"; screen; exit 1; }

step "Shift+Tab cycles the mode: accept edits, plan, back to default"
tmux send-keys -t "$SESSION" BTab
wait_for "accept edits" 5 || exit 1
tmux send-keys -t "$SESSION" BTab
wait_for "plan mode" 5 || exit 1
tmux send-keys -t "$SESSION" BTab
wait_gone "plan mode" 5 || exit 1

step "@ opens the file picker; Tab inserts the path; the file goes with the message"
tmux send-keys -t "$SESSION" -l "Summarise @no"
wait_for "│ notes.txt" 10 || exit 1
tmux send-keys -t "$SESSION" Tab
wait_for "Summarise @notes.txt" 5 || exit 1
tmux send-keys -t "$SESSION" Enter
wait_for "📎 notes.txt" 20 || exit 1
wait_for "tok/s.*· ready" 120 || exit 1

step "a project command: /sum expands \$ARGUMENTS"
tmux send-keys -t "$SESSION" -l "/sum the notes"
tmux send-keys -t "$SESSION" Enter
wait_for "Summarise the notes in one line." 20 || exit 1
wait_for "tok/s.*· ready" 120 || exit 1

tmux send-keys -t "$SESSION" C-q
echo "OK"
exit 0
