package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/diracgo/diracrpc/value"
)

func runPing(ctx context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "ping")
	pos, err := c.parse(e, fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want one ENDPOINT")
	}
	out, res, err := doCall(ctx, &c, e, pos[0], "ping", nil)
	if c.json && out != nil {
		return writeJSONResult(e, out, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: OK over %s in %.1f ms (%s)\n", pos[0], res.Protocol, out.ElapsedMS, res.URL)
	d, ok := res.Value.(*value.Dict)
	if !ok {
		fmt.Fprintf(e.stdout, "  %s\n", reprOf(res.Value))
		return nil
	}
	keys := make([]string, 0, d.Len())
	m := d.StringMap()
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "  %-20s %s\n", k+":", pingField(m[k]))
	}
	return nil
}

// pingField prints a ping entry for people: strings bare, the rest in repr.
func pingField(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return reprOf(v)
}
