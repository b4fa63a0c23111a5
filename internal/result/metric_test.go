package result

import "testing"

// What one client cost: the target's peak above idle over the level, the
// harness's peak above its start over the connections it opened; 0 where
// a figure is missing.
func TestPerConnection(t *testing.T) {
	t.Parallel()
	run := Run{Concurrency: 1000, PeakRSSBytes: 30 << 20, IdleRSSBytes: 10 << 20,
		Client: Client{Connected: 800, ClientBaseRSSBytes: 6 << 20, ClientPeakRSSBytes: 16 << 20}}
	if got := run.ServerBytesPerClient(); got != float64(20<<20)/1000 {
		t.Errorf("server per client %v", got)
	}
	if got := run.ClientBytesPerConnection(); got != float64(10<<20)/800 {
		t.Errorf("client per connection %v", got)
	}
	run.IdleRSSBytes, run.Connected = 0, 0
	if run.ServerBytesPerClient() != 0 || run.ClientBytesPerConnection() != 0 {
		t.Error("a figure from a missing reading")
	}
}
