package testkit

import (
	"context"
	"time"
)

// DeadlineOnSignal returns a context whose deadline passes when signal
// delivers (or is closed), or at the latest after a minute: a test's call
// then times out at a point of the test's choosing (the server holds the
// request) rather than at a time a loaded machine may not keep. Its Err is
// context.DeadlineExceeded once done, as for a deadline.
func DeadlineOnSignal(signal <-chan struct{}) context.Context {
	c := &signalDeadline{Context: context.Background(), done: make(chan struct{})}
	go func() {
		select {
		case <-signal:
		case <-time.After(time.Minute):
		}
		close(c.done)
	}()
	return c
}

type signalDeadline struct {
	context.Context
	done chan struct{}
}

func (c *signalDeadline) Done() <-chan struct{} { return c.done }

func (c *signalDeadline) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
