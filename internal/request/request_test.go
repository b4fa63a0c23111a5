package request

import (
	"errors"
	"testing"
)

func TestMethod(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		method string
		body   bool
		want   string
	}{
		{"", false, "GET"},
		{"", true, "POST"},
		{"PUT", true, "PUT"},
		{"DELETE", false, "DELETE"},
	} {
		if got := Method(tt.method, tt.body); got != tt.want {
			t.Errorf("Method(%q, %v) = %q, want %q", tt.method, tt.body, got, tt.want)
		}
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	if err := CheckMethod("FETCH"); err == nil {
		t.Error("CheckMethod(FETCH) = nil, want an error naming the methods")
	}
	for _, m := range append([]string{""}, Methods...) {
		if err := CheckMethod(m); err != nil {
			t.Errorf("CheckMethod(%q) = %v", m, err)
		}
	}
	if n, err := Bodies(true, false, true); n != 2 || !errors.Is(err, ErrBodies) {
		t.Errorf("Bodies(two) = %d, %v; want 2, ErrBodies", n, err)
	}
	if n, err := Bodies(false, true, false); n != 1 || err != nil {
		t.Errorf("Bodies(one) = %d, %v", n, err)
	}
	for m, sends := range map[string]bool{"GET": false, "HEAD": false, "POST": true, "PATCH": true} {
		if err := CheckBodyMethod(m); (err == nil) != sends {
			t.Errorf("CheckBodyMethod(%s) = %v", m, err)
		}
	}
}
