package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/result"
)

// secretIn names the files under dir that hold secret.
func secretIn(t *testing.T, dir, secret string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secret)) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// Requests as curl says them, against the reference server: a header from
// the environment reaches the server and is written nowhere; bad input is
// exit 2 naming the flag or the key.
func TestRequestFlagsAndSecrets(t *testing.T) {
	t.Parallel()
	const token = "tok-3d9a-never-written"
	out := t.TempDir()
	code, stdout, stderr := harnessRunEnv(t, []string{"FLOOD_TOKEN=" + token}, "run", "--cmd", "harness serve --impl streamed --port {port}",
		"--path", "/export?rows=200", "-H", "X-Api-Key: ${FLOOD_TOKEN}", "--levels", "2", "--duration", "1s", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := secretIn(t, out, token); len(got) > 0 || strings.Contains(stdout+stderr, token) {
		t.Errorf("the token is in %v (or the console)", got)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "scenario.yaml")); !strings.Contains(string(b), `X-Api-Key: "${FLOOD_TOKEN}"`) {
		t.Errorf("scenario.yaml does not keep the reference:\n%s", b)
	}
	dir := t.TempDir()
	bad := func(name, yaml string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("name: r\nlevels: [1]\ntargets:\n  - {name: a, command: [harness, serve, --port, \"{port}\"]}\n"+yaml), 0o644)
		return p
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown method", []string{bad("m.yaml", "request: {method: FETCH}")}, "m.yaml:5: request.method: want one of GET"},
		{"two bodies", []string{bad("b.yaml", "request: {body: x, body_size: 1MiB}")}, "b.yaml:5: request.body: give at most one of body"},
		{"missing body file", []string{bad("f.yaml", "request: {body_file: nope.json}")}, "f.yaml:5: request.body_file: stat " + filepath.Join(dir, "nope.json")},
		{"a header with a newline", []string{bad("h.yaml", "request:\n  headers: {X-A: \"a\\nb\"}")}, "h.yaml:6: request.headers.X-A: header X-A: the value holds a newline"},
		{"an unset variable", []string{bad("e.yaml", "request:\n  headers: {Authorization: \"Bearer ${FLOOD_UNSET_9}\"}")}, "e.yaml:6: request.headers.Authorization: ${FLOOD_UNSET_9} is not set"},
		{"a header flag without a colon", []string{"scenarios/quick.yaml", "-H", "Authorization Bearer x"}, "--header (request.headers): \"Authorization Bearer x\": want 'Name: value'"},
		{"a GET with a body", []string{"scenarios/quick.yaml", "-X", "GET", "--body", "x"}, "--method (request.method): GET sends no body"},
	} {
		code, _, stderr := harnessRunEnv(t, nil, append([]string{"run", "--out", filepath.Join(dir, "out")}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, want 2 saying %q:\n%s", tt.name, code, tt.want, stderr)
		}
	}
}

// The upload story: 16 slow 8 MiB uploads, every answer checked against
// what was sent; the server that reads each body whole holds them all,
// the one that hashes as they arrive stays flat.
func TestUploadStory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, stdout, stderr := harnessRun(t, "run", "--out", dir, "--levels", "1,16", "scenarios/uploads.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Log("\n" + stdout)
	r := readResults(t, dir)
	buf, str := only(t, r, "buffered", 16), only(t, r, "streamed", 16)
	for _, run := range []result.Run{buf, str} {
		if run.OK != 16 || run.Failed != 0 {
			t.Errorf("%s c=16: %d ok, %d failed %v: want every upload to arrive whole", run.Target, run.OK, run.Failed, run.Errors)
		}
	}
	if buf.PeakRSSBytes < 5*str.PeakRSSBytes {
		t.Errorf("buffered upload peak %.1f MiB < 5 × streamed %.1f MiB at 16 uploads", mib(buf.PeakRSSBytes), mib(str.PeakRSSBytes))
	}
}

// A weighted mix: every run records each request's figures, which add up
// to its totals, and the summary and report show them.
func TestWeightedMix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "mix.yaml")
	os.WriteFile(file, []byte(`name: mix
levels: [4]
duration: 2s
request: {validate: json}
requests:
  - {name: small, weight: 9, path: "/export?rows=20"}
  - {name: large, weight: 1, path: "/export?rows=2000&width=500"}
targets:
  - {name: streamed, command: [harness, serve, --impl, streamed, --port, "{port}"]}
`), 0o644)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := harnessRun(t, "run", "--out", out, file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	run := only(t, readResults(t, out), "streamed", 4)
	small, large := run.ByRequest["small"], run.ByRequest["large"]
	if len(run.ByRequest) != 2 || small.Requests+large.Requests != run.Requests || small.OK+large.OK != run.OK ||
		small.BytesReceived+large.BytesReceived != run.BytesReceived || small.Failed+large.Failed != run.Failed {
		t.Errorf("by request %+v do not add up to the run's %d requests, %d ok, %d bytes", run.ByRequest, run.Requests, run.OK, run.BytesReceived)
	}
	// 9 to 1 by weight, with wide margins: small ones are most, and each
	// large body is far bigger.
	if small.OK < 2*large.OK || large.OK == 0 || large.BytesReceived/large.OK < 20*(small.BytesReceived/small.OK) {
		t.Errorf("small %+v, large %+v: not the mix asked for", small, large)
	}
	for _, f := range []string{"summary.md", "report.html"} {
		if b, _ := os.ReadFile(filepath.Join(out, f)); !strings.Contains(string(b), "By request") || !strings.Contains(string(b), "large") {
			t.Errorf("%s does not show the requests of the mix", f)
		}
	}
	os.WriteFile(file, []byte("name: mix\nlevels: [1]\nrequest: {path: /x}\nrequests:\n  - {name: a, weight: 0, path: /a}\ntargets:\n  - {name: s, command: [harness, serve, --port, \"{port}\"]}\n"), 0o644)
	code, _, stderr = harnessRun(t, "run", "--out", out+"2", file)
	if code != 2 || !strings.Contains(stderr, file+":3: request.path: a requests: mix") || !strings.Contains(stderr, file+":5: requests[0].weight: want a weight above 0") {
		t.Errorf("bad mix: exit %d\n%s", code, stderr)
	}
}

// HTTPS and HTTP/2 targets: a certificate checked against the scenario's
// CA, h2 by ALPN, h2c by prior knowledge, each answered in the protocol
// asked for; an unchecked certificate is refused off loopback.
func TestHTTPSAndHTTP2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key, err := harnesstest.SelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct{ http, tls, proto string }{
		{"1.1", "tls: {ca: cert.pem}", "HTTP/1.1"},
		{"2", "tls: {ca: cert.pem}", "HTTP/2.0"},
		{"2", "tls: {insecure: true}", "HTTP/2.0"},
		{"h2c", "", "HTTP/2.0"},
	} {
		serve := `[harness, serve, --impl, streamed, --port, "{port}", --cert, ` + cert + `, --key, ` + key + `]`
		if tt.http == "h2c" {
			serve = `[harness, serve, --impl, streamed, --port, "{port}", --h2c]`
		}
		file := filepath.Join(dir, "s-"+tt.http+".yaml")
		yaml := "name: tls\nlevels: [4]\nduration: 1s\nrequest: {path: \"/export?rows=500\", validate: json}\nclient: {http: \"" + tt.http + "\"}\n" +
			"targets:\n  - name: streamed\n    command: " + serve + "\n"
		if tt.tls != "" {
			yaml += "    " + tt.tls + "\n"
		}
		os.WriteFile(file, []byte(yaml), 0o644)
		out := filepath.Join(dir, fmt.Sprintf("run%d", i))
		code, stdout, stderr := harnessRun(t, "run", "--out", out, file)
		if code != 0 {
			t.Errorf("http %s %s: exit %d\n%s\n%s", tt.http, tt.tls, code, stdout, stderr)
			continue
		}
		run := only(t, readResults(t, out), "streamed", 4)
		if run.OK == 0 || run.Failed != 0 || run.Protocol != tt.proto {
			t.Errorf("http %s %s: %d ok, %d failed %v, protocol %q; want %s", tt.http, tt.tls, run.OK, run.Failed, run.Errors, run.Protocol, tt.proto)
		}
	}
	file := filepath.Join(dir, "remote.yaml")
	os.WriteFile(file, []byte("name: r\nlevels: [1]\nallow_remote: true\ntargets:\n  - {name: a, host: 10.1.2.3, command: [x, \"{port}\"], tls: {insecure: true}}\n"), 0o644)
	if code, _, stderr := harnessRun(t, "run", "--out", filepath.Join(dir, "o"), file); code != 2 || !strings.Contains(stderr, "targets[0].tls.insecure: an unchecked certificate only on loopback") {
		t.Errorf("insecure off loopback: exit %d\n%s", code, stderr)
	}
}
