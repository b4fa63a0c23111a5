package proc

import (
	"os"
	"testing"
)

func TestParseStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Status
		wantErr bool
	}{
		{"normal", "Name:\tx\nVmPeak:\t 100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n", Status{RSS: 1 << 20, HWM: 2 << 20}, false},
		{"zombie", "Name:\tx\nState:\tZ (zombie)\n", Status{}, true},
		{"garbled", "VmHWM:\tlots kB\nVmRSS:\t1 kB\n", Status{}, true},
		{"wrong unit", "VmHWM:\t1 MB\nVmRSS:\t1 kB\n", Status{}, true},
		{"negative", "VmHWM:\t-1 kB\nVmRSS:\t1 kB\n", Status{}, true},
	}
	for _, tt := range tests {
		got, err := parseStatus([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: parseStatus = %+v, %v; want %+v, err=%v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReadStatusSelf(t *testing.T) {
	t.Parallel()
	st, err := ReadStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS <= 0 || st.HWM < st.RSS {
		t.Errorf("ReadStatus(self) = %+v, want 0 < RSS <= HWM", st)
	}
}

// /proc/PID/status is read for every sample: a garbled or truncated file is
// an error, never a panic or a negative size.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n"))
	f.Add([]byte("VmHWM:\tlots kB\n"))
	f.Add([]byte("VmHWM:\t-1 kB\nVmRSS:\t1 kB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStatus(data)
		if err == nil && (st.RSS < 0 || st.HWM < 0) {
			t.Fatalf("parseStatus(%q) = %+v", data, st)
		}
	})
}
