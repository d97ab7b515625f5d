package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// spanRecorder keeps the spans of a call in memory for -v's span tree: an
// OpenTelemetry SDK span processor, so the tree shows what the library's
// instrumentation reports, nothing probe works out on its side.
type spanRecorder struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (r *spanRecorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r *spanRecorder) Shutdown(context.Context) error                  { return nil }
func (r *spanRecorder) ForceFlush(context.Context) error                { return nil }

func (r *spanRecorder) OnEnd(s sdktrace.ReadOnlySpan) {
	r.mu.Lock()
	r.spans = append(r.spans, s)
	r.mu.Unlock()
}

func (r *spanRecorder) ended() []sdktrace.ReadOnlySpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// newSpanRecorder returns a tracer provider recording into a spanRecorder.
func newSpanRecorder() (*sdktrace.TracerProvider, *spanRecorder) {
	r := &spanRecorder{}
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r)), r
}

// treeNode is a span, or an event of its parent (a pause), in the tree.
type treeNode struct {
	at   time.Time
	line string
	kids []*treeNode
}

// writeSpanTree draws spans as a tree, children and events in time order:
//
//	Framework/TestHarness/add  client  2.10ms  ok
//	└─ attempt 1  dips://localhost:9135/Framework/TestHarness  2.01ms  ok  connect 0.10ms | tls 1.20ms | ...
func writeSpanTree(w io.Writer, spans []sdktrace.ReadOnlySpan) {
	nodes := map[trace.SpanID]*treeNode{}
	for _, s := range spans {
		nodes[s.SpanContext().SpanID()] = &treeNode{at: s.StartTime(), line: spanLine(s)}
	}
	var roots []*treeNode
	for _, s := range spans {
		n := nodes[s.SpanContext().SpanID()]
		for _, ev := range s.Events() {
			n.kids = append(n.kids, &treeNode{at: ev.Time, line: eventLine(ev)})
		}
		if p, ok := nodes[s.Parent().SpanID()]; ok && s.Parent().IsValid() {
			p.kids = append(p.kids, n)
		} else {
			roots = append(roots, n)
		}
	}
	var draw func(n *treeNode, prefix, branch, next string)
	draw = func(n *treeNode, prefix, branch, next string) {
		fmt.Fprintf(w, "%s%s%s\n", prefix, branch, n.line)
		slices.SortStableFunc(n.kids, func(a, b *treeNode) int { return a.at.Compare(b.at) })
		for i, k := range n.kids {
			if i == len(n.kids)-1 {
				draw(k, prefix+next, "└─ ", "   ")
			} else {
				draw(k, prefix+next, "├─ ", "│  ")
			}
		}
	}
	slices.SortStableFunc(roots, func(a, b *treeNode) int { return a.at.Compare(b.at) })
	for _, r := range roots {
		draw(r, "", "", "")
	}
}

// spanLine is one span: name (attempts: number and URL), kind, duration,
// outcome (ok or error.type), then what the attempt's attributes add.
func spanLine(s sdktrace.ReadOnlySpan) string {
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		attrs[kv.Key] = kv.Value
	}
	parts := []string{s.Name()}
	if n, ok := attrs["dirac.attempt"]; ok {
		parts[0] += fmt.Sprintf(" %d", n.AsInt64())
	}
	if u, ok := attrs["url.full"]; ok {
		parts = append(parts, u.AsString())
	} else {
		parts = append(parts, s.SpanKind().String(), fmt.Sprint(attrs["rpc.system"].AsString()))
	}
	parts = append(parts, ms(s.EndTime().Sub(s.StartTime())))
	outcome := "ok"
	if et, ok := attrs["error.type"]; ok {
		outcome = et.AsString()
		if n, ok := attrs["dirac.errno"]; ok {
			outcome += fmt.Sprintf(" (errno %d)", n.AsInt64())
		}
	}
	if v, ok := attrs["dirac.sent"]; ok && !v.AsBool() {
		outcome += ", not sent"
	}
	if v, ok := attrs["dirac.banned"]; ok && v.AsBool() {
		outcome += ", URL banned"
	}
	if v, ok := attrs["dirac.reused"]; ok && v.AsBool() {
		outcome += ", kept-alive connection"
	}
	parts = append(parts, outcome)
	var phases []string
	for _, p := range []string{"dns", "connect", "tls", "proposal", "server", "transfer"} {
		if v, ok := attrs[attribute.Key("dirac.phase."+p)]; ok {
			phases = append(phases, fmt.Sprintf("%s %.2fms", p, v.AsFloat64()))
		}
	}
	if len(phases) > 0 {
		parts = append(parts, strings.Join(phases, " | "))
	}
	return strings.Join(parts, "  ")
}

func eventLine(ev sdktrace.Event) string {
	line := ev.Name
	for _, kv := range ev.Attributes {
		if kv.Key == "dirac.pause_ms" {
			line += fmt.Sprintf("  %.2fms before the next attempt", kv.Value.AsFloat64())
		}
	}
	return line
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
