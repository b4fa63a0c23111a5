package loopback

import "testing"

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://127.0.0.1:1/", "http://[::1]:1/", "http://localhost:1/", "http://127.9.9.9/x", "https://127.0.0.1:1/"} {
		if err := CheckURL(u, false); err != nil {
			t.Errorf("CheckURL(%s, false) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{"http://10.1.2.3/export", "http://192.168.0.1:80/", "http://example.com/", "https://10.1.2.3/", "ftp://127.0.0.1/", "://"} {
		if err := CheckURL(u, false); err == nil {
			t.Errorf("CheckURL(%s, false) = nil, want a refusal", u)
		}
	}
	if err := CheckURL("http://10.1.2.3/", true); err != nil {
		t.Errorf("CheckURL(remote, allowed) = %v, want nil", err)
	}
}
