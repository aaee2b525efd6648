#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each, one after the other (go test
# -fuzz takes one target per run), then prints per target the executions,
# executions per second and corpus size. Fails if any target fails; a
# failing input is written to the package's testdata/fuzz/<Target>/, where
# `go test` (and so `make test`) runs it from then on.
#
#   FUZZTIME          time per target (default 60s), as go test -fuzztime
#   FUZZPARALLEL      fuzzing workers per target (default 2: the 2 cores)
#   FUZZMINIMIZETIME  time to minimize each new input (default 2s): a slow
#                     target otherwise spends most of its time minimizing
#   FUZZTARGETS       a space-separated subset of the target names below
#
# Logs go to bin/fuzz/<Target>.log. The corpus size counts the entries the
# next run starts from: the package's testdata/fuzz/<Target>/ and the
# generated corpus in $(go env GOCACHE)/fuzz/<package>/<Target>/ (not the
# f.Add seeds in the code).
set -uo pipefail
cd "$(dirname "$0")/.."

# The targets: package and fuzz function. Each fuzz_test.go says what its
# targets check.
TARGETS=(
  "./pkg/tokenreview FuzzReviewJSON"
  "./pkg/tokenreview FuzzReviewProtobuf"
  "./pkg/authn/jws FuzzParse"
  "./pkg/authn/jws FuzzParseAgreesWithOldPeek"
  "./pkg/authn/jws FuzzScanners"
  "./pkg/authn/jwt FuzzClaimsDecoder"
  "./pkg/authn/route FuzzRoute"
  "./pkg/authn/route FuzzCheckOpaque"
  "./pkg/authn/keyset FuzzParseJWKS"
  "./pkg/authn/keyset FuzzParsePEM"
  "./pkg/apis/config/v1alpha1 FuzzDecode"
)

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
FUZZPARALLEL=${FUZZPARALLEL:-2}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-2s}
FUZZTARGETS=${FUZZTARGETS:-}
LOGS=bin/fuzz
mkdir -p "$LOGS"
cache=$($GO env GOCACHE)/fuzz

# seconds converts go's elapsed times (45s, 1m0s, 1h2m3s) to seconds.
seconds() {
  local d=$1 total=0 n
  for unit in h m s; do
    if [[ $d =~ ^([0-9]+)$unit(.*)$ ]]; then
      n=${BASH_REMATCH[1]}; d=${BASH_REMATCH[2]}
      case $unit in h) total=$((total + n * 3600));; m) total=$((total + n * 60));; s) total=$((total + n));; esac
    fi
  done
  echo "$total"
}

count() { find "$1" -type f 2>/dev/null | wc -l | tr -d ' '; }

selected=()
for t in "${TARGETS[@]}"; do
  name=${t#* }
  if [[ -z $FUZZTARGETS || " $FUZZTARGETS " == *" $name "* ]]; then selected+=("$t"); fi
done
if [[ ${#selected[@]} -eq 0 ]]; then
  echo "fuzz: FUZZTARGETS=\"$FUZZTARGETS\" names none of the targets in hack/fuzz.sh" >&2
  exit 2
fi

# go test's -timeout bounds the whole run, fuzzing included: FUZZTIME and
# 15 minutes for building and the baseline, or none for a count (1000x).
timeout=0
if [[ $FUZZTIME =~ ^([0-9]+[hms])+$ ]]; then timeout=$(( $(seconds "$FUZZTIME") + 900 ))s; fi

failed=0
rows=()
i=0
for t in "${selected[@]}"; do
  i=$((i + 1))
  pkg=${t% *}; name=${t#* }
  log=$LOGS/$name.log
  testdata=$pkg/testdata/fuzz/$name
  before=$(count "$testdata")
  echo "fuzz [$i/${#selected[@]}] $name ($pkg) for $FUZZTIME, $FUZZPARALLEL workers; log: $log"
  $GO test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" \
    -parallel "$FUZZPARALLEL" -timeout "$timeout" "$pkg" >"$log" 2>&1
  rc=$?

  # The last progress line has the total executions; fuzzing proper starts
  # once the baseline coverage of the existing corpus is gathered.
  last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -1)
  start=$(grep -E 'now fuzzing' "$log" | head -1 | sed -E 's/^fuzz: elapsed: ([0-9hms]+),.*/\1/')
  execs=$(sed -E 's/.*execs: ([0-9]+) .*/\1/' <<<"$last")
  end=$(sed -E 's/^fuzz: elapsed: ([0-9hms]+),.*/\1/' <<<"$last")
  interesting=$(sed -nE 's/.*new interesting: ([0-9]+) .*/\1/p' <<<"$last")
  secs=$(( $(seconds "${end:-0s}") - $(seconds "${start:-0s}") ))
  rate=$([[ -n $execs && $secs -gt 0 ]] && echo $((execs / secs)) || echo "?")
  import=$($GO list "$pkg")
  after=$(count "$testdata")
  generated=$(count "$cache/$import/$name")

  status=ok
  if [[ $rc -eq 0 && -z $start ]]; then
    # FUZZTIME ended while the existing corpus was being replayed: every
    # input so far passed, but no new input was tried.
    baseline=$(grep -oE 'gathering baseline coverage: [0-9]+/[0-9]+' "$log" | tail -1 | sed 's/.*: //')
    status="ok, not fuzzed: FUZZTIME ended during the baseline (${baseline:-?} of the corpus and seeds replayed); give it a longer FUZZTIME"
  fi
  if [[ $rc -ne 0 ]]; then
    status=FAILED
    if [[ $after -eq $before ]] && ! grep -q 'Failing input written to' "$log" &&
      grep -qx '    context deadline exceeded' "$log" && ! grep -qE '^\s+fuzz_test\.go:[0-9]+:' "$log"; then
      # go1.26's coordinator can report its own -fuzztime deadline as a
      # failure (go.dev/issue/75804, fixed in go1.27): no input failed.
      status="ok (go.dev/issue/75804)"
    fi
  fi
  if [[ $status == FAILED ]]; then
    failed=1
    echo "fuzz: $name FAILED; the end of $log:" >&2
    tail -25 "$log" >&2
    if [[ $after -gt $before ]]; then
      echo "fuzz: failing input kept in $testdata/; fix the bug, then keep the file: go test runs it" >&2
    fi
  fi
  echo "fuzz [$i/${#selected[@]}] $name: $status, ${execs:-?} execs in ${secs}s (${rate}/s), corpus $((after + generated))"
  rows+=("| \`$name\` | \`$pkg\` | ${execs:-?} | ${rate} | ${interesting:-?} | $after + $generated = $((after + generated)) | $status |")
done

echo
echo "fuzz: FUZZTIME=$FUZZTIME FUZZPARALLEL=$FUZZPARALLEL FUZZMINIMIZETIME=$FUZZMINIMIZETIME ($($GO version | cut -d' ' -f3))"
echo "| target | package | execs | execs/s | new interesting | corpus (testdata + generated) | result |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
exit $failed
