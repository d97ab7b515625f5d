// Package cfg reads and writes DIRAC's configuration format (the "cfg" files
// of diraccfg: dirac.cfg, the Configuration Service payload) and merges
// several files the way DIRAC's clients do.
//
// An example of the format:
//
//	# a comment line; it is attached to the next entry
//	DIRAC
//	{
//	  Setup = Production  # not a comment: the value is "Production  # not a comment"
//	  Configuration {
//	    Servers = dips://cs1.example.org:9135/Configuration/Server
//	    Servers += dips://cs2.example.org:9135/Configuration/Server
//	  }
//	  Eq = a=b=c
//	  Empty =
//	}
//
// The quirks of diraccfg this parser reproduces on purpose:
//
//   - Only a line whose first non-blank character is '#' is a comment; a '#'
//     anywhere else belongs to the value.
//   - The option name is everything before the first '=' of the whole line,
//     the value everything after it; the rest of the line is consumed, so a
//     '}' after an option on the same line is part of the value and does not
//     close the section.
//   - "name += more" appends ", more" to an option that must already exist in
//     the same section.
//   - A section name may stand on the lines before its '{', and several
//     sections may open on one line ("Setups { Production {").
//   - Declaring a section twice in one file is an error; setting an option
//     twice keeps the last value.
//   - Values are strings; lists are comma-separated (see SplitList).
//
// Where diraccfg raises a Python exception, Parse returns a *ParseError with
// the file, the line and the reason. Two cases diraccfg lets through are
// errors here: an option with the name of a section of the same level (it
// would replace the section), and a section or option without a name.
//
// A Config keeps the order of its sections and options. It is not safe for
// concurrent modification; treat a Config shared between goroutines as
// read-only (Clone it to change it).
package cfg

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// ParseError reports where and why a cfg text was rejected.
type ParseError struct {
	File   string // the name given to Parse, or the file path
	Line   int    // 1-based line number
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("cfg: %s:%d: %s", e.File, e.Line, e.Reason)
}

// entry is one option or subsection, in declaration order.
type entry struct {
	name    string
	comment string // comment lines joined with "\n", '#' removed
	value   string // for options
	sec     *Section
}

// Section is a section of a configuration: options and subsections in
// order. The zero value is an empty section.
type Section struct {
	entries []*entry
	index   map[string]int
}

// Config is a whole configuration, that is its root section: every Section
// method applies, with paths starting from the root.
type Config = Section

// New returns an empty configuration.
func New() *Config { return &Config{} }

// indexFrom is the size from which a section indexes its entries by name;
// smaller sections (most of them) are searched linearly, which spares a map
// per section.
const indexFrom = 8

func (s *Section) find(name string) *entry {
	if s.index == nil {
		for _, e := range s.entries {
			if e.name == name {
				return e
			}
		}
		return nil
	}
	if i, ok := s.index[name]; ok {
		return s.entries[i]
	}
	return nil
}

func (s *Section) add(e *entry) {
	s.entries = append(s.entries, e)
	s.reindex(len(s.entries) - 1)
}

// reindex updates the index from entry i on (building it once the section
// is large enough).
func (s *Section) reindex(i int) {
	if s.index == nil {
		if len(s.entries) < indexFrom {
			return
		}
		s.index, i = make(map[string]int, len(s.entries)), 0
	}
	for ; i < len(s.entries); i++ {
		s.index[s.entries[i].name] = i
	}
}

// split splits a path into its components, ignoring empty ones as DIRAC does.
func split(path string) []string {
	parts := strings.Split(path, "/")
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// lookup walks to the entry at path; nil if absent. It does not allocate:
// Get is called for every resolution.
func (s *Section) lookup(path string) *entry {
	cur, rest := s, path
	var found *entry
	for rest != "" {
		var name string
		name, rest, _ = strings.Cut(rest, "/")
		if name == "" {
			continue
		}
		if found != nil {
			if found.sec == nil {
				return nil
			}
			cur = found.sec
		}
		if found = cur.find(name); found == nil {
			return nil
		}
	}
	return found
}

// Get returns the value of the option at path ("/DIRAC/Setup"; empty path
// components are ignored). ok is false when there is no such option (or the
// path names a section).
func (s *Section) Get(path string) (value string, ok bool) {
	e := s.lookup(path)
	if e == nil || e.sec != nil {
		return "", false
	}
	return e.value, true
}

// GetDefault returns the option at path, or def when it is absent.
func (s *Section) GetDefault(path, def string) string {
	if v, ok := s.Get(path); ok {
		return v
	}
	return def
}

// GetList returns the option at path as a list (SplitList). ok is false when
// there is no such option; an option with an empty value gives an empty list.
func (s *Section) GetList(path string) (list []string, ok bool) {
	v, ok := s.Get(path)
	if !ok {
		return nil, false
	}
	return SplitList(v), true
}

// GetBool returns the option at path read as DIRAC's gConfig.getValue does
// with a boolean default: true for y, yes, true or 1 (any case), false for
// anything else. ok is false when there is no such option.
func (s *Section) GetBool(path string) (b, ok bool) {
	v, ok := s.Get(path)
	if !ok {
		return false, false
	}
	return IsTrue(v), true
}

// IsTrue is DIRAC's reading of a boolean option: y, yes, true or 1, in any
// case, after trimming.
func IsTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "y", "yes", "true", "1":
		return true
	}
	return false
}

// SplitList splits a list value the way DIRAC's readers do: on ',', each
// item stripped, empty items dropped.
func SplitList(v string) []string {
	out := []string{}
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Section returns the subsection at path, or nil. An empty path returns s.
func (s *Section) Section(path string) *Section {
	if len(split(path)) == 0 {
		return s
	}
	e := s.lookup(path)
	if e == nil {
		return nil
	}
	return e.sec
}

// Has reports whether path names an option or a section.
func (s *Section) Has(path string) bool { return s.lookup(path) != nil }

// Sections returns the names of the direct subsections, in order.
func (s *Section) Sections() []string {
	var out []string
	for _, e := range s.entries {
		if e.sec != nil {
			out = append(out, e.name)
		}
	}
	return out
}

// Options returns the names of the direct options, in order.
func (s *Section) Options() []string {
	var out []string
	for _, e := range s.entries {
		if e.sec == nil {
			out = append(out, e.name)
		}
	}
	return out
}

// Comment returns the comment attached to the direct entry name (lines
// joined with "\n", without '#').
func (s *Section) Comment(name string) string {
	if e := s.find(name); e != nil {
		return e.comment
	}
	return ""
}

// Set sets the option at path, creating the sections on the way. It fails
// when a component of the path is an option or the last one is a section.
func (s *Section) Set(path, value string) error {
	parts := split(path)
	if len(parts) == 0 {
		return errors.New("cfg: Set with an empty path")
	}
	parent, err := s.mkdir(parts[:len(parts)-1], path)
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	switch e := parent.find(name); {
	case e == nil:
		parent.add(&entry{name: name, value: value})
	case e.sec != nil:
		return fmt.Errorf("cfg: %s is a section, not an option", path)
	default:
		e.value = value
	}
	return nil
}

// CreateSection returns the section at path, creating it and its parents as
// needed.
func (s *Section) CreateSection(path string) (*Section, error) {
	return s.mkdir(split(path), path)
}

func (s *Section) mkdir(parts []string, path string) (*Section, error) {
	cur := s
	for _, p := range parts {
		e := cur.find(p)
		if e == nil {
			e = &entry{name: p, sec: &Section{}}
			cur.add(e)
		}
		if e.sec == nil {
			return nil, fmt.Errorf("cfg: %s: %s is an option, not a section", path, p)
		}
		cur = e.sec
	}
	return cur, nil
}

// Delete removes the option or section at path; it reports whether there was
// one.
func (s *Section) Delete(path string) bool {
	parts := split(path)
	if len(parts) == 0 {
		return false
	}
	parent := s.Section(strings.Join(parts[:len(parts)-1], "/"))
	if parent == nil {
		return false
	}
	name := parts[len(parts)-1]
	i := slices.IndexFunc(parent.entries, func(e *entry) bool { return e.name == name })
	if i < 0 {
		return false
	}
	parent.entries = slices.Delete(parent.entries, i, i+1)
	if parent.index != nil {
		delete(parent.index, name)
		parent.reindex(i)
	}
	return true
}

// Clone returns a deep copy.
func (s *Section) Clone() *Section {
	out := &Section{}
	for _, e := range s.entries {
		c := *e
		if e.sec != nil {
			c.sec = e.sec.Clone()
		}
		out.add(&c)
	}
	return out
}

// Merge merges other into s, other winning, as DIRAC's CFG.mergeWith does:
// options of other replace those of s, sections present in both are merged
// recursively, entries only in other are appended in other's order. An
// entry of other replaces one of s of the other kind (option versus
// section). other is not modified and shares nothing with s afterwards; a
// nil other changes nothing. (DIRAC's mergeWith also lists the options of a
// section before its subsections; Merge keeps the declaration order, which
// changes nothing for readers.)
func (s *Section) Merge(other *Section) {
	if other == nil {
		return
	}
	for _, oe := range other.entries {
		e := s.find(oe.name)
		switch {
		case e == nil:
			c := *oe
			if oe.sec != nil {
				c.sec = oe.sec.Clone()
			}
			s.add(&c)
			continue
		case oe.sec != nil && e.sec != nil:
			e.sec.Merge(oe.sec)
		case oe.sec != nil:
			e.sec, e.value = oe.sec.Clone(), ""
		default:
			e.sec, e.value = nil, oe.value
		}
		if oe.comment != "" {
			e.comment = oe.comment
		}
	}
}

// Parse reads a cfg text. name is used in error messages (a file name).
// Errors are *ParseError.
func Parse(name string, data []byte) (*Config, error) {
	c := New()
	p := parser{name: name}
	if err := p.parse(c, string(data)); err != nil {
		return nil, err
	}
	return c, nil
}

// maxFileSize bounds what ParseFile reads: a cfg file, even a whole CS, is a
// few MiB.
const maxFileSize = 256 << 20

// ParseFile reads and parses a cfg file. As diraccfg does, a zip archive is
// accepted too and its first member is parsed.
func ParseFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cfg: %w", err)
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		if data, err = firstZipMember(data); err != nil {
			return nil, fmt.Errorf("cfg: %s: %w", path, err)
		}
	}
	return Parse(path, data)
}

func firstZipMember(data []byte) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	if len(zr.File) == 0 {
		return nil, errors.New("empty zip archive")
	}
	f, err := zr.File[0].Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxFileSize {
		return nil, fmt.Errorf("first zip member is larger than %d bytes", maxFileSize)
	}
	return out, nil
}

type parser struct {
	name string
}

type level struct {
	sec  *Section
	name string
	line int
}

func (p *parser) fail(line int, format string, args ...any) error {
	return &ParseError{File: p.name, Line: line, Reason: fmt.Sprintf(format, args...)}
}

// parse follows diraccfg's loadFromBuffer line by line (see the package
// documentation); the differences are that every failure is reported with
// its line instead of a Python exception.
func (p *parser) parse(root *Section, text string) error {
	stack := []level{{sec: root}}
	var pending strings.Builder // text accumulated for a section name
	var comment strings.Builder
	for n, raw := range strings.Split(text, "\n") {
		lineNo := n + 1
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		if line[0] == '#' {
			comment.WriteString(strings.ReplaceAll(line, "#", ""))
			comment.WriteByte('\n')
			continue
		}
	scan:
		for i := 0; i < len(line); i++ {
			cur := stack[len(stack)-1].sec
			switch c := line[i]; {
			case c == '{':
				name := strings.TrimSpace(pending.String())
				pending.Reset()
				if name == "" {
					return p.fail(lineNo, "section without a name before '{'")
				}
				if cur.find(name) != nil {
					return p.fail(lineNo, "%q is declared twice (DIRAC: %s key already exists)", name, name)
				}
				sec := &Section{}
				cur.add(&entry{name: name, comment: trimComment(&comment), sec: sec})
				stack = append(stack, level{sec: sec, name: name, line: lineNo})
			case c == '}':
				if len(stack) == 1 {
					return p.fail(lineNo, "'}' closes no open section")
				}
				stack = stack[:len(stack)-1]
			case c == '=':
				// The name is what precedes the first '=' of the whole line,
				// even text already consumed (diraccfg splits the line).
				name, val, _ := strings.Cut(line, "=")
				if err := p.setOption(cur, strings.TrimSpace(name), strings.TrimSpace(val), &comment, lineNo); err != nil {
					return err
				}
				pending.Reset()
				break scan
			case c == '+' && i+1 < len(line) && line[i+1] == '=':
				name, val, _ := strings.Cut(line, "+=")
				name = strings.TrimSpace(name)
				e := cur.find(name)
				if e == nil {
					return p.fail(lineNo, "+= on option %q, which has not been declared in this section", name)
				}
				if e.sec != nil {
					return p.fail(lineNo, "+= on %q, which is a section", name)
				}
				e.value += ", " + strings.TrimSpace(val)
				// diraccfg drops the comment lines before a += line.
				comment.Reset()
				pending.Reset()
				break scan
			default:
				pending.WriteByte(c)
			}
		}
	}
	if len(stack) > 1 {
		open := stack[len(stack)-1]
		return p.fail(open.line, "section %q is never closed", open.name)
	}
	return nil
}

func (p *parser) setOption(cur *Section, name, val string, comment *strings.Builder, lineNo int) error {
	if name == "" {
		return p.fail(lineNo, "option without a name before '='")
	}
	cmt := trimComment(comment)
	switch e := cur.find(name); {
	case e == nil:
		cur.add(&entry{name: name, value: val, comment: cmt})
	case e.sec != nil:
		return p.fail(lineNo, "option %q has the name of a section of the same level", name)
	default:
		e.value, e.comment = val, cmt
	}
	return nil
}

// trimComment returns the accumulated comment without its final newline and
// resets the builder.
func trimComment(b *strings.Builder) string {
	s := strings.TrimSuffix(b.String(), "\n")
	b.Reset()
	return s
}

// String serialises the configuration in DIRAC's format (see WriteTo).
func (s *Section) String() string {
	var b strings.Builder
	s.write(&b, "")
	return b.String()
}

// Bytes is String as bytes: the payload a Configuration Service compresses.
func (s *Section) Bytes() []byte { return []byte(s.String()) }

// WriteTo writes the configuration in DIRAC's format, as diraccfg's
// serialisation does: for each entry in order its comment lines as
// "#<line>", sections as "name", "{", the body indented by two spaces, "}",
// options as "name = first" plus one "name += item" line per further list
// item (so a value is written back as its SplitList items).
func (s *Section) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	s.write(&b, "")
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func (s *Section) write(b *strings.Builder, indent string) {
	line := func(parts ...string) {
		b.WriteString(indent)
		for _, p := range parts {
			b.WriteString(p)
		}
		b.WriteByte('\n')
	}
	for _, e := range s.entries {
		if e.comment != "" {
			for l := range strings.SplitSeq(e.comment, "\n") {
				if l != "" {
					line("#", l)
				}
			}
		}
		if e.sec != nil {
			line(e.name)
			line("{")
			e.sec.write(b, indent+"  ")
			line("}")
			continue
		}
		first := true
		for item := range strings.SplitSeq(e.value, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			if first {
				line(e.name, " = ", item)
				first = false
			} else {
				line(e.name, " += ", item)
			}
		}
		if first {
			line(e.name, " = ")
		}
	}
}
