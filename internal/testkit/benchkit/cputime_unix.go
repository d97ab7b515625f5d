//go:build unix

package benchkit

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time used by the whole process (every thread, garbage
// collector included): on a shared machine it is far steadier than wall time.
func CPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
