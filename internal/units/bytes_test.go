package units

import (
	"flag"
	"testing"
)

func TestParseBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Bytes
		wantErr bool
	}{
		{"0", 0, false},
		{"1048576", 1 << 20, false},
		{"64KiB", 64 << 10, false},
		{"512MiB", 512 << 20, false},
		{"1.5GiB", 3 << 29, false},
		{"2TiB", 2 << 40, false},
		{"4MB", 4e6, false},
		{"4kB", 4000, false},
		{"10B", 10, false},
		{" 8 MiB ", 8 << 20, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"-1KiB", 0, true},
		{"1.5", 0, true},
		{"0.1B", 0, true},
		{"12XB", 0, true},
		{"1e30GiB", 0, true},
		{"NaNMiB", 0, true},
		{"InfGiB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseBytes(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestBytesString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   Bytes
		want string
	}{
		{0, "0B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1536, "1.5KiB"},
		{512 << 20, "512MiB"},
		{262 << 20, "262MiB"},
		{3 << 29, "1.5GiB"},
		{-(64 << 20), "-64MiB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Bytes(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestBytesFlag(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var b Bytes
	fs.Var(&b, "budget", "")
	if err := fs.Parse([]string{"--budget", "64MiB"}); err != nil {
		t.Fatal(err)
	}
	if b != 64<<20 {
		t.Errorf("--budget 64MiB = %d, want %d", b, 64<<20)
	}
	if err := fs.Parse([]string{"--budget", "lots"}); err == nil {
		t.Error("--budget lots: want an error")
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"64MiB", "1.5GiB", "0", "-1", "1e3KB", "9223372036854775807", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBytes(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseBytes(%q) = %d, negative", s, b)
		}
		// What MarshalText prints must read back to the same value.
		text, _ := b.MarshalText()
		back, err := ParseBytes(string(text))
		if err != nil || back != b {
			t.Fatalf("round trip of %q: %q -> %d, %v", s, text, back, err)
		}
	})
}
