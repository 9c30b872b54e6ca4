#!/bin/sh
# bench_runs.sh - what `make bench` runs: each benchmark program BENCH_RUNS times (default 3),
# then, for each of its result lines, one JSON line on stdout with the median of the runs.
#
# A result is the k-th line with a given (name, baseline_name) in a run's output. Its median
# line keeps the first run's keys in order and its strings; each number is the median over the
# runs that printed the result, and so is "ratio": the median of the runs' own ratios (each
# value / baseline of one run), never a ratio of medians. Each run's lines go to stderr
# prefixed "# ", after the program's own notes. A failed run (non-zero exit) is reported, the
# medians use the runs that printed the line, and the exit status is 1.
# Usage: tools/bench_runs.sh PROGRAM... (env: BENCH_RUNS, BENCH_SCALE)
runs=${BENCH_RUNS:-3}
case $runs in
'' | *[!0-9]* | 0) echo "bench_runs.sh: BENCH_RUNS must be a positive integer, not '$runs'" >&2 && exit 2 ;;
esac
# The programs share one build of the year log per invocation (bench/bench_util.h, bu_year_log).
BENCH_CACHE=$(mktemp -d "${TMPDIR:-/tmp}/adminlog-bench-cache-XXXXXX") || exit 1
export BENCH_CACHE
out=$(mktemp -d "${TMPDIR:-/tmp}/adminlog-bench-runs-XXXXXX") || exit 1
trap 'rm -rf "$BENCH_CACHE" "$out"' EXIT
trap 'exit 1' INT TERM

start=$(date +%s)
echo "# bench_runs: $runs run(s) of each of $*; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
status=0
for prog; do
	r=1
	while [ "$r" -le "$runs" ]; do
		echo "# run $r of $runs: $prog" >&2
		"$prog" >"$out/run.$r"
		rc=$?
		sed 's/^/# /' "$out/run.$r" >&2
		if [ "$rc" -ne 0 ]; then
			echo "# $prog: run $r failed with exit status $rc" >&2
			status=1
		fi
		r=$((r + 1))
	done
	r=1
	files=
	while [ "$r" -le "$runs" ]; do
		files="$files $out/run.$r"
		r=$((r + 1))
	done
	# shellcheck disable=SC2086 # the run files, one word each
	awk -v runs="$runs" '
	# Splits one flat JSON object into K[1..n] (keys) and V[1..n] (values as written).
	function parse(s,    n, i, j, c, tok, nk, want) {
		n = length(s); i = 1; nk = 0; want = "key"
		while (i <= n) {
			c = substr(s, i, 1)
			if (c == "{" || c == "}" || c == " ") { i++; continue }
			if (c == ",") { want = "key"; i++; continue }
			if (c == ":") { want = "val"; i++; continue }
			if (c == "\"") {
				for (j = i + 1; j <= n && substr(s, j, 1) != "\""; j++)
					if (substr(s, j, 1) == "\\")
						j++
				tok = substr(s, i, j - i + 1); i = j + 1
			} else {
				for (j = i; j <= n && substr(s, j, 1) !~ /[,} ]/; j++)
					;
				tok = substr(s, i, j - i); i = j
			}
			if (want == "key") K[++nk] = substr(tok, 2, length(tok) - 2)
			else V[nk] = tok
		}
		return nk
	}
	function median(a, n,    i, j, x) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { x = a[j]; a[j] = a[j - 1]; a[j - 1] = x }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	FNR == 1 { run++; delete seen }
	!/^\{/ { next }
	{
		nk = parse($0)
		name = ""; base = ""
		for (i = 1; i <= nk; i++) {
			if (K[i] == "name") name = V[i]
			if (K[i] == "baseline_name") base = V[i]
		}
		id = name SUBSEP base SUBSEP (++seen[name, base])
		if (!(id in nkeys)) {
			order[++nids] = id; nkeys[id] = nk
			for (i = 1; i <= nk; i++) { key[id, i] = K[i]; first[id, i] = V[i] }
		}
		count[id]++
		for (i = 1; i <= nk; i++)
			if (V[i] ~ /^-?[0-9]/) { n = ++nv[id, K[i]]; val[id, K[i], n] = V[i] + 0 }
	}
	END {
		for (o = 1; o <= nids; o++) {
			id = order[o]
			if (count[id] < runs)
				printf "# %s: in %d of %d runs\n", first[id, 1], count[id], runs > "/dev/stderr"
			line = "{"
			for (i = 1; i <= nkeys[id]; i++) {
				k = key[id, i]; v = first[id, i]
				if (v ~ /^-?[0-9]/) {
					n = nv[id, k]
					for (j = 1; j <= n; j++) a[j] = val[id, k, j]
					v = sprintf(k == "ratio" ? "%.4g" : "%.6g", median(a, n))
				}
				line = line (i > 1 ? "," : "") "\"" k "\":" v
			}
			print line "}"
		}
	}' $files || status=1
	rm -f "$out"/run.*
done
echo "# bench_runs: done in $(($(date +%s) - start)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit $status
