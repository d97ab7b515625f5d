package shadow

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/diracgo/diracrpc/internal/junit"
)

// Report is the live report of a Shadow.
type Report struct {
	Started time.Time      `json:"started"`
	Elapsed string         `json:"elapsed"`
	Totals  Counts         `json:"totals"`
	Methods []MethodReport `json:"methods"`
}

// Counts are the verdicts over calls.
type Counts struct {
	// Calls is every call the gateway forwarded to the method.
	Calls int `json:"calls"`
	// Mirrored calls were queued for the candidate; Dropped found the queue
	// full; NotMirrored were not declared read-only (never mirrored).
	Mirrored    int `json:"mirrored"`
	Dropped     int `json:"dropped"`
	NotMirrored int `json:"notMirrored"`
	// Compared calls got an answer from both sides. Each is Identical,
	// ExpectedOnly (only compat's expected protocol differences), NoiseOnly
	// (differences the A/A baseline explains, maybe with expected ones) or
	// Divergent (at least one unexplained difference).
	Compared     int `json:"compared"`
	Identical    int `json:"identical"`
	ExpectedOnly int `json:"expectedOnly"`
	NoiseOnly    int `json:"noiseOnly"`
	Divergent    int `json:"divergent"`
	// CandidateErrors: the candidate could not be called (not an S_ERROR,
	// which is an answer and is compared).
	CandidateErrors int `json:"candidateErrors"`
}

func (c *Counts) add(m MethodReport) {
	c.Calls += m.Calls
	c.Mirrored += m.Mirrored
	c.Dropped += m.Dropped
	c.NotMirrored += m.NotMirrored
	c.Compared += m.Compared
	c.Identical += m.Identical
	c.ExpectedOnly += m.ExpectedOnly
	c.NoiseOnly += m.NoiseOnly
	c.Divergent += m.Divergent
	c.CandidateErrors += m.CandidateErrors
}

// MethodReport is one method's counts, the noise its baseline learned
// ("<kind> <path>", list indices as [*]) and examples of divergences.
type MethodReport struct {
	Service string `json:"service"`
	Method  string `json:"method"`
	Counts
	Noise    []string  `json:"noise"`
	Examples []Example `json:"examples"`
}

// Example is one unexplained difference (or candidate failure): where, and
// both values in Python's repr.
type Example struct {
	Kind      string `json:"kind"`
	Path      string `json:"path"`
	Args      string `json:"args"`
	Primary   string `json:"primary"`
	Candidate string `json:"candidate"`
	Detail    string `json:"detail,omitempty"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteJUnit writes one test case per method: a failure when it diverged
// (the examples as text), an error when the candidate could not be called.
func (r *Report) WriteJUnit(w io.Writer) error {
	suite := junit.Suite{Name: "shadow", Tests: len(r.Methods)}
	for _, m := range r.Methods {
		c := junit.Case{Name: m.Method, ClassName: "shadow." + m.Service, Time: "0.000",
			SystemOut: fmt.Sprintf("calls %d, compared %d, identical %d, expected-only %d, noise-only %d, divergent %d, candidate errors %d, dropped %d",
				m.Calls, m.Compared, m.Identical, m.ExpectedOnly, m.NoiseOnly, m.Divergent, m.CandidateErrors, m.Dropped)}
		var text bytes.Buffer
		for _, e := range m.Examples {
			fmt.Fprintf(&text, "%s at %s (args %s): primary %s | candidate %s\n", e.Kind, e.Path, e.Args, e.Primary, e.Candidate)
		}
		switch {
		case m.Divergent > 0:
			suite.Failures++
			c.Failure = &junit.Problem{Message: fmt.Sprintf("%d of %d compared calls diverged", m.Divergent, m.Compared),
				Type: "divergence", Text: text.String()}
		case m.CandidateErrors > 0:
			suite.Errors++
			c.Error = &junit.Problem{Message: fmt.Sprintf("%d candidate calls failed", m.CandidateErrors),
				Type: "candidate-error", Text: text.String()}
		}
		suite.Cases = append(suite.Cases, c)
	}
	return junit.Write(w, junit.Suites{Suites: []junit.Suite{suite}})
}

//go:embed report.html
var page []byte

// Handler serves the live report under its mount point: "" or "/" the web
// page, "report.json" the JSON, "junit.xml" the JUnit XML. Mount it with
// http.StripPrefix.
func (s *Shadow) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("/report.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = s.Report().WriteJSON(w)
	})
	mux.HandleFunc("/junit.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_ = s.Report().WriteJUnit(w)
	})
	return mux
}
