package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/diracgo/diracrpc/endpoint/cfg"
)

// scanRow is one service over one protocol family.
type scanRow struct {
	Service   string  `json:"service"`
	Protocol  string  `json:"protocol"`
	URL       string  `json:"url"`
	OK        bool    `json:"ok"`
	Status    string  `json:"status"`
	Version   string  `json:"version,omitempty"`
	Error     string  `json:"error,omitempty"`
	Fix       string  `json:"fix,omitempty"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

// services lists System/Component for every component with URLs in the
// setup's instances (/DIRAC/Setups/<setup>/<System> -> /Systems/<System>/<Instance>/URLs).
func services(conf *cfg.Config, setup string) ([]string, string, error) {
	if setup == "" {
		setup, _ = conf.Get("/DIRAC/Setup")
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
		urls := conf.Section("/Systems/" + system + "/" + instance + "/URLs")
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

func runScan(ctx context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "scan")
	pos, err := c.parse(e, fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("scan takes no ENDPOINT: it reads every service from --config")
	}
	if len(c.configs) == 0 {
		return usageErr("scan needs --config FILE")
	}
	conf, err := cfg.LoadFiles(c.configs...)
	if err != nil {
		return usageErr("%v", err)
	}
	names, setup, err := services(conf, c.setup)
	if err != nil {
		return usageErr("%v", err)
	}
	c.setup = setup
	var rows []scanRow
	for i, name := range names {
		if e.isTerminal && !c.json {
			fmt.Fprintf(e.stderr, "\r\033[K[%d/%d] %s", i+1, len(names), name)
		}
		ts, err := c.resolveTargets(ctx, name)
		if err != nil {
			rows = append(rows, scanRow{Service: name, Status: "unresolved", Error: firstLine(err.Error())})
			continue
		}
		for _, t := range ts {
			out, res, err := doCall(ctx, &c, e, t.urls[0], "ping", nil)
			row := scanRow{Service: name, Protocol: string(t.protocol), URL: t.urls[0]}
			if out != nil {
				row.ElapsedMS, row.Error, row.Fix = out.ElapsedMS, out.Error, out.Fix
				if out.Message != "" {
					row.Error = out.Message
				}
			}
			switch {
			case err == nil:
				row.OK, row.Status = true, "ok"
				if m, ok := pingVersion(res.Value); ok {
					row.Version = m
				}
			case out != nil && out.Errno != nil:
				row.Status = "S_ERROR"
			default:
				row.Status = "unreachable"
				if row.Error == "" {
					row.Error = firstLine(err.Error())
				}
			}
			rows = append(rows, row)
		}
	}
	if e.isTerminal && !c.json {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	failed := 0
	for _, r := range rows {
		if !r.OK {
			failed++
		}
	}
	if c.json {
		if err := writeJSON(e.stdout, map[string]any{"setup": setup, "services": len(names), "failed": failed, "rows": orEmptyRows(rows)}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tPROTOCOL\tSTATUS\tMS\tURL\tDETAIL")
		for _, r := range rows {
			detail := r.Version
			if r.Error != "" {
				detail = r.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\n", r.Service, r.Protocol, r.Status, r.ElapsedMS, r.URL, strings.ReplaceAll(detail, "\n", " "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d services in setup %s, %d endpoint checks failed\n", len(names), setup, failed)
	}
	if failed > 0 {
		return silentExit(exitUnreachable)
	}
	return nil
}

func orEmptyRows(r []scanRow) []scanRow {
	if r == nil {
		return []scanRow{}
	}
	return r
}

func pingVersion(v any) (string, bool) {
	if d, ok := v.(interface{ StringMap() map[string]any }); ok {
		if s, ok := d.StringMap()["version"].(string); ok {
			return s, true
		}
	}
	return "", false
}
