package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bytes is a count of bytes that reads "512MiB", "64KiB", "1.5GiB", "4MB" or
// plain "1048576". Binary suffixes (KiB, MiB, GiB, TiB) are powers of 1024,
// decimal ones (kB/KB, MB, GB, TB) powers of 1000, and "B" is a byte. The zero
// value is zero bytes.
type Bytes int64

var suffixes = []struct {
	name string
	mult float64
}{
	// Longest first so "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes reads a size. Negative sizes, fractions of a byte, unknown
// suffixes and sizes past int64 are errors.
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size")
	}
	mult := 1.0
	num := t
	for _, suf := range suffixes {
		if strings.HasSuffix(t, suf.name) {
			mult = suf.mult
			num = strings.TrimSpace(strings.TrimSuffix(t, suf.name))
			break
		}
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil && mult == 1 {
		if n < 0 {
			return 0, fmt.Errorf("size %q is negative", s)
		}
		return Bytes(n), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("size %q: want a number with an optional KiB, MiB, GiB, TiB, kB, MB, GB, TB or B suffix", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("size %q is negative", s)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return Bytes(v), nil
}

// String prints the size the way people read it: the largest binary unit
// that keeps at least one whole unit, with up to two decimals.
func (b Bytes) String() string {
	n := int64(b)
	abs := n
	if abs < 0 {
		abs = -abs
	}
	units := []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if abs >= u.size {
			v := strconv.FormatFloat(float64(n)/float64(u.size), 'f', 2, 64)
			return strings.TrimSuffix(strings.TrimRight(v, "0"), ".") + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// Set implements flag.Value.
func (b *Bytes) Set(s string) error {
	v, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalText lets a size appear as a YAML or JSON string.
func (b *Bytes) UnmarshalText(text []byte) error { return b.Set(string(text)) }

// MarshalText prints the size in the form ParseBytes reads back exactly.
func (b Bytes) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }

// MiB is n bytes in mebibytes, the unit every memory figure is shown in.
func MiB[T int64 | float64](n T) float64 { return float64(n) / (1 << 20) }
