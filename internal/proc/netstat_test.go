package proc

import "testing"

func TestParseListen(t *testing.T) {
	t.Parallel()
	in := "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPHPHits TCPMemoryPressures TCPSynRetrans\nTcpExt: 0 28850 28851 7 23 47755\nIpExt: InNoRoutes\nIpExt: 0\n"
	if l, err := parseListen([]byte(in)); err != nil || l.Overflows != 28850 || l.Drops != 28851 || l.MemoryPressures != 23 || l.SynRetrans != 47755 {
		t.Errorf("parseListen = %+v, %v", l, err)
	}
	for _, bad := range []string{"", "TcpExt: ListenOverflows\n", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 1\n", "TcpExt: ListenOverflows ListenDrops\nTcpExt: x 2\n"} {
		if _, err := parseListen([]byte(bad)); err == nil {
			t.Errorf("parseListen(%q) = nil error", bad)
		}
	}
	if _, err := ReadListen(); err != nil {
		t.Errorf("ReadListen here: %v", err)
	}
}

func FuzzParseListen(f *testing.F) {
	f.Add([]byte("TcpExt: ListenOverflows ListenDrops\nTcpExt: 3 4\n"))
	f.Add([]byte("TcpExt: a\nTcpExt: -1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseListen(b)
		if err == nil && (l.Overflows < 0 || l.Drops < 0 || l.MemoryPressures < 0 || l.SynRetrans < 0) {
			t.Errorf("parseListen(%q) = %+v: negative counts", b, l)
		}
	})
}
