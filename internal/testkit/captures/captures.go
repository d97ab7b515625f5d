// Package captures reads the DISET conversations recorded against DIRAC in
// ../shared/captures, for replay tests: one .jsonl file per capture, split
// into connections and frames.
package captures

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/diracgo/diracrpc/internal/frame"
)

// Frame is one DISET frame of a capture.
type Frame struct {
	Payload   []byte
	KeepAlive bool
	Bytes     []byte // the frame as on the wire
}

// Conversation is one connection of a capture: the frames of each direction.
type Conversation struct {
	N   int
	C2S []Frame
	S2C []Frame
}

// Dir returns ../shared/captures relative to the module root.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "captures")
}

// Load reads a DISET .jsonl capture ({"conn", "dir", "hex"} per line)
// and splits each direction of each connection into frames.
func Load(path string) ([]Conversation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type key struct {
		conn int
		dir  string
	}
	streams := map[key][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			Conn int    `json:"conn"`
			Dir  string `json:"dir"`
			Hex  string `json:"hex"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		b, err := hex.DecodeString(line.Hex)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		k := key{line.Conn, line.Dir}
		streams[k] = append(streams[k], b...)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	conns := map[int]*Conversation{}
	for k, data := range streams {
		c := conns[k.conn]
		if c == nil {
			c = &Conversation{N: k.conn}
			conns[k.conn] = c
		}
		frames, err := split(data)
		if err != nil {
			return nil, fmt.Errorf("%s: conn %d %s: %w", path, k.conn, k.dir, err)
		}
		switch k.dir {
		case "c2s":
			c.C2S = frames
		case "s2c":
			c.S2C = frames
		default:
			return nil, fmt.Errorf("%s: unknown direction %q", path, k.dir)
		}
	}
	out := make([]Conversation, 0, len(conns))
	for _, c := range conns {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N < out[j].N })
	return out, nil
}

func split(data []byte) ([]Frame, error) {
	r := frame.NewReader(bytes.NewReader(data))
	var out []Frame
	for {
		p, ka, err := r.Next(0)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		p = bytes.Clone(p)
		out = append(out, Frame{Payload: p, KeepAlive: ka, Bytes: frame.Append(nil, p, ka)})
	}
}
