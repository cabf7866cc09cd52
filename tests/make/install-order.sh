#!/usr/bin/env bash
# The Makefile's install order: every target installs what it uses before it
# uses it, by make's dependency graph, not by luck.  Cheap (a few seconds, no
# build, no network): it only reads `make -n -B` output.
#
# For EVERY target of the Makefile that has a recipe or prerequisites (public ones such as
# demo, check, bench, netavark, podman, podman-images, install, harness,
# check-*, and the file targets such as build/bin/podman and the tree
# stamps), `make -n -B TARGET` prints, in order, the commands a fresh run of
# that target would execute: its whole prerequisite graph first.  Each line
# that uses a tool (rules below) must come after the installer of that tool:
#   N  ./tests/install-deps.sh          (make deps-netavark: Rust, protoc, git, quilt, bats, nft, ...)
#   P  ./podman-patch/install-runtime.sh (make deps-podman: Go, gcc, libseccomp-dev, xxd, runc, conmon, ...)
#   C  ./podman-compose-patch/install-deps.sh (make deps-compose: python3, pip, PyYAML, python-dotenv)
#   R  ./tests/podman/rootless/install.sh (make deps-rootless: uidmap, pasta, the test user)
# Checking every target on its own, file targets included, checks the graph
# and not just one serial order: a target that relies on a sibling
# prerequisite to have run the installer first (e.g. `netavark: deps
# build/bin/netavark`, which `make -j` may run side by side) fails here
# when its file target is dry-run alone.
#
#   tests/make/install-order.sh [DIR]     (DIR: the tree whose Makefile to check; default this one)
#
# Lines with $(MAKE) run even under -n (recursive dry runs, which inherit -n);
# nothing else does.  The Makefile's recursive targets only recurse.
set -euo pipefail
shopt -s inherit_errexit

dir=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
# A clean make environment: under `make check` we inherit MAKEFLAGS (jobserver
# fds, -j, maybe -n) and MAKELEVEL from the outer make.
unset MAKEFLAGS MFLAGS GNUMAKEFLAGS MAKELEVEL MAKEOVERRIDES

N=./tests/install-deps.sh
P=./podman-patch/install-runtime.sh
C=./podman-compose-patch/install-deps.sh
RL=./tests/podman/rootless/install.sh
# "ERE<TAB>installers" - the line needs every installer listed; "A|B" means
# either one (both install git).  Matched against each command line make
# prints; echo/printf lines (messages) are not uses.
c='(^|[[:space:];&|(])'   # a command word starts here
rules=(
    "${c}cargo[[:space:]]	$N"
    "netavark-patch/tree\\.sh	$N"
    "tests/upstream/compare\\.sh	$N"
    "tests/upstream/rebase-on-main\\.sh	$N"
    "tests/upstream/rebase-common\\.sh	$N $P"
    "${c}go[[:space:]]	$P"
    "podman-patch/tree\\.sh	$P"
    "podman-patch/podman-env	$P"
    "tests/podman/images\\.sh	$P"
    "tests/podman/(smoke|e2e|demo|no-leak|upstream-suites|man-pages)\\.sh	$N $P"
    "tests/podman/[a-z-]+\\.bats	$N $P"
    "tests/podman/rootless\\.bats	$N $P $RL"
    "tests/container-libs/compare\\.sh	$N $P"
    "tests/series/check\\.sh	$N $P $C"
    "tests/style/check\\.sh	$N $P"
    "podman-compose-patch/tree\\.sh	$N $C"
    "podman_compose\\.py|-m unittest	$C"
    "tests/podman/compose\\.bats	$N $P $C"
    "${c}git[[:space:]]	$N|$P"
)
declare -A matched=()

fail=0
ok()  { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fail=1; }

# Every target with a recipe or prerequisites, from make's database (-p),
# skipping the special .TARGETS.
targets=$( (cd "$dir" && make -pnq -f Makefile .as-gateway-no-such-target 2>/dev/null || true) \
    | sed -n '/^# Files$/,/^# files hash-table stats/p' \
    | awk 'BEGIN { RS = "" }
           /(^|\n)# Not a target:/ { next }
           {   # the "target: prerequisites" line; keep targets with a recipe or prerequisites
               n = split($0, l, "\n")
               for (i = 1; i <= n; i++) if (l[i] !~ /^#/ && l[i] ~ /:/) {
                   t = l[i]; sub(/:.*/, "", t); p = l[i]; sub(/^[^:]*:[ \t]*/, "", p)
                   if (p != "" || $0 ~ /recipe to execute/) print t
                   break
               }
           }' | grep -v '^\.' | sort -u)
[ -n "$targets" ] || { echo "install-order.sh: found no targets in $dir/Makefile" >&2; exit 2; }

checked=0
for t in $targets; do
    out=$(cd "$dir" && make -n -B --no-print-directory "$t" 2>&1) \
        || { bad "$t: make -n -B failed: $(tail -n 3 <<<"$out")"; continue; }
    checked=$((checked + 1))
    have=" " uses=0 problem=
    while IFS= read -r line; do
        case $line in *"$N"*) have+="$N " ;; esac
        case $line in *"$P"*) have+="$P " ;; esac
        case $line in *"$C"*) have+="$C " ;; esac
        case $line in *"$RL"*) have+="$RL " ;; esac
        [[ $line =~ ^[[:space:]]*(echo|printf)[[:space:]] ]] && continue
        for r in "${rules[@]}"; do
            re=${r%%$'\t'*} need=${r#*$'\t'}
            [[ $line =~ $re ]] || continue
            matched[$re]=1
            uses=$((uses + 1))
            for inst in $need; do
                alt_ok=0
                IFS='|' read -ra alts <<<"$inst"
                for a in "${alts[@]}"; do [[ $have == *" $a "* ]] && alt_ok=1; done
                [ $alt_ok = 1 ] || [ -n "$problem" ] || problem="'${line:0:110}' runs before $inst"
            done
        done
    done <<<"$out"
    if [ -n "$problem" ]; then
        bad "make $t: $problem"
    else
        if [ $uses = 0 ]; then ok "make $t: uses no installed tool"; else ok "make $t: $uses tool use(s), each after its installer"; fi
    fi
done

# A rule that never matches means the Makefile moved on and this check with it
# would pass vacuously.
for r in "${rules[@]}"; do
    re=${r%%$'\t'*}
    [ -n "${matched[$re]:-}" ] || bad "rule /$re/ matched no command of any target: update $0"
done
echo "install order: $checked targets dry-run"
exit $fail
