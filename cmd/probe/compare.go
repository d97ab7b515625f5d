package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/diracgo/diracrpc/compat"
)

func runCompare(ctx context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "compare")
	callsFile := fs.String("calls", "", "YAML or JSON file of calls (method, args, expect) instead of METHOD [ARG...]")
	junit := fs.String("junit", "", "also write a JUnit XML report to this file")
	strict := fs.Bool("strict", false, "count the expected protocol differences as divergences too")
	var allow stringList
	fs.Var(&allow, "allow", "accept this kind of difference (repeatable), e.g. value-mismatch for clocks")
	var format string
	registerFormat(fs, &format, "format")
	get := fs.String("get", "", "compare a download instead of calls: `FILE_ID` (one JSON value) fetched from both endpoints at once, bytes compared as they arrive (size and MD5 in the report)")
	pos, err := c.parse(e, fs, args, 3)
	if err != nil {
		return err
	}
	if err := checkFormat("format", format); err != nil {
		return err
	}
	// One System/Component name whose configuration lists both DISET and
	// HTTPS URLs compares the service with itself: NAME (METHOD [ARG...] |
	// --calls FILE). A method name never holds a "/", an endpoint always does.
	endpoints := 2
	if len(pos) == 1 || (len(pos) >= 2 && !strings.Contains(pos[1], "/")) {
		endpoints = 1
	}
	var calls []compat.Call
	var fileID any
	switch {
	case *get != "" && *callsFile == "" && len(pos) == endpoints:
		if fileID, err = parseFileID(*get, false); err != nil {
			return err
		}
	case *get != "":
		return usageErr("--get FILE_ID takes ENDPOINT_A ENDPOINT_B (or one System/Component with both protocols) and no method")
	case *callsFile != "" && len(pos) == endpoints:
		if calls, err = compat.LoadFile(*callsFile); err != nil {
			return usageErr("%v", err)
		}
	case *callsFile == "" && len(pos) > endpoints:
		callArgs, err := parseArgs(pos[endpoints+1:])
		if err != nil {
			return err
		}
		calls = []compat.Call{{Method: pos[endpoints], Args: callArgs}}
	default:
		return usageErr("want ENDPOINT_A ENDPOINT_B (or one System/Component with both protocols) and either METHOD [ARG...] or --calls FILE")
	}
	opts := compat.Options{Strict: *strict, Timeout: c.timeout}
	for _, a := range allow {
		k, ok := compat.ParseKind(a)
		if !ok {
			var kinds []string
			for _, k := range compat.Kinds() {
				kinds = append(kinds, string(k))
			}
			return usageErr("--allow: unknown kind %q; the kinds are: %s", a, strings.Join(kinds, ", "))
		}
		opts.Allow = append(opts.Allow, k)
	}
	var sides [2]*target
	if endpoints == 1 {
		ts, err := c.resolveTargets(ctx, e, pos[0])
		if err != nil {
			return err
		}
		if len(ts) != 2 {
			return usageErr("%s has only %s URLs: give two endpoints", pos[0], ts[0].protocol)
		}
		sides[0], sides[1] = ts[0], ts[1]
	} else {
		for i, arg := range pos[:2] {
			t, err := c.resolveTarget(ctx, e, arg)
			if err != nil {
				return err
			}
			sides[i] = t
		}
	}
	a, err := c.caller(e, sides[0])
	if err != nil {
		what, fix := explain(err)
		return unreachable(what, fix)
	}
	defer a.Close()
	b, err := c.caller(e, sides[1])
	if err != nil {
		what, fix := explain(err)
		return unreachable(what, fix)
	}
	defer b.Close()
	opts.NameA, opts.URLA = string(sides[0].protocol), sides[0].String()
	opts.NameB, opts.URLB = string(sides[1].protocol), sides[1].String()
	if *get != "" {
		return compareDownload(ctx, e, &c, fs, a, b, fileID, opts)
	}
	rep := compat.Run(ctx, a, b, calls, opts)
	if format != formatDIRACJSON && !c.json {
		defer writeValues(e, rep, format)
	}
	return finishCompare(e, rep, c.json, *junit)
}

// finishCompare prints the report, writes the JUnit file and picks the exit
// code: 1 on a divergence, else 3 when a side could not be called.
func finishCompare(e *env, rep *compat.Report, asJSON bool, junit string) error {
	var err error
	if asJSON {
		err = rep.WriteJSON(e.stdout)
	} else {
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if junit != "" {
		f, err := os.Create(junit)
		if err != nil {
			return err
		}
		if err := rep.WriteJUnit(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	switch {
	case rep.Divergent():
		return &exitError{code: exitFail, msg: fmt.Sprintf("%d of %d calls diverged", rep.Summary().Divergent, rep.Summary().Total)}
	case rep.Failed():
		return &exitError{code: exitUnreachable, msg: failedHint(rep)}
	}
	return nil
}

func failedHint(rep *compat.Report) string {
	for _, cs := range rep.Cases {
		for _, o := range []compat.Outcome{cs.A, cs.B} {
			if _, isS := o.SError(); o.Err != nil && !isS {
				what, fix := explain(o.Err)
				return unreachable(fmt.Sprintf("%d calls could not be made: %s", rep.Summary().Failed, what), fix).Error()
			}
		}
	}
	return "some calls could not be made"
}

// writeValues prints what each side answered, in a lossless format, after
// the report.
func writeValues(e *env, rep *compat.Report, format string) {
	fmt.Fprintf(e.stdout, "values (%s):\n", format)
	for _, cs := range rep.Cases {
		fmt.Fprintf(e.stdout, "  %s\n", cs.Call.Label())
		for _, side := range []struct {
			name string
			o    compat.Outcome
		}{{rep.A.Name, cs.A}, {rep.B.Name, cs.B}} {
			text := ""
			switch se, isS := side.o.SError(); {
			case isS:
				text = fmt.Sprintf("S_ERROR Errno %d: %s", se.Errno, se.Message)
			case side.o.Err != nil:
				text = "failed: " + firstLine(side.o.Err.Error())
			default:
				var err error
				if text, err = display(format, side.o.Value); err != nil {
					text = reprOf(side.o.Value)
				}
			}
			fmt.Fprintf(e.stdout, "    %-6s %s\n", side.name+":", text)
		}
	}
}

// compareDownload is compare --get: exit 1 when the sides diverge, 3 when
// a side could not be reached.
func compareDownload(ctx context.Context, e *env, c *common, fs *flag.FlagSet, a, b compat.Receiver, fileID any, opts compat.Options) error {
	ctx, cancel := transferContext(ctx, c, fs)
	defer cancel()
	rep := compat.CompareDownload(ctx, a, b, fileID, opts)
	var err error
	if c.json {
		err = rep.WriteJSON(e.stdout)
	} else {
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	switch {
	case rep.Failed():
		for _, s := range []compat.DownloadSide{rep.A, rep.B} {
			if s.Err != nil {
				what, fix := explain(s.Err)
				return &exitError{code: exitUnreachable, msg: unreachable(s.Name+": "+what, fix).Error()}
			}
		}
	case rep.Divergent():
		return &exitError{code: exitFail, msg: "the downloads differ"}
	}
	return nil
}
