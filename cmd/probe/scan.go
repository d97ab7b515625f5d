package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/internal/junit"
)

// scanRow is one URL of one service: --json prints one per line.
type scanRow struct {
	Service   string  `json:"service"`
	URL       string  `json:"url"`
	Protocol  string  `json:"protocol"`
	Role      string  `json:"role"` // main or failover
	OK        bool    `json:"ok"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	Status    string  `json:"status"` // ok, S_ERROR, unreachable, unresolved
	Version   string  `json:"version,omitempty"`
	Fix       string  `json:"fix,omitempty"`
}

// Roles of a URL in its service's configuration.
const (
	roleMain     = "main"
	roleFailover = "failover"
)

// services lists System/Component for every component with URLs in the
// setup's instances (/DIRAC/Setups/<setup>/<System> -> /Systems/<System>/<Instance>/URLs),
// sorted.
func services(conf *cfg.Config, setup string) ([]string, string, error) {
	if setup == "" {
		setup = strings.TrimSpace(conf.GetDefault("/DIRAC/Setup", ""))
	}
	if setup == "" {
		return nil, "", fmt.Errorf("no setup: give --setup or set /DIRAC/Setup")
	}
	setupSec := conf.Section("/DIRAC/Setups/" + setup)
	if setupSec == nil {
		return nil, setup, fmt.Errorf("/DIRAC/Setups/%s does not exist", setup)
	}
	var out []string
	for _, system := range setupSec.Options() {
		instance, _ := setupSec.Get(system)
		urls := conf.Section("/Systems/" + system + "/" + strings.TrimSpace(instance) + "/URLs")
		if urls == nil {
			continue
		}
		for _, comp := range urls.Options() {
			out = append(out, system+"/"+comp)
		}
	}
	sort.Strings(out)
	return out, setup, nil
}

// scanPlan lists the rows to check, in the order they are reported: services
// sorted by name, each one's main URLs then its failover URLs in
// configuration order (never shuffled, so that every run lists the same
// rows in the same order).
func (c *common) scanPlan(ctx context.Context, e *env, names []string) ([]scanRow, error) {
	r, err := c.resolver(e)
	if err != nil {
		return nil, err
	}
	r.Shuffle = func([]string) {}
	var rows []scanRow
	for _, name := range names {
		res, err := r.Resolve(ctx, name)
		if err != nil {
			rows = append(rows, scanRow{Service: name, Role: roleMain, Status: "unresolved", Error: firstLine(err.Error())})
			continue
		}
		for _, l := range []struct {
			role string
			urls []string
		}{{roleMain, res.Main}, {roleFailover, res.Failover}} {
			for _, u := range l.urls {
				pu, _ := endpoint.ParseURL(u)
				rows = append(rows, scanRow{Service: name, URL: u, Protocol: string(pu.Protocol), Role: l.role})
			}
		}
	}
	return rows, nil
}

func runScan(ctx context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "scan")
	junitFile := fs.String("junit", "", "also write a JUnit XML report to this file (one test suite per service, one case per URL)")
	parallel := fs.Int("parallel", 8, "how many URLs are checked at the same time")
	pos, err := c.parse(e, fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("scan takes no ENDPOINT: it reads every service from the configuration")
	}
	if *parallel < 1 {
		return usageErr("--parallel must be at least 1")
	}
	r, err := c.resolver(e)
	if err != nil {
		return err
	}
	conf, err := c.fetch(ctx, e, r)
	if err != nil {
		return err
	}
	names, setup, err := services(conf, c.setup)
	if err != nil {
		return configErr("%v", err)
	}
	c.setup = setup
	rows, err := c.scanPlan(ctx, e, names)
	if err != nil {
		return err
	}
	c.checkAll(ctx, e, rows, *parallel)

	if c.json {
		for _, row := range rows {
			if err := writeJSON(e.stdout, row); err != nil {
				return err
			}
		}
	} else if err := writeScanTable(e.stdout, rows); err != nil {
		return err
	}
	if *junitFile != "" {
		if err := writeFileWith(*junitFile, func(w io.Writer) error { return writeScanJUnit(w, setup, rows) }); err != nil {
			return err
		}
	}
	sum := summarise(rows)
	out := e.stdout
	if c.json {
		out = e.stderr // stdout holds only the rows
	}
	sum.write(out, setup)
	switch {
	case len(sum.none) > 0:
		return silentExit(exitUnreachable)
	case sum.failedURLs > 0:
		return silentExit(exitFail)
	}
	return nil
}

// checkAll pings every resolved row, at most parallel at a time, updating
// rows in place; a progress line is drawn on stderr when it is a terminal.
func (c *common) checkAll(ctx context.Context, e *env, rows []scanRow, parallel int) {
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, parallel)
	progress := func(last string) {
		if e.isTerminal {
			fmt.Fprintf(e.stderr, "\r\033[K[%d/%d] %s", done, len(rows), last)
		}
	}
	for i := range rows {
		if rows[i].URL == "" {
			mu.Lock()
			done++
			mu.Unlock()
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(row *scanRow) {
			defer func() { <-sem; wg.Done() }()
			c.pingRow(ctx, e, row)
			mu.Lock()
			done++
			progress(row.URL)
			mu.Unlock()
		}(&rows[i])
	}
	wg.Wait()
	if e.isTerminal {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
}

// pingRow pings one URL with one attempt.
func (c *common) pingRow(ctx context.Context, e *env, row *scanRow) {
	t := &target{arg: row.Service, urls: []string{row.URL}, protocol: diracrpc.Protocol(row.Protocol)}
	cl, err := c.caller(e, t)
	if err != nil {
		row.Status, row.Error = "unreachable", firstLine(err.Error())
		return
	}
	defer cl.Close()
	out, res, err := doCallWith(ctx, c, e, cl, t, row.Service, "ping", nil)
	row.LatencyMS = out.ElapsedMS
	row.Error, row.Fix = out.Error, out.Fix
	if out.Message != "" {
		row.Error = out.Message
	}
	switch {
	case err == nil:
		row.OK, row.Status = true, "ok"
		row.Version, _ = pingVersion(res.Value)
	case out.Errno != nil:
		row.Status = "S_ERROR"
	default:
		row.Status = "unreachable"
		if row.Error == "" {
			row.Error = firstLine(err.Error())
		}
	}
}

func writeScanTable(w io.Writer, rows []scanRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPROTOCOL\tROLE\tSTATUS\tMS\tURL\tDETAIL")
	for _, r := range rows {
		detail := r.Version
		if r.Error != "" {
			detail = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\n", r.Service, r.Protocol, r.Role, r.Status, r.LatencyMS, r.URL,
			strings.ReplaceAll(detail, "\n", " "))
	}
	return tw.Flush()
}

// scanSummary is the migration matrix: which services work over which
// protocol family.
type scanSummary struct {
	services, urls, failedURLs int
	none, disetOnly, httpsOnly []string
	both                       []string
}

func summarise(rows []scanRow) scanSummary {
	var s scanSummary
	type fams struct{ diset, https bool }
	by := map[string]*fams{}
	var order []string
	for _, r := range rows {
		f := by[r.Service]
		if f == nil {
			f = &fams{}
			by[r.Service] = f
			order = append(order, r.Service)
		}
		if r.URL != "" {
			s.urls++
		}
		if !r.OK {
			s.failedURLs++
			continue
		}
		if r.Protocol == string(diracrpc.HTTPS) {
			f.https = true
		} else {
			f.diset = true
		}
	}
	s.services = len(order)
	for _, name := range order {
		f := by[name]
		switch {
		case f.diset && f.https:
			s.both = append(s.both, name)
		case f.diset:
			s.disetOnly = append(s.disetOnly, name)
		case f.https:
			s.httpsOnly = append(s.httpsOnly, name)
		default:
			s.none = append(s.none, name)
		}
	}
	return s
}

func (s scanSummary) write(w io.Writer, setup string) {
	fmt.Fprintf(w, "%d services in setup %s, %d URLs checked, %d failed\n", s.services, setup, s.urls, s.failedURLs)
	line := func(label string, names []string) {
		if len(names) > 0 {
			fmt.Fprintf(w, "  %-22s %s\n", label+":", strings.Join(names, ", "))
		}
	}
	line("no working URL", s.none)
	line("DISET only", s.disetOnly)
	line("HTTPS only", s.httpsOnly)
	line("both protocols", s.both)
}

// writeScanJUnit writes one test suite per service, one case per URL.
func writeScanJUnit(w io.Writer, setup string, rows []scanRow) error {
	doc := junit.Suites{Name: "probe scan " + setup}
	idx := map[string]int{}
	for _, r := range rows {
		i, ok := idx[r.Service]
		if !ok {
			i = len(doc.Suites)
			idx[r.Service] = i
			doc.Suites = append(doc.Suites, junit.Suite{Name: r.Service})
		}
		s := &doc.Suites[i]
		tc := junit.Case{Name: r.Role + " " + r.URL, ClassName: r.Service,
			Time: junit.Seconds(time.Duration(r.LatencyMS * float64(time.Millisecond)))}
		if r.URL == "" {
			tc.Name = "resolve"
		}
		if !r.OK {
			tc.Failure = &junit.Problem{Message: r.Error, Type: r.Status, Text: strings.TrimSpace(r.Error + "\n" + r.Fix)}
			s.Failures++
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	return junit.Write(w, doc)
}

// writeFileWith creates path and writes it with write.
func writeFileWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func pingVersion(v any) (string, bool) {
	if d, ok := v.(interface{ StringMap() map[string]any }); ok {
		if s, ok := d.StringMap()["version"].(string); ok {
			return s, true
		}
	}
	return "", false
}
