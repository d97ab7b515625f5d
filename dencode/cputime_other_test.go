//go:build !unix

package dencode

import "time"

func processCPUTime() (time.Duration, bool) { return 0, false }
