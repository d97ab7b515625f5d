package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runInProcess runs probe's command line in this process.
func runInProcess(t *testing.T, ctx context.Context, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return vars[k] }})
	return result{code, out.String(), errb.String()}
}

func TestFlagsAnywhere(t *testing.T) {
	parse := func(maxPos int, args ...string) ([]string, *bool, *string, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		j := fs.Bool("json", false, "")
		m := fs.String("method", "", "")
		pos, err := parseInterleaved(fs, args, maxPos)
		return pos, j, m, err
	}
	pos, j, _, err := parse(2, "URL", "add", "1", "2", "--json")
	require.NoError(t, err)
	assert.Equal(t, []string{"URL", "add", "1", "2"}, pos)
	assert.True(t, *j, "a flag after the positional arguments is a flag")
	pos, j, m, err := parse(2, "URL", "--method=x", "echo", "-7", "-json", "--", "--json")
	require.NoError(t, err)
	assert.Equal(t, []string{"URL", "echo", "-7", "--json"}, pos, "negative numbers are arguments; -- ends the flags")
	assert.True(t, *j)
	assert.Equal(t, "x", *m)
	pos, _, m, err = parse(-1, "URL", "--method", "-1", "-3")
	require.NoError(t, err)
	assert.Equal(t, []string{"URL", "-3"}, pos)
	assert.Equal(t, "-1", *m)
	_, _, _, err = parse(2, "--nope", "URL")
	require.Error(t, err)
	pos, _, _, err = parse(2, "URL", "m", "--nope")
	require.NoError(t, err)
	assert.Equal(t, []string{"URL", "m", "--nope"}, pos, "past METHOD an unknown dash word is an argument")
}

// A bad flag value says what is wrong, not the whole flag list.
func TestBadFlagValueIsShort(t *testing.T) {
	r := runInProcess(t, context.Background(), nil, "call", "--timeout", "abc", "dips://h:1/A/B", "ping")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `invalid value "abc" for flag --timeout`)
	assert.Contains(t, r.stderr, "usage: probe call")
	assert.NotContains(t, r.stderr, "--insecure", "no flag list")
	assert.LessOrEqual(t, strings.Count(r.stderr, "\n"), 3, r.stderr)
	r = runInProcess(t, context.Background(), nil, "call", "-h")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "--insecure")
}

func TestCompletion(t *testing.T) {
	ctx := context.Background()
	r := runInProcess(t, ctx, nil, completeCommand, "c")
	assert.Equal(t, "call\ncodec\ncompare\ncompletion\ncreds\n", r.stdout)
	r = runInProcess(t, ctx, nil, completeCommand, "bench", "dips://h:1/A/B", "--d")
	assert.Contains(t, strings.Fields(r.stdout), "--duration")
	r = runInProcess(t, ctx, nil, completeCommand, "call", "--encoding", "")
	assert.Equal(t, "dencode\njson\n", r.stdout)
	r = runInProcess(t, ctx, nil, completeCommand, "call", "--proxy", "")
	assert.Empty(t, r.stdout, "file names: the shell's own completion")
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r = runInProcess(t, ctx, nil, "completion", sh)
		assert.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stdout, completeCommand)
	}
	r = runInProcess(t, ctx, nil, "completion", "tcsh")
	assert.Equal(t, exitUsage, r.code)
}
