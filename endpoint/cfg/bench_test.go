package cfg

import (
	"fmt"
	"strings"
	"testing"
)

// bigCS is a configuration of the size of a production CS: 40 systems of
// 30 components with a few options each (about 1 MiB).
func bigCS() []byte {
	var b strings.Builder
	b.WriteString("Systems\n{\n")
	for s := range 40 {
		fmt.Fprintf(&b, "  System%d\n  {\n    Production\n    {\n      URLs\n      {\n", s)
		for c := range 30 {
			fmt.Fprintf(&b, "        Comp%d = dips://host%d.example.org:91%02d/System%d/Comp%d\n", c, c%4, c, s, c)
		}
		b.WriteString("      }\n      Services\n      {\n")
		for c := range 30 {
			fmt.Fprintf(&b, "        Comp%d\n        {\n          Port = 91%02d\n          # why\n          Authorization\n          {\n            Default = authenticated\n            getX = NormalUser, ProductionManagement\n          }\n        }\n", c, c)
		}
		b.WriteString("      }\n    }\n  }\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	data := bigCS()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("cs", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkString(b *testing.B) {
	c, err := Parse("cs", bigCS())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_ = c.String()
	}
}

func BenchmarkGet(b *testing.B) {
	c, err := Parse("cs", bigCS())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok := c.Get("/Systems/System39/Production/URLs/Comp29"); !ok {
			b.Fatal("missing")
		}
	}
}
