package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// completeCommand is the hidden command the completion scripts call with
// the words typed so far (the last one possibly empty); it prints the
// candidates, one a line. Nothing printed: the shell completes file names.
const completeCommand = "__complete"

// The scripts ask probe itself, so that they never go stale: commands and
// flags come from the same tables and flag sets the commands parse with.
var completionScripts = map[string]string{
	"bash": "# probe completion for bash: source <(probe completion bash)\n" + bashCompletion,
	// zsh runs bash's completion functions through bashcompinit.
	"zsh": "# probe completion for zsh: source <(probe completion zsh)\n" +
		"autoload -U +X bashcompinit && bashcompinit\n" + bashCompletion,
	"fish": "# probe completion for fish: probe completion fish | source\n" +
		"complete -c probe -a '(probe " + completeCommand + " (commandline -opc)[2..-1] (commandline -ct))'\n",
}

const bashCompletion = `_probe() {
	local IFS=$'\n'
	local cands
	cands=$(probe ` + completeCommand + ` "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
	COMPREPLY=($cands)
}
complete -o default -F _probe probe
`

func runCompletion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "completion")
	pos, err := parseInterleaved(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 || completionScripts[pos[0]] == "" {
		return usageErr("want one of bash, zsh, fish")
	}
	_, err = io.WriteString(e.stdout, completionScripts[pos[0]])
	return err
}

// complete prints the candidates for the last of words (the words after
// "probe"): command names first, then a command's flags when the word
// starts with "-", then the values of flags that take a fixed set.
func complete(ctx context.Context, e *env, words []string) {
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	var cands []string
	if len(words) == 1 {
		for _, c := range commands() {
			cands = append(cands, c.name)
		}
		cands = append(cands, "help")
	} else if fs := commandFlags(ctx, words[0]); fs != nil {
		prev := words[len(words)-2]
		if name, ok := flagToken(prev); ok && !strings.Contains(prev, "=") {
			if f := fs.Lookup(name); f != nil && !isBoolFlag(f) {
				cands = flagValues[name]
				if cands == nil {
					return // a file name, a number...: the shell's default
				}
			}
		}
		if cands == nil && strings.HasPrefix(cur, "-") {
			fs.VisitAll(func(f *flag.Flag) { cands = append(cands, flagName(f.Name)) })
		}
	}
	sort.Strings(cands)
	for _, c := range cands {
		if strings.HasPrefix(c, cur) {
			fmt.Fprintln(e.stdout, c)
		}
	}
}

// flagValues are the choices of flags that take a fixed set, whatever the
// command.
var flagValues = map[string][]string{
	"encoding": {"json", "dencode"},
	"format":   {"json", "dencode"},
}

// commandFlags returns the flag set command name parses with, by running
// it with -h against a cancelled context and a silent env: every command
// defines its flags before it parses them, so nothing else runs.
func commandFlags(ctx context.Context, name string) *flag.FlagSet {
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
			getenv: func(string) string { return "" }, flagSets: map[string]*flag.FlagSet{}}
		_ = c.run(ctx, e, []string{"-h"})
		return e.flagSets[name]
	}
	return nil
}
