//go:build unix

package server

import "syscall"

// processTimes is Python's os.times() for the process and its children.
func processTimes() cpuTimes {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	sec := func(t syscall.Timeval) float64 { return round2(float64(t.Sec) + float64(t.Usec)/1e6) }
	return cpuTimes{
		user: sec(self.Utime), system: sec(self.Stime),
		childUser: sec(children.Utime), childSystem: sec(children.Stime),
	}
}
