package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/testkit"
)

// readmeBlock is one fenced block of the README: its language and lines.
type readmeBlock struct {
	lang  string
	lines []string
}

// walkthrough returns the fenced blocks of the README's section title.
func walkthrough(t *testing.T, title string) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	text := string(b)
	i := strings.Index(text, "\n"+title+"\n")
	require.GreaterOrEqual(t, i, 0, "README section %q", title)
	text = text[i+len(title)+2:]
	var blocks []readmeBlock
	var cur *readmeBlock
	for _, line := range strings.Split(text, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "#"):
			return blocks // the next heading, of any level
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &readmeBlock{lang: strings.TrimPrefix(line, "```")}
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		}
	}
	return blocks
}

// splitComment cuts a shell line at its comment: the first # outside quotes
// that follows a blank.
func splitComment(line string) (cmd, comment string) {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' '):
			return strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		}
	}
	return strings.TrimSpace(line), ""
}

var exitNote = regexp.MustCompile(`\s*\(exit (\d+)\)$`)

// claims reads a command's comment: the exit code ("(exit N)", else 0) and
// the fragments of the output it shows, "..." eliding; "stderr: " says
// where, and a comment in parentheses is a note, not output.
func claims(comment string) (code int, fragments []string) {
	if m := exitNote.FindStringSubmatch(comment); m != nil {
		code, _ = strconv.Atoi(m[1])
		comment = comment[:len(comment)-len(m[0])]
	}
	if strings.HasPrefix(comment, "(") {
		return code, nil
	}
	comment = strings.TrimPrefix(comment, "stderr: ")
	for _, f := range strings.Split(comment, "...") {
		if f = strings.TrimSpace(f); f != "" {
			fragments = append(fragments, f)
		}
	}
	return code, fragments
}

// TestREADMEWalkthrough runs the README's walkthrough as a newcomer would:
// the harness command as written (in a temporary directory instead of
// /tmp/h), the environment and URLs it says to take, the calls file it
// shows, then every command, each checked against what its comment says.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole walkthrough")
	}
	blocks := walkthrough(t, "### Walkthrough on the local harness")
	require.GreaterOrEqual(t, len(blocks), 4, "harness, environment, calls file, commands")
	dir := t.TempDir()
	hdir := filepath.Join(dir, "h")
	local := func(s string) string { return strings.ReplaceAll(s, "/tmp/h", hdir) }

	// 1. The harness, as the README starts it.
	require.Len(t, blocks[0].lines, 1)
	harnessCmd, _ := splitComment(blocks[0].lines[0])
	args := strings.Fields(local(harnessCmd))
	require.Equal(t, []string{"probe", "harness"}, args[:2])
	printed := startREADMEHarness(t, args[1:])

	// 2. The environment and the URLs, checked against what it printed.
	vars := map[string]string{"HOME": dir, "PATH": filepath.Dir(probeBin) + ":" + os.Getenv("PATH")}
	for _, line := range blocks[1].lines {
		words := strings.Fields(local(line))
		if len(words) > 0 && words[0] == "export" {
			words = words[1:]
			for _, w := range words {
				assert.Contains(t, printed, "export "+w, "the harness prints what the README exports")
			}
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			require.True(t, ok, "%q", line)
			if strings.Contains(v, "PORT") {
				re := regexp.MustCompile("^ *(" + strings.ReplaceAll(regexp.QuoteMeta(v), "PORT", `\d+`) + ")$")
				var url string
				for _, p := range strings.Split(printed, "\n") {
					if m := re.FindStringSubmatch(p); m != nil {
						url = m[1]
					}
				}
				require.NotEmpty(t, url, "the harness prints a URL of the form %s:\n%s", v, printed)
				v = url
			}
			vars[k] = v
		}
	}

	// 3. The calls file.
	var commands []string
	for _, b := range blocks[2:] {
		switch b.lang {
		case "yaml":
			require.NoError(t, os.WriteFile(filepath.Join(dir, "calls.yaml"), []byte(strings.Join(b.lines, "\n")+"\n"), 0o600))
		case "bash":
			commands = append(commands, b.lines...)
		}
	}
	require.FileExists(t, filepath.Join(dir, "calls.yaml"), "the calls file comes before the commands that use it")

	// 4. Every command.
	require.NotEmpty(t, commands)
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	for _, line := range commands {
		name, _ := splitComment(line)
		cmdline, comment := splitComment(local(line))
		if cmdline == "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			code, fragments := claims(comment)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", cmdline)
			cmd.Dir, cmd.Env = dir, env
			r := runCmd(t, cmd)
			all := r.stdout + r.stderr
			assert.Equal(t, code, r.code, "exit code of %s:\n%s", cmdline, all)
			for _, f := range fragments {
				assert.Contains(t, all, f, "the README says %s prints this", cmdline)
			}
			// Anything on stderr is part of what the README must show
			// (a warning nobody mentions is a surprise).
			if strings.Contains(comment, "stderr:") {
				assert.NotEmpty(t, r.stderr)
			} else {
				assert.Empty(t, r.stderr, "%s writes to stderr, which the README does not say", cmdline)
			}
		})
	}
}

// startREADMEHarness runs probe with args (harness ...) until it has
// printed its banner, returns the banner and stops it at the end.
func startREADMEHarness(t *testing.T, args []string) string {
	t.Helper()
	s := startBanner(t, args, func(line string) bool { return strings.HasPrefix(line, "Ctrl-C stops it") })
	require.Contains(t, s, "Ctrl-C stops it", "harness banner")
	return s
}

// startBanner runs probe with args until it printed the line last says
// ends its banner; it returns the banner and stops probe at the end.
func startBanner(t testing.TB, args []string, last func(line string) bool) string {
	t.Helper()
	cmd := exec.Command(probeBin, args...)
	cmd.Env = []string{"HOME=" + t.TempDir()}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &testkit.SyncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	stopAtCleanup(t, cmd, stderr)
	banner := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if last(sc.Text()) {
				break
			}
		}
		banner <- b.String()
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-banner:
		require.NotEmpty(t, s, "no banner; stderr: %s", stderr.String())
		return s
	case <-time.After(30 * time.Second):
		t.Fatalf("probe %s did not start: %s", args[0], stderr.String())
	}
	return ""
}
