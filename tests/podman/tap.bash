# TAP-like result lines for the podman test scripts (sourced).
#   ok WHAT / nok WHAT      one numbered result line
#   check WHAT CMD [ARGS]   ok if CMD succeeds, nok otherwise
#   diag < text             the text as "# " comment lines
#   section TITLE           a "# --- TITLE" line
pass=0 fail=0 n=0
ok()   { n=$((n + 1)); pass=$((pass + 1)); printf 'ok %d - %s\n' "$n" "$*"; }
nok()  { n=$((n + 1)); fail=$((fail + 1)); printf 'not ok %d - %s\n' "$n" "$*"; }
diag() { sed 's/^/# /'; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
section() { printf '# --- %s\n' "$*"; }
