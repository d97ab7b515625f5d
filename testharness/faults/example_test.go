package faults_test

import (
	"bufio"
	"fmt"
	"net"
	"time"

	"github.com/diracgo/diracrpc/testharness/faults"
)

// A proxy in front of a line-echo server refuses the first connection and
// lets the next one through; its counters tell what happened.
func ExampleStartProxy() {
	backend, _ := net.Listen("tcp", "127.0.0.1:0")
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			_, _ = c.Write([]byte(line))
			_ = c.Close()
		}
	}()

	plan := faults.NewPlan(1).Add(faults.Nth(1), faults.Fault{Kind: faults.Refuse})
	p, err := faults.StartProxy(faults.ProxyConfig{Target: backend.Addr().String(), Plan: plan})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	call := func() (string, error) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return "", err // a reset can already fail the dial
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("hello\n")); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	for i := 1; i <= 2; i++ {
		line, err := call()
		fmt.Printf("connection %d: %q, failed: %v\n", i, line, err != nil)
	}
	s := p.Stats()
	fmt.Println("connections:", s.Conns, "refused:", s.Faults[faults.Refuse])
	// Output:
	// connection 1: "", failed: true
	// connection 2: "hello\n", failed: false
	// connections: 2 refused: 1
}
