#!/usr/bin/env bash
# Drive the real glmchat TUI in tmux as a person would, on the small SmolLM2 model:
# launch, ask a question, watch the answer stream, Ctrl+N, switch back via the sidebar, quit,
# relaunch with -c and check the conversation is intact; then, in a new conversation, attach
# README.md with /read, ask about it, and run `ls` with /run (issue 7's direct tool commands);
# `ask -c` after a `--model` chat uses that model with the network unreachable; a first run that
# downloads from a local Hub look-alike while the user types `/read` and a question (both go once the
# model is there); and the prompt's progress in the status bar while a long prompt is read.
# Usage: tests/tmux_drive.sh [MODEL.gguf]   Exit 0 ok, 1 failed, 77 tmux/model unavailable (skip).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}

. "$(dirname "$0")/tmux_lib.sh"  # tmux, the model, a private tmux server, screen/wait_for/wait_gone/step

launch() {
  tmux new-session -d -s "$SESSION" -x 120 -y 35 "$PY -m glmchat --model '$MODEL' $*"
  wait_for "· ready" 120
}

step "launch"
launch || exit 1
step "ask a question and watch it stream"
tmux send-keys -t "$SESSION" "What is the capital of France?"
tmux send-keys -t "$SESSION" Enter
wait_for "generating\|tok/s.*· ready" 60 || exit 1
screen | grep -q "generating" && echo "   (seen while generating)"
wait_for "tok/s.*· ready" 180 || exit 1
screen | grep -q "What is the capital of France?" || { echo "question not on screen"; screen; exit 1; }
BEFORE=$(screen)

step "Ctrl+N starts a new conversation"
tmux send-keys -t "$SESSION" C-n
sleep 1
CHAT=$(screen | cut -c34-)  # right of the sidebar
echo "$CHAT" | grep -q "What is the capital of France?" && { echo "chat not cleared"; screen; exit 1; }

step "switch back with the sidebar"
tmux send-keys -t "$SESSION" C-b   # hide
sleep 0.5
tmux send-keys -t "$SESSION" C-b   # show and focus the list
sleep 0.5
tmux send-keys -t "$SESSION" Enter
sleep 1.5
screen | cut -c34- | grep -q "What is the capital of France?" || { echo "conversation did not reopen"; screen; exit 1; }

step "quit with Ctrl+Q"
tmux send-keys -t "$SESSION" C-q
sleep 2
tmux has-session -t "$SESSION" 2>/dev/null && { echo "app did not quit"; screen; exit 1; }

step "relaunch with -c: the conversation is intact"
launch -c || exit 1
screen | cut -c34- | grep -q "What is the capital of France?" || { echo "conversation missing after -c"; screen; exit 1; }

step "/read README.md:1-120 attaches those lines (a chip above the input)"
tmux send-keys -t "$SESSION" C-n
sleep 0.5
tmux send-keys -t "$SESSION" -l "/read README.md:1-120"
sleep 0.3
tmux send-keys -t "$SESSION" Enter
wait_for "Attached README.md" 20 || exit 1
wait_for "sent with your next message" 5 || exit 1

step "ask about it: the file goes with the question"
tmux send-keys -t "$SESSION" -l "What is this project called?"
tmux send-keys -t "$SESSION" Enter
wait_gone "sent with your next message" 20 || exit 1   # the chip goes when the message is sent
wait_for "tok/s.*· ready" 240 || exit 1   # (this run of the app has not answered before)
screen | grep -q "What is this project called?" || { echo "question not on screen"; screen; exit 1; }
screen | grep -q "📎 README.md" || { echo "the sent message does not name its attachment"; screen; exit 1; }

step "/run ls shows the output and offers to attach it"
tmux send-keys -t "$SESSION" -l "/run ls"
sleep 0.3
tmux send-keys -t "$SESSION" Enter
wait_for "exit code: 0" 30 || exit 1
screen | grep -q "glmchat" && screen | grep -q "pyproject.toml" || { echo "ls output not shown"; screen; exit 1; }
screen | grep -q "Attach to next message" || { echo "no attach offer"; screen; exit 1; }
tmux send-keys -t "$SESSION" -l "/attach"
sleep 0.3
tmux send-keys -t "$SESSION" Enter
wait_for "Attached \$ ls (" 10 || exit 1

tmux send-keys -t "$SESSION" C-q
wait_closed 60 || exit 1  # the next step starts a session of the same name (quitting saves the KV state first)

step "ask -c continues on the model the chat ran on, with the network unreachable"
# the last conversation ran on --model SmolLM2; no --model here, and the Hub cannot be reached
OUT=$(HF_HUB_OFFLINE= HF_ENDPOINT=http://127.0.0.1:9 timeout 120 $PY -m glmchat ask -c "And in one word?" 2>&1) \
  || { echo "ask -c failed: $OUT"; exit 1; }
echo "$OUT" | grep -qi "download" && { echo "ask -c talked of downloading: $OUT"; exit 1; }
$PY -m glmchat history show "$($PY -m glmchat history list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" \
  | grep -q "SmolLM2-135M-Instruct" || { echo "history show does not name the model"; exit 1; }

step "prompt progress: a long prompt shows tokens read of the total before the first token"
launch || exit 1
tmux send-keys -t "$SESSION" C-n
sleep 0.5
tmux send-keys -t "$SESSION" -l "/read README.md:1-330"
tmux send-keys -t "$SESSION" Enter
wait_for "Attached README.md" 20 || exit 1
tmux send-keys -t "$SESSION" -l "Summarise this."
tmux send-keys -t "$SESSION" Enter
wait_for "prompt [0-9,]*/[0-9,]* ·" 60 || exit 1
echo "   $(screen | grep -o "prompt [0-9,]*/[0-9,]* ·[^·]*·[^·]*" | head -1)"
wait_for "tok/s.*· ready" 240 || exit 1
tmux send-keys -t "$SESSION" C-q
wait_closed 60 || exit 1  # the next step starts a session of the same name (quitting saves the KV state first)

step "first run: download from a Hub look-alike; /read and a question typed meanwhile both go once loaded"
HUB_LOG=$WORK/hub.url
$PY -m tests.fake_hub --serve "UD-Q4_K_XL=$MODEL" --throttle 15000000 > "$HUB_LOG" 2>&1 &
HUB_PID=$!
trap 'kill $HUB_PID 2>/dev/null; tmux kill-server 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do [ -s "$HUB_LOG" ] && break; sleep 0.2; done
HUB_URL=$(head -1 "$HUB_LOG")
tmux new-session -d -s "$SESSION" -x 120 -y 35 \
  "env HF_HUB_OFFLINE= HF_ENDPOINT=$HUB_URL HF_HOME=$WORK/hf $PY -m glmchat"
wait_for "Download (Enter)" 60 || exit 1
tmux send-keys -t "$SESSION" Enter
wait_for "downloading" 30 || exit 1
tmux send-keys -t "$SESSION" -l "/read README.md:1-40"
tmux send-keys -t "$SESSION" Enter
tmux send-keys -t "$SESSION" -l "What is this project called?"
tmux send-keys -t "$SESSION" Enter
wait_for "Attached README.md" 10 || exit 1
wait_for "will be sent when it is ready" 10 || exit 1
screen | grep -q "downloading" || { echo "the download was over before the question was typed"; screen; exit 1; }
wait_for "Model ready: sending your message" 120 || exit 1
wait_for "tok/s.*· ready" 240 || exit 1
screen | grep -q "GLM-4.7-Flash" || { echo "the downloaded quant is not named by its file"; screen; exit 1; }

tmux send-keys -t "$SESSION" C-q
echo "OK"
exit 0
