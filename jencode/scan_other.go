//go:build !amd64 || purego

package jencode

// Without AVX2 (another architecture, or the purego build tag), long texts
// are scanned by the word loop alone.
const useWideScan = false

func scanPlainAVX2(p *byte, n int, hi byte) int { return 0 }
