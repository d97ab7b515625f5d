package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/diracgo/diracrpc/internal/junit"
	"github.com/diracgo/diracrpc/jencode"
)

// Side describes one of the two endpoints compared.
type Side struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

// Case is the verdict on one call.
type Case struct {
	Call        Call
	Status      Status
	A, B        Outcome
	Differences []Difference
}

// Report is the result of Run.
type Report struct {
	A, B    Side
	Started time.Time
	Elapsed time.Duration
	Cases   []Case
}

// Summary counts the cases by status.
type Summary struct {
	Total     int `json:"total"`
	Identical int `json:"identical"`
	Expected  int `json:"expected"`
	Divergent int `json:"divergent"`
	Failed    int `json:"failed"`
}

// Summary counts the cases by status.
func (r *Report) Summary() Summary {
	s := Summary{Total: len(r.Cases)}
	for _, c := range r.Cases {
		switch c.Status {
		case Identical:
			s.Identical++
		case Expected:
			s.Expected++
		case Divergent:
			s.Divergent++
		case Failed:
			s.Failed++
		}
	}
	return s
}

// Divergent reports whether any call diverged.
func (r *Report) Divergent() bool { return r.Summary().Divergent > 0 }

// Failed reports whether any call could not be made on a side.
func (r *Report) Failed() bool { return r.Summary().Failed > 0 }

// WriteText writes a report for people: one line per call, the differences
// indented below it, and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "compat: A = %s, B = %s\n", sideText(r.A), sideText(r.B))
	for _, c := range r.Cases {
		label := strings.ToUpper(string(c.Status))
		if c.Status == Identical || c.Status == Expected {
			label = string(c.Status)
		}
		fmt.Fprintf(&b, "  %-10s %s\n", label, c.Call.Label())
		if c.Status == Identical {
			continue
		}
		for _, d := range c.Differences {
			mark := "!"
			if d.Accepted {
				mark = "~"
			}
			fmt.Fprintf(&b, "      %s %s\n", mark, diffLine(d))
		}
	}
	s := r.Summary()
	fmt.Fprintf(&b, "%d calls: %d identical, %d expected differences only, %d divergent, %d failed (%s)\n",
		s.Total, s.Identical, s.Expected, s.Divergent, s.Failed, r.Elapsed.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

func sideText(s Side) string {
	if s.URL != "" && s.URL != s.Name {
		return s.Name + " (" + s.URL + ")"
	}
	return s.Name
}

// outcomeJSON is an Outcome in JSON reports.
type outcomeJSON struct {
	OK        bool            `json:"ok"`
	Value     json.RawMessage `json:"value,omitempty"`
	Repr      string          `json:"repr,omitempty"`
	Errno     *int            `json:"errno,omitempty"`
	Message   string          `json:"message,omitempty"`
	Error     string          `json:"error,omitempty"`
	ElapsedMS float64         `json:"elapsed_ms"`
	Protocol  string          `json:"protocol,omitempty"`
	URL       string          `json:"url,omitempty"`
}

type caseJSON struct {
	Name        string          `json:"name"`
	Method      string          `json:"method"`
	Args        json.RawMessage `json:"args"`
	Status      Status          `json:"status"`
	A           outcomeJSON     `json:"a"`
	B           outcomeJSON     `json:"b"`
	Differences []Difference    `json:"differences"`
}

type reportJSON struct {
	A         Side       `json:"a"`
	B         Side       `json:"b"`
	Started   time.Time  `json:"started"`
	ElapsedMS float64    `json:"elapsed_ms"`
	Summary   Summary    `json:"summary"`
	Cases     []caseJSON `json:"cases"`
}

// diracJSON returns v as DIRAC JSON, or nil when JSON cannot carry it (the
// repr is in the report anyway).
func diracJSON(v any) json.RawMessage {
	m, err := ToModel(v)
	if err != nil {
		return nil
	}
	b, err := jencode.Marshal(m)
	if err != nil || !json.Valid(b) { // NaN and Infinity are not JSON
		return nil
	}
	return b
}

func outcomeToJSON(o Outcome) outcomeJSON {
	j := outcomeJSON{OK: o.Err == nil, ElapsedMS: ms(o.Elapsed), Protocol: string(o.Protocol), URL: o.URL}
	switch e, isS := o.SError(); {
	case o.Err == nil:
		j.Value = diracJSON(o.Value)
		if j.Value == nil {
			j.Value = json.RawMessage("null")
		}
		if m, err := ToModel(o.Value); err == nil {
			j.Repr = Repr(m)
		}
	case isS:
		n := e.Errno
		j.Errno, j.Message = &n, e.Message
	default:
		j.Error = o.Err.Error()
	}
	return j
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MarshalJSON writes the whole report: sides, summary, and for each call
// both answers (values in DIRAC JSON and in Python repr) and the differences.
func (r *Report) MarshalJSON() ([]byte, error) {
	out := reportJSON{A: r.A, B: r.B, Started: r.Started, ElapsedMS: ms(r.Elapsed), Summary: r.Summary(),
		Cases: make([]caseJSON, 0, len(r.Cases))}
	for _, c := range r.Cases {
		args := diracJSON(orEmptyArgs(c.Call.Args))
		if args == nil {
			args = json.RawMessage("null")
		}
		diffs := c.Differences
		if diffs == nil {
			diffs = []Difference{}
		}
		out.Cases = append(out.Cases, caseJSON{Name: c.Call.Label(), Method: c.Call.Method, Args: args,
			Status: c.Status, A: outcomeToJSON(c.A), B: outcomeToJSON(c.B), Differences: diffs})
	}
	return json.Marshal(out)
}

func orEmptyArgs(a []any) []any {
	if a == nil {
		return []any{}
	}
	return a
}

// WriteJSON writes the report as indented JSON (see MarshalJSON).
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, b, "", "  "); err != nil {
		return err
	}
	ind.WriteByte('\n')
	_, err = w.Write(ind.Bytes())
	return err
}

// WriteJUnit writes the report as JUnit XML: one test case per call, a
// failure for a divergent call, an error for a failed one; expected
// differences are listed in the case's system-out.
func (r *Report) WriteJUnit(w io.Writer) error {
	s := r.Summary()
	suite := junit.Suite{
		Name:     "compat " + sideText(r.A) + " vs " + sideText(r.B),
		Tests:    s.Total,
		Failures: s.Divergent,
		Errors:   s.Failed,
		Time:     seconds(r.Elapsed),
	}
	for _, c := range r.Cases {
		jc := junit.Case{Name: c.Call.Label(), ClassName: "compat." + c.Call.Method, Time: seconds(c.A.Elapsed + c.B.Elapsed)}
		var lines []string
		for _, d := range c.Differences {
			lines = append(lines, diffLine(d))
		}
		text := strings.Join(lines, "\n")
		switch c.Status {
		case Divergent:
			jc.Failure = &junit.Problem{Message: firstProblem(c), Type: "divergence", Text: text}
		case Failed:
			jc.Error = &junit.Problem{Message: firstProblem(c), Type: "call-failed", Text: text}
		case Expected:
			jc.SystemOut = text
		}
		suite.Cases = append(suite.Cases, jc)
	}
	return junit.Write(w, junit.Suites{Suites: []junit.Suite{suite}})
}

func diffLine(d Difference) string {
	s := string(d.Kind) + " at " + d.Path
	if d.A != "" || d.B != "" {
		s += ": A " + d.A + " | B " + d.B
	}
	if d.Detail != "" {
		s += " (" + d.Detail + ")"
	}
	return s
}

func firstProblem(c Case) string {
	for _, d := range c.Differences {
		if !d.Accepted {
			return diffLine(d)
		}
	}
	return string(c.Status)
}

func seconds(d time.Duration) string { return junit.Seconds(d) }
