#!/usr/bin/env bash
# Mutation testing of the safety logic (issue 26): mutmut over the policy pack (policies/lb_safety)
# and the core's traffic model, ALB matching and topology, each mutant run against the tests
# that reach its function (mutmut's per-test selection). Not part of .ci/run: about an hour on
# two cores. Results and the survivors with their reasons: docs/mutation.md.
#
#   bash tools/mutation.sh            # run (or resume, with the checkout's tests and sources) in .mutation/
#   bash tools/mutation.sh results    # the summary of the last run
#   MUTATE="lbguard/core/matching.py" MUTATION_DIR=/tmp/m bash tools/mutation.sh   # one module, its own copy
#   JOBS=1 ...                        # mutmut's children (default 2)
#   bash tools/mutation.sh rerun      # tests added since: refresh the copy's tests/, re-test only the
#                                     # mutants that survived (a killed mutant stays killed: tests are
#                                     # only ever added), then print the summary
#
# mutmut names a mutant by its module's import path and activates it only when the running
# function's __module__ matches. The pack imports its modules as `lb_safety.*` (the pack
# directory is on sys.path, as the engine runs it), so the scratch copy has lb_safety/ at its
# root; the pack runs in the test's interpreter (LBGUARD_TEST_PACK=in-process), where mutmut
# sees which test reaches which function.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${MUTATION_DIR:-$ROOT/.mutation}
PY=${PYTHON:-$ROOT/.venv/bin/python}
MUTMUT_VERSION=3.8.1

sync_copy() {  # the checkout into the scratch copy: lb_safety at its root, no vendored core; a changed
               # source file makes mutmut mutate it again and re-test the functions that changed
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

if [ "${1:-run}" = "run" ]; then
  "$PY" -m pip install -q "mutmut==$MUTMUT_VERSION"
  if [ ! -d "$WORK" ]; then
    mkdir -p "$WORK"
    sync_copy  # without policies/lbguard, the vendored core: the mutated lbguard/core is the one imported
    ONLY=$(set -f; for m in ${MUTATE:-lbguard/core/traffic.py lbguard/core/matching.py lbguard/core/topology.py lb_safety/*}; do
             printf '"%s", ' "${m/#policies\/lb_safety/lb_safety}"; done | sed 's/, $//')
    # The tests of the scope: the policy tests and the core's tests, less those of other core
    # modules (plan, schema check, names, refusals, profile format) and the profile tests that
    # run whole stacks (test_profile_stack.py), which reach the scope's
    # functions only in passing and cost seconds a mutant; tools/mutation_order.py runs each
    # mutant's tests fastest first.
    cat >> "$WORK/pyproject.toml" <<TOML

[tool.mutmut]
source_paths = ["lbguard", "lb_safety"]
only_mutate = [$ONLY]
also_copy = ["components", "stacks", "Pulumi.yaml", "__main__.py", "examples", "tools", "docs", "policies"]
pytest_add_cli_args = ["-n", "0", "-q", "-p", "no:cacheprovider", "-p", "tools.mutation_order",
                       "--ignore=tests/policies/test_runner.py", "--ignore=tests/policies/test_in_process.py",
                       "--ignore=tests/policies/test_pack_doc.py", "--ignore=tests/core/plan",
                       "--ignore=tests/core/test_schema_check.py", "--ignore=tests/core/test_names.py",
                       "--ignore=tests/core/test_refusals.py", "--ignore=tests/core/test_profile_format.py",
                       "--ignore=tests/core/traffic/test_profile_stack.py"]
pytest_add_cli_args_test_selection = ["tests/core", "tests/policies"]
TOML
  fi
  sync_copy
  start=$(date +%s)
  (cd "$WORK" && LBGUARD_TEST_PACK=in-process "$PY" -m mutmut run --max-children "${JOBS:-2}") || true
  echo "mutation: $(( $(date +%s) - start )) s" | tee -a "$WORK/mutation-times.log"
fi
if [ "${1:-}" = "rerun" ]; then
  sync_copy
  mapfile -t AGAIN < <(cd "$WORK" && "$PY" -m mutmut results --all true | sed -n 's/^ *\(\S*\): \(survived\|no tests\)$/\1/p')
  echo "mutation: re-testing ${#AGAIN[@]} survivors with the checkout's tests"
  start=$(date +%s)
  if [ ${#AGAIN[@]} -gt 0 ]; then
    (cd "$WORK" && LBGUARD_TEST_PACK=in-process "$PY" -m mutmut run --max-children "${JOBS:-2}" "${AGAIN[@]}") || true
  fi
  echo "mutation: $(( $(date +%s) - start )) s" | tee -a "$WORK/mutation-times.log"
fi
(cd "$WORK" && "$PY" -m mutmut results --all true) | "$PY" "$ROOT/tools/mutation_summary.py"
