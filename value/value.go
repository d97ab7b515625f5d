// Package value is the Go model of DIRAC (Python) values.
//
// The model is lossless for everything DEncode can carry, so that decoding and
// encoding again reproduces the bytes the real DIRAC encoder writes:
//
//	DIRAC            Go (decoding into any)
//	None             nil
//	bool             bool
//	int              int64, or *big.Int beyond 64 bits
//	float            float64
//	str              string (may hold any bytes: DEncode strings are bytes on the wire)
//	bytes            []byte (only JSON keeps bytes apart from str)
//	list             []any
//	tuple            Tuple
//	dict             *Dict (ordered, keys of any hashable kind)
//	datetime         time.Time (UTC; DIRAC datetimes are naive UTC)
//	date             Date
//	time             TimeOfDay
//	JSerializable    *Object (JSON only)
//
// Equal compares two values of this model exactly; NormalizeJSON maps a value to
// what it becomes after a trip through DIRAC's JSON encoding.
package value

import (
	"fmt"
	"time"
)

// Tuple is a Python tuple. DEncode keeps tuples apart from lists; JSON does not.
type Tuple []any

// Date is a Python datetime.date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the calendar date of t in UTC.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{Year: y, Month: m, Day: d}
}

// Time returns midnight UTC of the date.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String formats the date as Python's isoformat does.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// TimeOfDay is a naive Python datetime.time.
type TimeOfDay struct {
	Hour, Minute, Second, Microsecond int
}

// String formats the time as Python's isoformat does.
func (t TimeOfDay) String() string {
	if t.Microsecond != 0 {
		return fmt.Sprintf("%02d:%02d:%02d.%06d", t.Hour, t.Minute, t.Second, t.Microsecond)
	}
	return fmt.Sprintf("%02d:%02d:%02d", t.Hour, t.Minute, t.Second)
}

// Object is an instance of a DIRAC JSerializable class as JEncode writes it:
// {"__dCls": Class, "__dMod": Module, attr: value, ...}. DIRAC instantiates such
// objects on decode; Go keeps their data.
type Object struct {
	Class  string
	Module string
	Attrs  *Dict
}
