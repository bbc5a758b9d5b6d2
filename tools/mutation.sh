#!/usr/bin/env bash
# Mutation testing of the safety logic (issue 26): mutmut over the policy pack (policies/lb_safety)
# and the core's traffic model, ALB matching and topology. Not part of .ci/run (about an hour on
# two cores). Results and the survivors with their reasons: docs/mutation.md.
#
#   bash tools/mutation.sh              # run (or resume) every group, then the summary
#   GROUP=topology bash tools/mutation.sh          # one group
#   bash tools/mutation.sh results      # the summary of the last run
#   bash tools/mutation.sh rerun        # tests added since: re-test the survivors with them (a killed
#                                       # mutant stays killed: tests are only ever added)
#   MUTATION_DIR=/tmp/m JOBS=1 ...      # where the scratch copies live (default .mutation/), mutmut's children
#
# The scope is split in groups, each a set of modules and the test files written for them; a
# group's mutants run against its tests only, with mutmut's per-test selection inside them (the
# tests that reach the mutated function, fastest first: tools/mutation_order.py). Why groups:
# every policy test sends a whole program through the whole pack, so it reaches every function
# of every policy, and mutmut would run all ~500 policy tests (45 s) on each surviving mutant of
# any policy. A mutant that only a test of another group would kill counts as survived, so the
# score is a lower bound of the score against every test.
#
# mutmut names a mutant by its module's import path and activates it only when the running
# function's __module__ matches. The pack imports its modules as `lb_safety.*` (the pack
# directory is on sys.path, as the engine runs it), so each scratch copy has lb_safety/ at its
# root; the pack runs in the test's interpreter (LBGUARD_TEST_PACK=in-process), where mutmut
# sees which test reaches which function. A resumed run syncs the checkout's sources and tests
# into the copy: mutmut mutates a changed file again and re-tests the functions that changed,
# and runs the mutants not yet tested, with the new tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASE=${MUTATION_DIR:-$ROOT/.mutation}
PY=${PYTHON:-$ROOT/.venv/bin/python}
MUTMUT_VERSION=3.8.1

# name | modules | test files or directories (globs, from the checkout's root) and pytest options
# (--ignore-glob=...: a directory's tests less those; tests added to it later are taken too)
SPEC=(
  "matching|lbguard/core/matching.py|tests/core/test_matching*.py"
  "traffic|lbguard/core/traffic.py|tests/core/test_traffic*.py tests/core/traffic/test_reach.py"
  "topology|lbguard/core/topology.py|tests/core/test_topology*.py tests/policies/test_unknown_routing.py"
  "pack-routing|lb_safety/routing.py lb_safety/common.py lb_safety/stickiness.py lb_safety/__init__.py|tests/policies --ignore-glob=*/test_golden.py --ignore-glob=*/test_runner.py --ignore-glob=*/test_in_process.py --ignore-glob=*/test_pack_doc.py --ignore-glob=*/test_decode_once.py --ignore-glob=*/test_routing_security.py --ignore-glob=*/test_security_*.py --ignore-glob=*/test_alarms_capacity.py --ignore-glob=*/test_pol2_*.py"
  "pack-security|lb_safety/security.py|tests/policies/test_routing_security.py tests/policies/test_security_*.py tests/policies/test_policies.py"
  "pack-operations|lb_safety/alarms.py lb_safety/autoscaling.py lb_safety/capacity.py lb_safety/health.py lb_safety/logs.py|tests/policies/test_alarms_capacity.py tests/policies/test_pol2_*.py tests/policies/test_policies.py tests/policies/test_traffic_rules.py"
)

sync_copy() {  # the checkout into $WORK: lb_safety at its root, no vendored core (policies/lbguard)
  rm -rf "$WORK/tests"
  git ls-files -z | while IFS= read -r -d '' f; do
    case "$f" in
      policies/lbguard/*) continue ;;
      policies/lb_safety/*) dest="$WORK/lb_safety/${f#policies/lb_safety/}" ;;
      pyproject.toml) [ -f "$WORK/pyproject.toml" ] && continue; dest="$WORK/$f" ;;
      *) dest="$WORK/$f" ;;
    esac
    cmp -s "$f" "$dest" || { mkdir -p "$(dirname "$dest")"; cp -p "$f" "$dest"; }
  done
}

quoted() { local out=""; for x in "$@"; do out+="\"$x\", "; done; printf '%s' "${out%, }"; }

run_group() {  # name modules tests
  local name=$1 modules=$2 tests=$3
  WORK=$BASE/$name
  local fresh=0
  [ -d "$WORK" ] || { mkdir -p "$WORK"; fresh=1; }
  sync_copy
  if [ $fresh = 1 ]; then
    local paths="" options="" t
    for t in $tests; do case "$t" in --*) options+=" $t" ;; *) paths+=" $t" ;; esac; done
    # shellcheck disable=SC2086
    local files; files=$(cd "$ROOT" && { ls -1d $paths 2>/dev/null || true; } | sort -u)
    # shellcheck disable=SC2086
    cat >> "$WORK/pyproject.toml" <<TOML

[tool.mutmut]
source_paths = ["lbguard", "lb_safety"]
only_mutate = [$(set -f; quoted $modules)]
also_copy = ["components", "stacks", "Pulumi.yaml", "__main__.py", "examples", "tools", "docs", "policies"]
pytest_add_cli_args = ["-n", "0", "-q", "-p", "no:cacheprovider", "-p", "tools.mutation_order"$(for o in $options; do printf ', "%s"' "$o"; done)]
pytest_add_cli_args_test_selection = [$(quoted $files)]
TOML
  fi
  local start; start=$(date +%s)
  (cd "$WORK" && LBGUARD_TEST_PACK=in-process "$PY" -m mutmut run --max-children "${JOBS:-2}" > mutmut-run.log 2>&1) || true
  echo "mutation: group $name $(( $(date +%s) - start )) s" | tee -a "$BASE/mutation-times.log"
}

if [ "${1:-}" = "rerun" ]; then  # tests added since: re-test the group's survivors with them
  for spec in "${SPEC[@]}"; do
    IFS='|' read -r name _ _ <<< "$spec"
    if [ -n "${GROUP:-}" ] && [ "$GROUP" != "$name" ]; then continue; fi
    WORK=$BASE/$name
    [ -d "$WORK/mutants" ] || continue
    sync_copy
    mapfile -t AGAIN < <(cd "$WORK" && "$PY" -m mutmut results --all true | sed -n 's/^ *\(\S*\): \(survived\|no tests\)$/\1/p')
    [ ${#AGAIN[@]} -gt 0 ] || continue
    start=$(date +%s)
    (cd "$WORK" && LBGUARD_TEST_PACK=in-process "$PY" -m mutmut run --max-children "${JOBS:-2}" "${AGAIN[@]}" \
       > mutmut-rerun.log 2>&1) || true
    echo "mutation: group $name, ${#AGAIN[@]} survivors again, $(( $(date +%s) - start )) s" | tee -a "$BASE/mutation-times.log"
  done
fi
if [ "${1:-run}" = "run" ]; then
  "$PY" -m pip install -q "mutmut==$MUTMUT_VERSION"
  mkdir -p "$BASE"
  for spec in "${SPEC[@]}"; do
    IFS='|' read -r name modules tests <<< "$spec"
    if [ -z "${GROUP:-}" ] || [ "$GROUP" = "$name" ]; then run_group "$name" "$modules" "$tests"; fi
  done
fi
for spec in "${SPEC[@]}"; do
  IFS='|' read -r name _ _ <<< "$spec"
  [ -d "$BASE/$name/mutants" ] && (cd "$BASE/$name" && "$PY" -m mutmut results --all true)
done | "$PY" "$ROOT/tools/mutation_summary.py"
