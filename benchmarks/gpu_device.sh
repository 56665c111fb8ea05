#!/usr/bin/env bash
# The engine and speculative benchmarks on a CUDA machine (the H200 the device tool lends; see
# benchmarks/README.md, "gpu_device.sh"). Stages:
#
#   benchmarks/gpu_device.sh prepare   HERE, with the package registry: writes .device-carry/ (ignored) =
#                                      llama-src.tar.gz (llama-cpp-python's sdist trimmed to what a CUDA
#                                      build of libllama + llama-bench needs, its Python package and gguf-py)
#                                      + wheels/ (the pure-Python packages the benchmarks import that the
#                                      device image lacks: diskcache, platformdirs)
#   benchmarks/gpu_device.sh build     THERE: one CMake build of the vendored llama.cpp, CUDA for sm_90 only:
#                                      libllama/libggml* (which llama-cpp-python's Python package loads
#                                      through LLAMA_CPP_LIB_PATH) and llama-bench, from the same sources
#   benchmarks/gpu_device.sh bench     THERE: a GLM-shaped model (benchmarks/glm_shaped_model.py, NextN
#                                      layer, ~2.2 GB Q4_K_M), engine_speed.py and
#                                      speculative_vs_llama_bench.py against llama-bench, the ratios printed
#   benchmarks/gpu_device.sh all       build, then bench (what one device call runs)
#   benchmarks/gpu_device.sh dry-run   HERE, on the CPU: every step but the CUDA build, with the tiny model,
#                                      the installed llama.cpp libraries and short runs (< 2 minutes)
#
# Device call: run(command="bash benchmarks/gpu_device.sh all", carry=[".device-carry"], timeout_s=600).
# Assumptions about that machine (/work/.library/device/README.md, KINDS.md): x86-64, 16 cores, nvcc
# 13 + CMake + ninja, python3 3.12 with numpy, jinja2, typing_extensions, pyyaml, typer; no network (so
# nothing is pip-installed from an index: the wheels travel, llama-cpp-python is not pip-built); $OUT
# comes back (at most 8 files). Every step has a timeout and the whole run a deadline (TOTAL_S).
# Knobs (environment): LAYERS EXPERTS QUANT (the model), N_GEN REPS ROUNDS THREADS, SAMPLING (engine_speed.py
# --sampling, default both), LLAMA_BENCH (another llama-bench), the *_S timeouts, WORK, OUT, CARRY, SDIST.
# The dry run uses 1 thread: on a busy 2-core VM, 2 OpenMP threads spin against each other (60x slower).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARRY=${CARRY:-$ROOT/.device-carry}
WORK=${WORK:-/tmp/glmchat-gpu}
RESULTS=${OUT:-$WORK/out}
PY=${PYTHON:-python3}
TOTAL_S=${TOTAL_S:-570}        # the whole `all` run, under the device tool's 600 s per command
BUILD_S=${BUILD_S:-330}        # CMake configure + build (sm_90 only, 16 cores)
MODEL_S=${MODEL_S:-150}        # writing and quantizing the GLM-shaped model
ENGINE_S=${ENGINE_S:-90}       # engine_speed.py
SPEC_S=${SPEC_S:-150}          # speculative_vs_llama_bench.py
LAYERS=${LAYERS:-24} EXPERTS=${EXPERTS:-8} QUANT=${QUANT:-Q4_K_M}
N_GEN=${N_GEN:-128} REPS=${REPS:-3} ROUNDS=${ROUNDS:-5} THREADS=${THREADS:-}
export SAMPLING=${SAMPLING:-both} RESULTS  # engine_speed.py --sampling: CPU chain and in-graph, side by side
DRY=0
SRC=$WORK/src
BUILD=$WORK/build

say() { printf '[gpu_device %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# seconds left for a step: its own budget, never past the run's deadline
budget() {
    local left=$((TOTAL_S - SECONDS))
    ((left < $1)) && echo "$left" || echo "$1"
}

step() {  # step NAME SECONDS CMD...: run with a timeout, log to $RESULTS/NAME.log; 124 means it ran out of time
    local name=$1 limit
    limit=$(budget "$2")
    shift 2
    ((limit > 5)) || { say "$name: skipped, the run's deadline is reached"; return 124; }
    say "$name (at most ${limit}s)"
    timeout --kill-after=10 "$limit" "$@" > >(tee "$RESULTS/$name.log") 2> >(tee -a "$RESULTS/$name.log" >&2)
    local rc=$?
    ((rc == 124)) && say "$name: ran out of its ${limit}s"
    ((rc != 0 && rc != 124)) && say "$name: exit $rc (see $name.log)"
    return $rc
}

prepare() {
    local tmp ver sdist top
    tmp=$(mktemp -d)
    ver=$("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || echo 0.3.36)
    sdist=${SDIST:-}
    if [[ -z $sdist ]]; then
        say "downloading the llama-cpp-python $ver sdist"
        "$PY" -m pip download --no-deps --no-binary :all: -d "$tmp/dl" "llama-cpp-python==$ver" >&2 || die "pip download of the sdist"
        sdist=$(ls "$tmp"/dl/llama_cpp_python-*.tar.gz | head -1)
    fi
    [[ -f $sdist ]] || die "no sdist at '$sdist' (set SDIST=path/to/llama_cpp_python-X.tar.gz)"
    tar -xzf "$sdist" -C "$tmp" || die "cannot unpack $sdist"
    top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'llama_cpp_python-*' | head -1)
    [[ -d $top/vendor/llama.cpp ]] || die "$sdist has no vendor/llama.cpp"
    trim "$top"
    mkdir -p "$CARRY"
    tar -czf "$CARRY/llama-src.tar.gz" -C "$top" . || die "cannot write the trimmed tarball"
    if [[ ${NO_WHEELS:-0} != 1 ]]; then
        rm -rf "$CARRY/wheels" && mkdir -p "$CARRY/wheels"
        local pkgs=() p v
        for p in diskcache platformdirs; do
            v=$("$PY" -c "import importlib.metadata as m; print(m.version('$p'))" 2>/dev/null) && pkgs+=("$p==$v") || pkgs+=("$p")
        done
        "$PY" -m pip download --no-deps --only-binary=:all: -d "$CARRY/wheels" "${pkgs[@]}" >&2 || die "pip download of ${pkgs[*]}"
    fi
    rm -rf "$tmp"
    say "wrote $CARRY: $(du -sh "$CARRY" | cut -f1) ($(ls "$CARRY"))"
}

trim() {  # what a CUDA build of libllama + llama-bench needs, llama-cpp-python's Python package, gguf-py
    local top=$1 lc=$1/vendor/llama.cpp d
    rm -rf "$top"/{docs,examples,tests,docker,scripts,.git,.github} "$top"/llama_cpp/server
    rm -rf "$lc"/{models,docs,media,examples,tests,benches,pocs,scripts,conversion,app} "$lc"/.github "$lc"/.git
    for d in "$lc"/ggml/src/ggml-*/; do
        case $(basename "$d") in ggml-cpu | ggml-cuda | ggml-blas) ;; *) rm -rf "$d" ;; esac
    done
    for d in "$lc"/tools/*/; do
        [[ $(basename "$d") == llama-bench ]] || rm -rf "$d"
    done
    printf '# trimmed by benchmarks/gpu_device.sh: llama-bench only\nadd_subdirectory(llama-bench)\n' > "$lc/tools/CMakeLists.txt"
    find "$lc/gguf-py" -name tests -type d -prune -exec rm -rf {} + 2>/dev/null || true
}

unpack() {
    [[ -f $CARRY/llama-src.tar.gz ]] || return 1
    if [[ ! -f $SRC/.unpacked || $CARRY/llama-src.tar.gz -nt $SRC/.unpacked ]]; then
        rm -rf "$SRC" && mkdir -p "$SRC" && tar -xzf "$CARRY/llama-src.tar.gz" -C "$SRC" && touch "$SRC/.unpacked"
    fi
}

build() {
    unpack || die "no $CARRY/llama-src.tar.gz: run 'benchmarks/gpu_device.sh prepare' here and carry .device-carry"
    local cuda=ON target=(--target llama llama-bench)
    if ((DRY)); then
        cuda=OFF  # configure only: proves the trimmed tree is complete; the CPU build would take too long here
    else
        command -v nvcc >/dev/null || die "no nvcc on PATH (is this the CUDA machine?)"
    fi
    local gen=() && command -v ninja >/dev/null && gen=(-G Ninja)
    step configure "$(budget 60)" cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON -DGGML_CUDA=$cuda -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_CCACHE=OFF || die "cmake configure"
    ((DRY)) && { say "dry run: configured without CUDA, not built"; return 0; }
    step build "$BUILD_S" cmake --build "$BUILD" "${target[@]}" -j "$(nproc)" || die "the CUDA build (raise BUILD_S, or run 'build' and 'bench' as two calls)"
    ls "$BUILD"/bin/libllama.so* "$BUILD"/bin/llama-bench >/dev/null || die "the build made no libllama.so / llama-bench in $BUILD/bin"
}

python_env() {  # PYTHONPATH and the llama.cpp libraries the benchmarks use
    local site=$WORK/site path=$ROOT
    mkdir -p "$site"
    if compgen -G "$CARRY/wheels/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$CARRY"/wheels/*.whl >&2 \
            || die "installing the carried wheels"
        path=$path:$site
    fi
    if [[ -d $SRC/llama_cpp ]]; then
        path=$path:$SRC:$SRC/vendor/llama.cpp/gguf-py
        if ((DRY)); then  # the installed wheel's libraries under the carried Python package: the same mechanism
            LLAMA_CPP_LIB_PATH=$("$PY" -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("llama_cpp").submodule_search_locations[0], "lib"))') \
                || die "no installed llama_cpp for the dry run"
        else
            LLAMA_CPP_LIB_PATH=$BUILD/bin
        fi
        export LLAMA_CPP_LIB_PATH LD_LIBRARY_PATH=$LLAMA_CPP_LIB_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    fi
    export PYTHONPATH=$path${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    export GLMCHAT_CONFIG_DIR=$WORK/config GLMCHAT_DATA_DIR=$WORK/data GLMCHAT_CACHE_DIR=$WORK/cache
    mkdir -p "$GLMCHAT_CONFIG_DIR" "$GLMCHAT_DATA_DIR" "$GLMCHAT_CACHE_DIR"
    "$PY" - <<'EOF' || die "llama_cpp does not load (see above)"
import os, llama_cpp
gpu = bool(llama_cpp.llama_supports_gpu_offload())
print(f"llama_cpp {llama_cpp.__version__} from {os.path.dirname(llama_cpp.__file__)}, libraries {os.environ.get('LLAMA_CPP_LIB_PATH', 'its own')}, GPU offload {gpu}")
if os.environ.get("GPU_REQUIRED") == "1" and not gpu:
    raise SystemExit("this llama.cpp cannot offload to a GPU")
EOF
}

bench() {
    local model lb=() lbpath
    python_env
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RESULTS/gpu.txt" >&2
    model=$WORK/glm-shaped.gguf
    if ((DRY)); then
        step model "$MODEL_S" "$PY" "$ROOT/benchmarks/glm_shaped_model.py" "$model" --tiny --layers 3 --nextn --type Q8_0 --threads 2 \
            || die "writing the model"
    else
        step model "$MODEL_S" "$PY" "$ROOT/benchmarks/glm_shaped_model.py" "$model" --layers "$LAYERS" --experts "$EXPERTS" \
            --type "$QUANT" --nextn --threads "$(nproc)" || die "writing the model (lower LAYERS/EXPERTS or raise MODEL_S)"
    fi
    lbpath=${LLAMA_BENCH:-$BUILD/bin/llama-bench}
    [[ -x $lbpath ]] && lb=(--llama-bench "$lbpath") || say "no llama-bench at $lbpath: glmchat's own figures only"
    [[ -n $THREADS ]] && lb+=(--threads "$THREADS")
    engine_speed "$model" "${lb[@]}"
    step speculative "$SPEC_S" "$PY" "$ROOT/benchmarks/speculative_vs_llama_bench.py" --model "$model" --n-gen "$N_GEN" \
        --rounds "$ROUNDS" "${lb[@]}" $([[ " ${lb[*]} " == *" --llama-bench "* ]] || echo --no-llama-bench) --out "$RESULTS/speculative.json"
    say "results in $RESULTS: $(ls "$RESULTS" | tr '\n' ' ')"
}

engine_speed() {  # engine_speed.py's JSON into $RESULTS, its ratios printed; in-graph sampling too where it runs
    local model=$1 rc
    shift
    local run=("$PY" "$ROOT/benchmarks/engine_speed.py" --model "$model" --n-gen "$N_GEN" --reps "$REPS" --skip-high-level --skip-glmchat-bench "$@" --json)
    step engine_speed "$ENGINE_S" bash -c '"$@" --sampling "$SAMPLING" > "$RESULTS/engine_speed.json"' _ "${run[@]}"
    rc=$?
    if ((rc == 2)) && [[ $SAMPLING != cpu ]]; then  # "in-graph sampling does not run here"
        say "engine_speed: --sampling $SAMPLING refused, again with the CPU chain"
        step engine_speed "$ENGINE_S" bash -c '"$@" --sampling cpu > "$RESULTS/engine_speed.json"' _ "${run[@]}"
    fi
    "$PY" - "$RESULTS/engine_speed.json" <<'EOF' | tee -a "$RESULTS/engine_speed.log"
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    raise SystemExit(f"engine_speed: no results ({e})")
print(f"engine_speed: {data['model']} · {data['threads']} threads · flash attention {data['flash_attn']} · sampling {data.get('sampling', 'cpu')}")
for r in data["results"]:
    print(f"  {r['name']:<14} median {r['median']:8.1f} tok/s  runs {', '.join(f'{x:.1f}' for x in r['rates'])}")
for group in ("ratios", "ratios_per_round"):
    for name, value in data.get(group, {}).items():
        print(f"  {name:<44} {value:.3f}")
EOF
}

main() {
    local stage=${1:-}
    case $stage in
        dry-run)
            DRY=1 N_GEN=${DRY_N_GEN:-16} REPS=1 ROUNDS=1 TOTAL_S=${TOTAL_S_DRY:-110} SAMPLING=${DRY_SAMPLING:-cpu} THREADS=${THREADS:-1}
            export GPU_REQUIRED=0 ;;
        build | bench | all) export GPU_REQUIRED=1 ;;
        prepare) prepare; return ;;
        *) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 2 ;;
    esac
    mkdir -p "$WORK" "$RESULTS"
    say "stage $stage · work $WORK · results $RESULTS · deadline ${TOTAL_S}s"
    case $stage in
        build) build ;;
        bench) bench ;;
        all) build && bench ;;
        dry-run) if [[ -f $CARRY/llama-src.tar.gz ]]; then build; else say "no $CARRY/llama-src.tar.gz: source and configure steps skipped"; fi
                 bench ;;
    esac
    say "done in ${SECONDS}s"
}

main "$@"
