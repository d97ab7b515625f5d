//go:build linux

package server

import "syscall"

// loadAvg is what Python's os.getloadavg() gives on Linux: the kernel's
// fixed-point averages (1/65536 steps), e.g. 0.228515625.
func loadAvg() ([3]float64, bool) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return [3]float64{}, false
	}
	var out [3]float64
	for i := range out {
		out[i] = float64(si.Loads[i]) / 65536
	}
	return out, true
}
