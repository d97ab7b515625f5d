// Package testkit and the packages below it are for tests only: readers of
// the shared golden data (vectors, captures), the decoders' benchmark payload
// and shared guarantees (benchdata, decodertest), and the reliability suite.
// They may import testing; nothing outside internal/testkit may import them
// (see README, Layout).
package testkit
