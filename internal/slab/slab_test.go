package slab

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTakeCutsDisjointSlices(t *testing.T) {
	s := Slab[int]{Min: 4, Max: 64}
	a, b := s.Take(3), s.Take(3)
	a[0], b[0] = 1, 2
	a = append(a, 9) // capacity 3: must not overwrite b
	assert.Equal(t, []int{2, 0, 0}, b)
	assert.Equal(t, 3, cap(b))
	big := s.Take(17) // over Max/4: its own allocation
	assert.Len(t, big, 17)
	*s.One() = 5
	assert.Equal(t, []int{1, 0, 0, 9}, a)
}
