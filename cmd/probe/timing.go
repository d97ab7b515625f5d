package main

import (
	"fmt"
	"io"
	"strings"
)

// writeTiming draws the breakdown of a call the way httpstat does: one
// column per phase with its duration, then where each phase ended.
func writeTiming(w io.Writer, out *callResult) {
	t := out.Timing
	cols := []struct {
		name string
		ms   float64
		skip bool
	}{
		{"DNS lookup", t.DNS, false},
		{"TCP connect", t.Connect, false},
		{"TLS handshake", t.TLS, out.Protocol == "dip"},
		{"proposal", t.Proposal, out.Protocol == "https"},
		{"server", t.Server, false},
		{"transfer", t.Transfer, false},
	}
	// Columns as wide as their names plus margins; the third line puts
	// each phase's end time (cumulative) under the column's right edge.
	var head, vals, ends strings.Builder
	head.WriteString(" ")
	vals.WriteString("[")
	edge, sum := 0, 0.0
	for i, c := range cols {
		if c.skip {
			continue
		}
		w := len(c.name) + 4
		if i > 0 && vals.Len() > 1 {
			head.WriteString(" ")
			vals.WriteString("|")
		}
		head.WriteString(center(c.name, w))
		vals.WriteString(center(fmt.Sprintf("%.2fms", c.ms), w))
		sum += c.ms
		edge = vals.Len()
		end := fmt.Sprintf("%.2fms", sum)
		fmt.Fprintf(&ends, "%*s", edge-ends.Len(), end)
	}
	vals.WriteString("]")
	how := "new connection"
	if t.Reused {
		how = "kept-alive connection"
	}
	if t.Attempts > 1 {
		how += fmt.Sprintf(", last of %d attempts", t.Attempts)
	}
	fmt.Fprintf(w, "%s %s over %s (%s)\n", out.URL, out.Method, out.Protocol, how)
	fmt.Fprintf(w, "%s\n%s\n%s\n", head.String(), vals.String(), ends.String())
	fmt.Fprintf(w, "total %.2fms (the call, client side: %.2fms)\n", t.Total, out.ElapsedMS)
}

func center(s string, w int) string {
	pad := max(0, w-len(s))
	return strings.Repeat(" ", pad/2) + s + strings.Repeat(" ", pad-pad/2)
}
