// Package benchdata builds the realistic payload the codec benchmarks share: a
// DIRAC S_OK holding 700 job records of 7 fields (ints, strings, a datetime
// and a small list), about 125 KB as DEncode and 118 KB as encoding/json
// writes it, as job monitoring returns it.
// The same data is given in the generic model, as plain Go maps and slices, and
// as structs, so that every codec (and encoding/json) encodes the same thing.
package benchdata

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/diracgo/diracrpc/value"
)

// NumJobs is the number of records in the payload.
const NumJobs = 700

// Job is one record. The tags name the fields for both DIRAC codecs and
// encoding/json.
type Job struct {
	JobID          int64     `dirac:"JobID" json:"JobID"`
	Status         string    `dirac:"Status" json:"Status"`
	MinorStatus    string    `dirac:"MinorStatus" json:"MinorStatus"`
	Site           string    `dirac:"Site" json:"Site"`
	Owner          string    `dirac:"Owner" json:"Owner"`
	LastUpdateTime time.Time `dirac:"LastUpdateTime" json:"LastUpdateTime"`
	Tags           []string  `dirac:"Tags" json:"Tags"`
}

// Result is the S_OK structure holding the jobs.
type Result struct {
	OK    bool  `dirac:"OK" json:"OK"`
	Value []Job `dirac:"Value" json:"Value"`
}

var (
	statuses = []string{"Waiting", "Running", "Done", "Failed", "Matched", "Completed", "Stalled"}
	minors   = []string{"Pilot Submission", "Execution Complete", "Job accepted", "Exception", "Input Data", "Stalled"}
	sites    = []string{"LCG.CERN.ch", "LCG.IN2P3.fr", "LCG.RAL.uk", "LCG.CNAF.it", "DIRAC.CI.ch", "LCG.PIC.es"}
	owners   = []string{"atsareg", "fstagni", "chaen", "aldbr", "ciuser", "prod"}
	tags     = []string{"MP", "GPU", "WholeNode", "8CPU", "HighMem", "Test"}
)

// Jobs returns the records; the same every call (fixed seed).
func Jobs() []Job { return JobsN(NumJobs) }

// JobsN returns n records, the first NumJobs of them those of Jobs.
func JobsN(n int) []Job {
	r := rand.New(rand.NewPCG(42, 2024))
	base := time.Date(2024, 10, 17, 13, 41, 46, 0, time.UTC)
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = Job{
			JobID:          int64(56000000 + i*7 + r.IntN(7)),
			Status:         statuses[r.IntN(len(statuses))],
			MinorStatus:    minors[r.IntN(len(minors))],
			Site:           sites[r.IntN(len(sites))],
			Owner:          owners[r.IntN(len(owners))],
			LastUpdateTime: base.Add(-time.Duration(r.IntN(86400*30)) * time.Second),
			Tags:           []string{tags[r.IntN(len(tags))], fmt.Sprintf("g%04d", r.IntN(10000))},
		}
	}
	return jobs
}

// Typed returns the payload as structs.
func Typed() Result { return Result{OK: true, Value: Jobs()} }

// Generic returns the payload in the generic model (as DEncode decodes it):
// an ordered *value.Dict per record, fields in declaration order.
func Generic() *value.Dict { return value.NewDict("OK", true, "Value", Listing(NumJobs)) }

// Listing returns n records in the generic model, as a job-monitoring call
// returns them (50,000 of them are about 10 MB of JSON).
func Listing(n int) []any {
	jobs := JobsN(n)
	list := make([]any, len(jobs))
	for i, j := range jobs {
		list[i] = value.NewDict(
			"JobID", j.JobID,
			"Status", j.Status,
			"MinorStatus", j.MinorStatus,
			"Site", j.Site,
			"Owner", j.Owner,
			"LastUpdateTime", j.LastUpdateTime,
			"Tags", []any{j.Tags[0], j.Tags[1]},
		)
	}
	return list
}

// Configuration returns an n-byte string of base64 text, as large as and
// shaped like DIRAC's getCompressedData answer (a compressed configuration,
// base64-encoded): plain ASCII, nothing to escape. The same every call.
func Configuration(n int) string {
	raw := make([]byte, base64.StdEncoding.DecodedLen(n))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	return base64.StdEncoding.EncodeToString(raw)[:n]
}

// Plain returns the payload as plain Go data (map[string]any, []any, int64,
// string, time.Time), which encoding/json and the DIRAC codecs all accept.
func Plain() map[string]any {
	jobs := Jobs()
	list := make([]any, len(jobs))
	for i, j := range jobs {
		list[i] = map[string]any{
			"JobID":          j.JobID,
			"Status":         j.Status,
			"MinorStatus":    j.MinorStatus,
			"Site":           j.Site,
			"Owner":          j.Owner,
			"LastUpdateTime": j.LastUpdateTime,
			"Tags":           []any{j.Tags[0], j.Tags[1]},
		}
	}
	return map[string]any{"OK": true, "Value": list}
}
