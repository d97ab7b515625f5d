package faults

import (
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer serves ln: each connection gets its first line back.
func echoServer(t *testing.T, ln net.Listener) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 64)
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				_, _ = c.Write(buf[:n])
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
}

func echo(addr string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping")); err != nil {
		return "", err
	}
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	return string(buf), err
}

func TestListenerFaults(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	plan := NewPlan(1).
		Add(Nth(1), Fault{Kind: Refuse}).
		Add(Nth(2), Fault{Kind: Hang}).
		Add(Nth(3), Fault{Kind: DelayAccept, Delay: 20 * time.Millisecond}).
		Add(Nth(4), Fault{Kind: DelayHandshake, Delay: 20 * time.Millisecond}).
		Add(Every(), Fault{Kind: DropAfterRequest}) // call-level: ignored by a Listener
	ln := Listen(inner, plan)
	echoServer(t, ln)
	addr := ln.Addr().String()

	_, err = echo(addr, time.Second)
	require.Error(t, err, "refused")
	assert.False(t, os.IsTimeout(err), "%v", err)

	_, err = echo(addr, 100*time.Millisecond)
	require.Error(t, err, "hung")
	assert.True(t, os.IsTimeout(err), "%v", err)

	for range 2 {
		start := time.Now()
		got, err := echo(addr, 2*time.Second)
		require.NoError(t, err)
		assert.Equal(t, "ping", got)
		assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	}
	got, err := echo(addr, 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "ping", got)

	s := ln.Stats()
	assert.EqualValues(t, 5, s.Conns)
	assert.Equal(t, map[Kind]int64{Refuse: 1, Hang: 1, DelayAccept: 1, DelayHandshake: 1}, s.Faults)
}

func TestListenerCloseEndsDelay(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := Listen(inner, NewPlan(1).Add(Every(), Fault{Kind: DelayAccept, Delay: time.Hour}))
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	// Accept is now waiting for the connection or inside the delay; Close
	// ends both.
	require.NoError(t, ln.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}

func TestPlanRules(t *testing.T) {
	p := NewPlan(7).
		Add(Nth(2, 4), Fault{Kind: Garbage}).
		Add(FirstN(1), Fault{Kind: Refuse}).
		Add(After(5), Fault{Kind: Hang})
	var calls, conns []Kind
	for range 7 {
		_, f := p.nextCall()
		calls = append(calls, f.Kind)
		_, f = p.nextConn()
		conns = append(conns, f.Kind)
	}
	assert.Equal(t, []Kind{None, Garbage, None, Garbage, None, None, None}, calls)
	assert.Equal(t, []Kind{Refuse, None, None, None, None, Hang, Hang}, conns)
	p.Clear()
	n, f := p.nextCall()
	assert.Equal(t, 8, n)
	assert.Equal(t, None, f.Kind)

	var nilPlan *Plan
	_, f = nilPlan.nextCall()
	assert.Equal(t, None, f.Kind)

	// Chance is reproducible for a seed and close to its probability.
	draw := func(seed uint64) []bool {
		p := NewPlan(seed).Add(Chance(0.3), Fault{Kind: ResetMidFrame})
		out := make([]bool, 1000)
		for i := range out {
			_, f := p.nextCall()
			out[i] = f.Kind == ResetMidFrame
		}
		return out
	}
	a, b := draw(42), draw(42)
	assert.Equal(t, a, b)
	hits := 0
	for _, x := range a {
		if x {
			hits++
		}
	}
	assert.InDelta(t, 300, hits, 60)
	assert.NotEqual(t, a, draw(43))
	assert.Equal(t, "ResetMidFrame", ResetMidFrame.String())
	assert.Equal(t, "Kind(99)", Kind(99).String())
}

// TestListenerDelayEndsWhenClientLeaves: the server's read in a delayed
// connection returns as soon as the client goes away, and the bytes that
// arrived during the delay are not lost.
func TestListenerDelayEndsWhenClientLeaves(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := Listen(inner, NewPlan(1).Add(Every(), Fault{Kind: DelayHandshake, Delay: time.Hour}))
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	sc, err := ln.Accept()
	require.NoError(t, err)
	defer sc.Close()
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := sc.Read(make([]byte, 10))
		done <- err
	}()
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("server read still delayed after the client left")
	}

	// A short delay keeps every byte and the server's own deadline.
	ln2 := Listen(mustListen(t), NewPlan(1).Add(Every(), Fault{Kind: DelayHandshake, Delay: 10 * time.Millisecond}))
	defer ln2.Close()
	c2, err := net.Dial("tcp", ln2.Addr().String())
	require.NoError(t, err)
	defer c2.Close()
	sc2, err := ln2.Accept()
	require.NoError(t, err)
	defer sc2.Close()
	require.NoError(t, sc2.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c2.Write([]byte("hello world"))
	require.NoError(t, err)
	got, err := io.ReadAll(io.LimitReader(sc2, 11))
	require.NoError(t, err)
	assert.Equal(t, "hello world", string(got))
	require.NoError(t, sc2.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = sc2.Read(make([]byte, 1))
	assert.True(t, os.IsTimeout(err), "the server's deadline still applies: %v", err)
}

func mustListen(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}
