//go:build !unix

package benchkit

import "time"

// CPUTime is not available here.
func CPUTime() (time.Duration, bool) { return 0, false }
