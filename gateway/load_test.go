package gateway_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/selector"
)

// TestGatewayLoad: 200 concurrent callers, each making the same calls
// directly to the DISET service and through the gateway (DISET in, DISET
// out), in the same run; it reports the latency overhead per call. CI runs
// one call per caller and direction; DIRACRPC_GATEWAY_LOAD_CALLS=N makes N
// each (the big run).
func TestGatewayLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped with -short")
	}
	calls := 1
	if v := os.Getenv("DIRACRPC_GATEWAY_LOAD_CALLS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		calls = n
	}
	for _, mode := range []selector.Mode{selector.DISET, selector.HTTPS} {
		t.Run(string(mode), func(t *testing.T) { loadRun(t, mode, calls) })
	}
}

// loadRun compares the gateway (DISET in, mode out) with direct calls over
// the protocol mode picks.
func loadRun(t *testing.T, mode selector.Mode, calls int) {
	callers := 200
	if raceEnabled {
		callers = 20
	}
	w := newWorld(t, worldOpts{mode: mode, maxCalls: callers})
	gc := w.viaGateway(t, nil)
	out := diracrpc.DIPS
	if mode == selector.HTTPS {
		out = diracrpc.HTTPS
	}
	dc := w.direct(t, out, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(30+calls)*10*time.Second)
	defer cancel()
	// Warm both paths (the gateway's delegation, the clients' TLS
	// configuration) so that the runs measure steady-state calls.
	_, err := gc.Call(ctx, "add", 1, 1)
	require.NoError(t, err)
	_, err = dc.Call(ctx, "add", 1, 1)
	require.NoError(t, err)

	// cpu is the process's CPU time: clients, gateway and service all run
	// here, so the difference between the runs is the gateway's own cost,
	// which the other engineers' load on the machine does not distort as it
	// distorts latency.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var cpuUsed time.Duration
	run := func(c *diracrpc.Client) (lat []time.Duration, wall time.Duration) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		c0 := cpu()
		defer func() { cpuUsed = cpu() - c0 }()
		start := time.Now()
		errs := make(chan error, callers)
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range calls {
					t0 := time.Now()
					res, err := c.Call(ctx, "add", i, j)
					d := time.Since(t0)
					if err != nil {
						errs <- err
						return
					}
					if res.Value != int64(i+j) {
						errs <- fmt.Errorf("add(%d, %d) = %v", i, j, res.Value)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		return lat, time.Since(start)
	}
	// Alternate the order so that neither side always runs on a warmer
	// machine.
	dlat, dwall := run(dc)
	dcpu := cpuUsed
	glat, gwall := run(gc)
	gcpu := cpuUsed
	dlat2, dwall2 := run(dc)
	dcpu = (dcpu + cpuUsed) / 2
	dlat = append(dlat, dlat2...)
	dwall += dwall2
	dwall /= 2
	n := time.Duration(callers * calls)
	mean := func(l []time.Duration) time.Duration {
		var s time.Duration
		for _, d := range l {
			s += d
		}
		return s / time.Duration(len(l))
	}
	pct := func(l []time.Duration, p float64) time.Duration {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return l[int(float64(len(l)-1)*p)]
	}
	require.Len(t, glat, callers*calls)
	t.Logf("%s out, %d callers x %d calls: CPU per call direct %v, through the gateway %v: gateway CPU overhead %v per call",
		out, callers, calls, dcpu/n, gcpu/n, (gcpu-dcpu)/n)
	t.Logf("%s out, %d callers x %d calls: direct mean %v p50 %v p99 %v wall %v | gateway mean %v p50 %v p99 %v wall %v | overhead per call %v (mean), %v (p50)",
		out, callers, calls, mean(dlat), pct(dlat, 0.5), pct(dlat, 0.99), dwall,
		mean(glat), pct(glat, 0.5), pct(glat, 0.99), gwall, mean(glat)-mean(dlat), pct(glat, 0.5)-pct(dlat, 0.5))
	delegations := 0
	for _, e := range w.events.all() {
		if !e.CachedDelegation {
			delegations++
		}
	}
	require.Equal(t, 1, delegations, "one delegation for one identity, however many callers")
}
