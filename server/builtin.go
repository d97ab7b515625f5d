package server

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/value"
)

// builtins are the methods every DIRAC service has (RequestHandler), with
// DIRAC's hard-coded rules: ping and whoami open to all, echo without a rule
// of its own (so Service.DefaultAuth applies); each takes exactly the
// arguments of DIRAC's export function.
var builtins = map[string]*Method{
	"ping":   {Func: ping, Auth: []string{"all"}, Types: []Type{}, MaxArgs: NoArgs},
	"whoami": {Func: whoami, Auth: []string{"all"}, Types: []Type{}, MaxArgs: NoArgs},
	"echo":   {Func: echo, Types: []Type{TypeStr}, MaxArgs: 1},
}

func echo(_ context.Context, req *Request) (any, error) { return req.Args[0], nil }

func whoami(_ context.Context, req *Request) (any, error) {
	if req.Credentials == nil {
		return value.NewDict("properties", []any{}), nil
	}
	return req.Credentials.Dict(), nil
}

// ping answers with DIRAC's dictionary, keys in DIRAC's order. Its name is
// the one the call reached over HTTPS, where Tornado serves each configured
// instance (alias) as a handler of its own name, and the Service's name over
// DISET, where DIRAC reports its instance name whatever valid name the
// client used. Over HTTPS it is Tornado's ping, which reads the load and
// the host's uptime from /proc itself: the load is /proc/loadavg's text
// ("0.52 0.48 0.60", not DISET's os.getloadavg() floats), and either key is
// left out where its file cannot be read.
func ping(ctx context.Context, req *Request) (any, error) {
	s, ok := ServiceFrom(ctx)
	if !ok {
		return nil, errors.New("no service in context")
	}
	name := s.Name
	if req.Protocol == diracrpc.HTTPS && req.Service != "" {
		name = req.Service
	}
	now := time.Now().UTC()
	start := s.startTime().UTC()
	st := s.hostStats.get(now)
	hostUp, ps := st.uptime, st.times
	tornado := req.Protocol == diracrpc.HTTPS
	load := st.load
	if tornado {
		load = st.procLoad
	}
	d := value.NewDict(
		"version", s.version(),
		"time", now,
		"host uptime", int64(hostUp),
		"service start time", start,
		"service uptime", int64(now.Sub(start)/time.Second),
		"load", load,
		"name", name,
		"cpu times", value.NewDict(
			"user time", ps.user,
			"system time", ps.system,
			"children user time", ps.childUser,
			"children system time", ps.childSystem,
			"elapsed real time", round2(hostUp),
		),
	)
	if tornado && !st.hasUptime {
		d.Delete("host uptime")
	}
	if tornado && st.procLoad == "" {
		d.Delete("load")
	}
	return d, nil
}

// statsTTL is how long ping reuses the host's uptime, load and CPU times:
// reading them (two files and three system calls) cost a good part of a ping.
const statsTTL = time.Second

// hostStats is what ping reports of the host and the process, read at most
// once per statsTTL (the uptime moves on with the clock in between).
type hostStats struct {
	mu   sync.Mutex
	at   time.Time
	last pingStats
}

type pingStats struct {
	uptime    float64 // seconds
	hasUptime bool    // /proc/uptime was read
	load      string  // DISET's: os.getloadavg() formatted by Python
	procLoad  string  // Tornado's: /proc/loadavg's first three fields ("" when unreadable)
	times     cpuTimes
}

func (h *hostStats) get(now time.Time) pingStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at.IsZero() || now.Sub(h.at) >= statsTTL || now.Before(h.at) {
		up, err := hostUptime()
		h.at, h.last = now, pingStats{uptime: up, hasUptime: err == nil, load: loadAverage(),
			procLoad: procLoadAverage(), times: processTimes()}
		return h.last
	}
	st := h.last
	if st.uptime > 0 {
		st.uptime += now.Sub(h.at).Seconds()
	}
	return st
}

// hostUptime is /proc/uptime's first field (0 where it does not exist).
func hostUptime() (float64, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("empty /proc/uptime")
	}
	return strconv.ParseFloat(f[0], 64)
}

// loadAverage is "a b c" as DIRAC formats os.getloadavg().
func loadAverage() string {
	l, ok := loadAvg()
	if !ok {
		return "0.0 0.0 0.0"
	}
	return value.FormatFloat(l[0]) + " " + value.FormatFloat(l[1]) + " " + value.FormatFloat(l[2])
}

// procLoadAverage is /proc/loadavg's first three fields, as Tornado's ping
// reports them ("" where the file cannot be read).
func procLoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(len(f), 3)], " ")
}

type cpuTimes struct{ user, system, childUser, childSystem float64 }

func round2(f float64) float64 {
	return float64(int64(f*100+0.5)) / 100
}
