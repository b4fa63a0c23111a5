package validate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/targets"
)

// export encodes n synthetic rows the way the reference servers do.
func export(t testing.TB, format string, n int64) []byte { return exportWide(t, format, n, 40) }

func exportWide(t testing.TB, format string, n int64, width int) []byte {
	t.Helper()
	f, err := targets.FormatFor(format)
	if err != nil {
		t.Fatal(err)
	}
	src := targets.NewSynthetic()
	b := f.AppendHeader(nil)
	var r targets.Row
	for id := int64(1); id <= n; id++ {
		src.Fill(&r, id, width)
		b = f.AppendRow(b, &r, id == 1)
	}
	return f.AppendTrailer(b)
}

// check runs a Checker over body in pieces of size step.
func check(t testing.TB, kind string, body []byte, step int) (string, int64, string) {
	t.Helper()
	v, err := New(result.BodyCheck(kind), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for len(body) > 0 {
		n := min(step, len(body))
		v.Write(body[:n])
		body = body[n:]
	}
	return v.Finish()
}

func TestValidatorsOnRealExports(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"json", "ndjson", "csv"} {
		for _, n := range []int64{0, 1, 33} {
			body := export(t, kind, n)
			for _, step := range []int{1, 7, 4096} {
				if out, rows, detail := check(t, kind, body, step); out != result.OutcomeOK || rows != n {
					t.Errorf("%s, %d rows, step %d: %s %d rows (%s), want ok with %d rows", kind, n, step, out, rows, detail, n)
				}
			}
			if n == 0 && kind != "json" {
				continue // an empty NDJSON body is complete; CSV needs its header
			}
			// Every proper prefix is incomplete, except that NDJSON and CSV
			// cut at a line end look complete: only a row count can tell.
			for cut := 0; cut < len(body); cut += 1 + len(body)/97 {
				lineEnd := (kind == "ndjson" && cut == 0) || (kind != "json" && cut > 0 && body[cut-1] == '\n')
				if out, _, _ := check(t, kind, body[:cut], 64); out != result.OutcomeTruncated && !lineEnd {
					t.Errorf("%s cut at %d of %d: %s, want truncated", kind, cut, len(body), out)
				}
			}
		}
	}
}

func TestValidatorOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind, body string
		want       string
		rows       int64
	}{
		{"json", `[{"id":1},{"id":2}]`, result.OutcomeOK, 2},
		{"json", " [ ] \n", result.OutcomeOK, 0},
		{"json", `[{"id":1},{"error":"db gone","after":1}]`, result.OutcomeErrorRecord, 1},
		{"json", `[{"id":1,"error":"x"}]`, result.OutcomeOK, 1}, // only a first key "error" marks an error record
		{"json", `[{"errors":1}]`, result.OutcomeOK, 1},
		{"json", `[{"id":1},]`, result.OutcomeInvalid, 1},
		{"json", `[{"id":1}]x`, result.OutcomeInvalid, 1},
		{"json", `[1,2]`, result.OutcomeOK, 2},                                         // any JSON: rows of any kind
		{"json", `[[1,2],[3,4]]`, result.OutcomeOK, 2},                                 // the outermost array's elements
		{"json", `{"id":1}`, result.OutcomeOK, 0},                                      // an object with no array: no rows
		{"json", `{"data":[{"id":1},{"id":2}],"meta":{"n":[9]}}`, result.OutcomeOK, 2}, // the first array not inside another
		{"json", `{"a":[1,2]}`, result.OutcomeOK, 2},
		{"json", `"just a string"`, result.OutcomeOK, 0},
		{"json", `{"data":[{"error":"x"}]}`, result.OutcomeErrorRecord, 0},
		{"json", `[1] [2]`, result.OutcomeInvalid, 1},
		{"json", `[{"a":"\q"}]`, result.OutcomeInvalid, 0},
		{"json", `[{"a":"\u12G4"}]`, result.OutcomeInvalid, 0},
		{"json", "[{\"a\":\"line\nbreak\"}]", result.OutcomeInvalid, 0},
		{"json", `[{"a":tru}]`, result.OutcomeInvalid, 0},
		{"json", `[{"a":[true,false,null,-1.5e3,{"b":{}}]}]`, result.OutcomeOK, 1},
		{"json", `[{"id":1},{"id":2`, result.OutcomeTruncated, 1},
		{"ndjson", "{\"id\":1}\n{\"error\":\"boom\"}\n", result.OutcomeErrorRecord, 1},
		{"ndjson", "{\"id\":1}\n[2]\n", result.OutcomeOK, 2},             // any value a line
		{"ndjson", "{\"id\":1}{\"id\":2}\n3 \"x\"", result.OutcomeOK, 4}, // concatenated documents
		{"ndjson", "{\"id\":1}\n{x}\n", result.OutcomeInvalid, 1},
		{"ndjson", "{\"id\":1}\n{\"id\":", result.OutcomeTruncated, 1},
		{"csv", "id,name\r\n1,a\r\nerror,db gone\r\n", result.OutcomeErrorRecord, 1},
		{"csv", "id,name\r\n1,\"a,\"\"b\"\"\r\nc\"\r\n", result.OutcomeOK, 1},
		{"csv", "id,name\r\n1,a,b\r\n", result.OutcomeInvalid, 0},
		{"csv", "id,name\r\n1,\"a", result.OutcomeTruncated, 0},
		{"csv", "", result.OutcomeTruncated, 0},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 3, 1 << 20} {
			out, rows, detail := check(t, tt.kind, []byte(tt.body), step)
			if out != tt.want || (rows != tt.rows && out != result.OutcomeInvalid) {
				t.Errorf("%s %q (step %d): %s with %d rows (%s), want %s with %d", tt.kind, tt.body, step, out, rows, detail, tt.want, tt.rows)
			}
		}
	}
}

// The checker and encoding/json agree on every input: a body is a whole
// JSON text (ok or error_record) exactly when json.Valid says it is,
// whatever the chunking; and when the body is an array, its rows are
// the array's elements.
func FuzzJSONChecker(f *testing.F) {
	f.Add([]byte(`[{"id":1,"a":[1,{"b":"\u00e9"}]},{"error":"x"}]`), 3)
	f.Add(export(f, "json", 3), 5)
	f.Add([]byte(`[{"a":1e5},{"b":-0.5}]`), 1)
	f.Add([]byte(`{"data":[[1,2],null,"x"],"meta":{"n":true}}`), 2)
	f.Add([]byte(" -0.0e+1 "), 1)
	f.Fuzz(func(t *testing.T, body []byte, step int) {
		step = max(1, step%64)
		out, rows, detail := check(t, "json", body, step)
		if whole, wholeRows, _ := check(t, "json", body, 1<<20); out != whole || rows != wholeRows {
			t.Fatalf("%q: %s with %d rows in pieces of %d, %s with %d whole", body, out, rows, step, whole, wholeRows)
		}
		whole := out == result.OutcomeOK || out == result.OutcomeErrorRecord
		if valid := json.Valid(body); whole != valid {
			t.Fatalf("json.Valid(%q) = %v, the checker: %s (%s)", body, valid, out, detail)
		}
		var elems []json.RawMessage
		if whole && json.Unmarshal(body, &elems) == nil && !bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			var errs int64
			for _, e := range elems {
				var first struct{ Error json.RawMessage }
				if bytes.HasPrefix(bytes.TrimSpace(e), []byte(`{"error"`)) && json.Unmarshal(e, &first) == nil {
					errs++
				}
			}
			if rows+errs != int64(len(elems)) && errs == 0 {
				t.Fatalf("%q: %d rows, the array holds %d", body, rows, len(elems))
			}
		}
	})
}

// NDJSON agrees with encoding/json's stream decoder: one JSON value after
// another, separated by whitespace or not at all.
func FuzzNDJSONChecker(f *testing.F) {
	f.Add([]byte("{\"id\":1}\n{\"id\":2}\n"), 3)
	f.Add([]byte(`{"a":1}[2]"x"3 4`), 1)
	f.Fuzz(func(t *testing.T, body []byte, step int) {
		step = max(1, step%64)
		out, rows, detail := check(t, "ndjson", body, step)
		dec := json.NewDecoder(bytes.NewReader(body))
		var n int64
		var err error
		for {
			var v json.RawMessage
			if err = dec.Decode(&v); err != nil {
				break
			}
			n++
		}
		stream := err == io.EOF
		if whole := out == result.OutcomeOK || out == result.OutcomeErrorRecord; whole != stream {
			t.Fatalf("%q: json.Decoder reads %d values then %v; the checker: %s (%s)", body, n, err, out, detail)
		}
		if stream && out == result.OutcomeOK && rows != n {
			t.Fatalf("%q: json.Decoder reads %d values, the checker %d rows", body, n, rows)
		}
	})
}

// A named rows path finds the array wherever it is: by keys, and by
// indexes into arrays; a path that names no array is a body that is not
// what the scenario says.
func TestRowsPath(t *testing.T) {
	t.Parallel()
	influx := `{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[1,2],[3,4],[5,6]]}]}]}`
	for _, tt := range []struct {
		path, body string
		want       string
		rows       int64
	}{
		{"data", `{"meta":[1,2,3],"data":[{"id":1},{"id":2}]}`, result.OutcomeOK, 2},
		{"results.0.series.0.values", influx, result.OutcomeOK, 3},
		{"results.0.series.0.columns", influx, result.OutcomeOK, 2},
		{"results.1.series", influx, result.OutcomeInvalid, 0},
		{"data", `{"datum":[1],"da\u0074a":[2]}`, result.OutcomeInvalid, 0},
		{"data", `{"data":{"x":[1]}}`, result.OutcomeInvalid, 0},
	} {
		for _, step := range []int{1, 5, 1 << 20} {
			v, _ := New(result.CheckJSON, Options{Rows: tt.path})
			for b := []byte(tt.body); len(b) > 0; b = b[min(step, len(b)):] {
				v.Write(b[:min(step, len(b))])
			}
			if out, rows, detail := v.Finish(); out != tt.want || rows != tt.rows {
				t.Errorf("rows: %s of %s (step %d): %s with %d rows (%s), want %s with %d", tt.path, tt.body, step, out, rows, detail, tt.want, tt.rows)
			}
		}
	}
}

// A body broken at a known byte names that byte, what was wanted there and
// the bytes around it, control bytes escaped.
func TestInvalidSaysWhere(t *testing.T) {
	t.Parallel()
	body := []byte(`[{"id":1},{"id":2}` + "\x01" + `,{"id":3}]`)
	for _, step := range []int{1, 7, 1 << 20} {
		out, _, detail := check(t, "json", body, step)
		if out != result.OutcomeInvalid || !strings.HasPrefix(detail, "byte 18: want ',' or ']', got '\\x01' near ") || !strings.Contains(detail, `"\"id\":1},{\"id\":2}"[\x01]`) {
			t.Errorf("step %d: %s: %s", step, out, detail)
		}
	}
}

// A CSV says where too: the byte its bad record, first error record or
// cut begins at, however the body is cut into writes.
func TestCSVSaysWhere(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ body, want, detail string }{
		{"id,v\n1,a\n2,b,c\n3,d\n", result.OutcomeInvalid, "byte 9: record 2 has 3 fields, the header 2"},
		{"id,v\n1,a\nerror,oops\n", result.OutcomeErrorRecord, "byte 9: record 2 is an error record"},
		{"id,v\n1,a\n2,\"b", result.OutcomeTruncated, "the body ended at byte 13 inside record 2 (it began at byte 9)"},
	} {
		for _, step := range []int{1, 3, 1 << 20} {
			if out, _, detail := check(t, "csv", []byte(tt.body), step); out != tt.want || detail != tt.detail {
				t.Errorf("%q (step %d): %s (%s), want %s (%s)", tt.body, step, out, detail, tt.want, tt.detail)
			}
		}
	}
}

// Any CSV encoding/csv writes — quotes, commas, line breaks in fields — is
// read as the same number of rows by the checker, however the body is cut;
// and on any input at all, the verdict does not depend on the cuts (the
// checker skips ahead inside fields, where a bug would show as a cut that
// changes the answer).
func FuzzCSVChecker(f *testing.F) {
	f.Add([]byte("a,b\n\"x\"\"y\",z\r\n"), 3, uint8(3))
	f.Add(export(f, "csv", 3), 5, uint8(5))
	f.Add([]byte("error,\",\"\n\r"), 1, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, step int, fields uint8) {
		step = max(1, step%64)
		whole, wholeRows, _ := check(t, "csv", data, 1<<20)
		if out, rows, _ := check(t, "csv", data, step); out != whole || rows != wholeRows {
			t.Fatalf("%q: %s with %d rows in pieces of %d, %s with %d whole", data, out, rows, step, whole, wholeRows)
		}

		// Records from data: fields split at 0xff bytes, k fields a record.
		k := int(fields%4) + 1
		parts := bytes.Split(data, []byte{0xff})
		var records [][]string
		header := make([]string, k)
		for i := range header {
			header[i] = fmt.Sprintf("h%d", i)
		}
		records = append(records, header)
		for i := 0; i+k <= len(parts); i += k {
			rec := make([]string, k)
			for j := range rec {
				rec[j] = string(parts[i+j])
			}
			if rec[0] == "error" || (k == 1 && rec[0] == "") {
				continue // an error record, or a blank line encoding/csv would skip
			}
			records = append(records, rec)
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.UseCRLF = true
		if err := w.WriteAll(records); err != nil {
			return
		}
		// What encoding/csv reads back is the truth (the writer drops a
		// lone CR, so "error\r" comes back as an error record).
		back, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv cannot read what it wrote: %v", err)
		}
		var want int64
		for _, rec := range back[1:] {
			if rec[0] != "error" {
				want++
			}
		}
		if out, rows, detail := check(t, "csv", b.Bytes(), step); (out != result.OutcomeOK && out != result.OutcomeErrorRecord) || rows != want {
			t.Fatalf("encoding/csv reads %d rows from %q; checker: %s with %d rows (%s)", want, b.Bytes(), out, rows, detail)
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	for _, kind := range []string{"json", "ndjson", "csv"} {
		body := exportWide(b, kind, 5000, 2000) // the bench-client body, ~10.6 MB
		b.Run(kind, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				v, _ := New(result.BodyCheck(kind), Options{CheckIDs: true})
				for off := 0; off < len(body); off += 32 << 10 {
					v.Write(body[off:min(off+32<<10, len(body))])
				}
				if out, _, _ := v.Finish(); out != result.OutcomeOK {
					b.Fatal(out)
				}
			}
		})
	}
}

func TestIDGapIsCaught(t *testing.T) {
	t.Parallel()
	for kind, body := range map[result.BodyCheck]string{
		"json":   `[{"id":1},{"id":2},{"id":4}]`,
		"ndjson": "{\"id\":1}\n{\"id\":1}\n",
		"csv":    "id,x\r\n1,a\r\n3,b\r\n",
	} {
		v, _ := New(kind, Options{CheckIDs: true})
		v.Write([]byte(body))
		if out, _, detail := v.Finish(); out != result.OutcomeIDGap {
			t.Errorf("%s %q: %s (%s), want %s", kind, body, out, detail, result.OutcomeIDGap)
		}
		v, _ = New(kind, Options{}) // without resume, ids are not checked
		v.Write([]byte(body))
		if out, _, _ := v.Finish(); out != result.OutcomeOK {
			t.Errorf("%s %q without id checks: %s", kind, body, out)
		}
	}
	v, _ := New("json", Options{Since: 41, CheckIDs: true})
	v.Write([]byte(`[{"id":42,"a":[1,{"id":7}]},{"id":43}]`))
	if out, rows, _ := v.Finish(); out != result.OutcomeOK || rows != 2 || v.LastID() != 43 {
		t.Errorf("ids after since=41: %s, %d rows, last %d", out, rows, v.LastID())
	}
}
