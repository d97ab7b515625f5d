package failover

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noBackoff(int) time.Duration { return 0 }

func TestDoReachesHealthyURLAndBansFailedOnes(t *testing.T) {
	p, err := New([]string{"a", "b", "c"}, []string{"f"}, Config{Backoff: noBackoff})
	require.NoError(t, err)
	var tried []string
	err = p.Do(context.Background(), func(_ context.Context, url string) error {
		tried = append(tried, url)
		if url == "f" {
			return nil
		}
		return Retryable(errors.New("refused"))
	})
	require.NoError(t, err)
	// Every main URL once, then the failover URL.
	require.Len(t, tried, 4)
	assert.ElementsMatch(t, []string{"a", "b", "c"}, tried[:3])
	assert.Equal(t, "f", tried[3])

	// The bans persist: the next call goes straight to f.
	tried = nil
	require.NoError(t, p.Do(context.Background(), func(_ context.Context, url string) error {
		tried = append(tried, url)
		return nil
	}))
	assert.Equal(t, []string{"f"}, tried)
}

func TestDoStopsOnNonRetryableError(t *testing.T) {
	p, err := New([]string{"a", "b"}, nil, Config{Backoff: noBackoff})
	require.NoError(t, err)
	final := errors.New("sent, then failed")
	calls := 0
	err = p.Do(context.Background(), func(context.Context, string) error { calls++; return final })
	assert.Same(t, final, err)
	assert.Equal(t, 1, calls)
}

func TestDoBoundsAttempts(t *testing.T) {
	p, err := New([]string{"a", "b"}, nil, Config{Backoff: noBackoff})
	require.NoError(t, err)
	calls := 0
	err = p.Do(context.Background(), func(context.Context, string) error {
		calls++
		return Retryable(errors.New("refused"))
	})
	require.ErrorIs(t, err, ErrExhausted)
	assert.Equal(t, 6, calls, "DIRAC: 3 attempts per URL with two URLs")
}

func TestDoHonoursContextDuringBackoff(t *testing.T) {
	p, err := New([]string{"a"}, nil, Config{Backoff: func(int) time.Duration { return time.Hour }})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Do(ctx, func(context.Context, string) error { return Retryable(errors.New("refused")) })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestBansExpire(t *testing.T) {
	now := time.Unix(0, 0)
	p, err := New([]string{"a", "b"}, nil, Config{Backoff: noBackoff, Now: func() time.Time { return now }, BanFor: time.Minute})
	require.NoError(t, err)
	p.ban("a")
	for range 10 {
		assert.Equal(t, "b", p.pick(p.order()))
	}
	now = now.Add(2 * time.Minute)
	seen := map[string]bool{}
	for range 50 {
		seen[p.pick(p.order())] = true
	}
	assert.True(t, seen["a"], "a is back once its ban expired")
}

func TestNewNeedsURL(t *testing.T) {
	_, err := New(nil, nil, Config{})
	require.Error(t, err)
}
