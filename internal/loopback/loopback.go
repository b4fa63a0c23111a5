// Package loopback is the harness's one rule for where load may go: to
// 127.0.0.1, ::1 or localhost, and elsewhere only when a scenario opts in.
// The scenario check and the load client both ask it; it sends nothing.
package loopback

import (
	"fmt"
	"net"
	"net/url"
)

// CheckURL refuses any URL whose host is not a loopback address,
// unless allowRemote is set.
func CheckURL(rawURL string, allowRemote bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("url %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q: want http or https", rawURL)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if Host(host) {
		return nil
	}
	return fmt.Errorf("url %q: %q is not a loopback address; load goes only to 127.0.0.1 or ::1 unless remote targets are explicitly allowed", rawURL, host)
}

// Host reports whether host is "localhost" or a loopback IP: where
// load may go without an explicit opt-in.
func Host(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
