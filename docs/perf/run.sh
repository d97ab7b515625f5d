#!/usr/bin/env bash
# usage: run.sh <tree> <outprefix> <count>
# Runs the benchmarks of issue 17 (each holding its floor) in <tree>, a checkout
# of this repository; results in <outprefix>-{server,large,idle,hcli,dcli,jenc}.txt.
set -uo pipefail
tree=$1; out=$2; count=${3:-10}
cd "$tree"
go test -c -o /tmp/bench-server.test ./server/ && go test -c -o /tmp/bench-hcli.test ./httpsclient/ && go test -c -o /tmp/bench-dcli.test ./disetclient/ && go test -c -o /tmp/bench-jenc.test ./jencode/ || exit 1
run() { local bin=$1 dir=$2; shift 2; (cd "$tree/$dir" && "$bin" -test.run '^$' -test.timeout 60m "$@"); }
run /tmp/bench-server.test server -test.bench 'HTTPSServer|DISETServer' -test.count "$count" > "$out-server.txt" 2>&1
# HTTPSThroughput measures one side at a time: -count would run one side
# $count times, then the other, and the machine's drift would weigh on one
# side only. The two sides alternate here, one process each (a failure's
# lines are kept).
for ((i = 0; i < count; i++)); do
  for impl in diracrpc bare; do
    run /tmp/bench-server.test server -test.bench "HTTPSThroughput/callers=64/impl=$impl\$" -test.count 1 2>&1 | grep -E '^(Benchmark|--- FAIL|FAIL|panic)' >> "$out-server.txt"
  done
done
run /tmp/bench-server.test server -test.bench 'LargeAnswer' -test.benchtime 10x -test.count "$count" > "$out-large.txt" 2>&1
run /tmp/bench-server.test server -test.bench 'IdleConn' -test.benchtime 1x -test.count "$count" > "$out-idle.txt" 2>&1
run /tmp/bench-hcli.test httpsclient -test.bench 'Call$' -test.count "$count" > "$out-hcli.txt" 2>&1
run /tmp/bench-dcli.test disetclient -test.bench 'Call$' -test.count "$count" > "$out-dcli.txt" 2>&1
run /tmp/bench-jenc.test jencode -test.bench 'DecodeVsFloor|Listing' -test.count "$count" > "$out-jenc.txt" 2>&1
