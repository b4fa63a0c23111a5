package k6

import (
	"net/http"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/load"
)

// k6 is told what to send in its environment, as the built-in client
// would send it.
func TestK6RequestEnv(t *testing.T) {
	t.Parallel()
	job := level{Job: load.Job{Options: load.Options{Method: "POST", Header: http.Header{"Authorization": {"Bearer s"}}, Body: load.Body{Data: []byte(`{"rows": 1}`)}}}}
	got := strings.Join(k6RequestEnv(job), "\n")
	for _, want := range []string{"TARGET_METHOD=POST", `TARGET_HEADERS={"Authorization":"Bearer s"}`, `TARGET_BODY={"rows": 1}`} {
		if !strings.Contains(got, want) {
			t.Errorf("k6 env %q lacks %q", got, want)
		}
	}
	if env := k6RequestEnv(level{Job: load.Job{Options: load.Options{Body: load.Body{Size: 8 << 20}}}}); len(env) != 1 || env[0] != "TARGET_BODY_SIZE=8388608" {
		t.Errorf("body_size: %v", env)
	}
}
