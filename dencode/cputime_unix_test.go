//go:build unix

package dencode

import (
	"syscall"
	"time"
)

// processCPUTime is the CPU time used by the whole process (every thread,
// garbage collector included), used to report cpu-ns/op next to wall time:
// on a shared machine it is far steadier than ns/op.
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
