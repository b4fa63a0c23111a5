package validate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
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
	v, err := New(result.BodyCheck(kind), 0, false)
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
		{"json", `[1,2]`, result.OutcomeInvalid, 0},
		{"json", `{"id":1}`, result.OutcomeInvalid, 0},
		{"json", `[{"a":"\q"}]`, result.OutcomeInvalid, 0},
		{"json", `[{"a":"\u12G4"}]`, result.OutcomeInvalid, 0},
		{"json", "[{\"a\":\"line\nbreak\"}]", result.OutcomeInvalid, 0},
		{"json", `[{"a":tru}]`, result.OutcomeInvalid, 0},
		{"json", `[{"a":[true,false,null,-1.5e3,{"b":{}}]}]`, result.OutcomeOK, 1},
		{"json", `[{"id":1},{"id":2`, result.OutcomeTruncated, 1},
		{"ndjson", "{\"id\":1}\n{\"error\":\"boom\"}\n", result.OutcomeErrorRecord, 1},
		{"ndjson", "{\"id\":1}\n[2]\n", result.OutcomeInvalid, 1},
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

// The checker must agree with encoding/json on what is valid, whatever the
// chunking, for bodies shaped as arrays of objects.
func FuzzJSONChecker(f *testing.F) {
	f.Add([]byte(`[{"id":1,"a":[1,{"b":"\u00e9"}]},{"error":"x"}]`), 3)
	f.Add(export(f, "json", 3), 5)
	f.Add([]byte(`[{"a":1e5},{"b":-0.5}]`), 1)
	f.Fuzz(func(t *testing.T, body []byte, step int) {
		step = max(1, step%64)
		out, rows, _ := check(t, "json", body, step)
		if whole, wholeRows, _ := check(t, "json", body, 1<<20); out != whole || rows != wholeRows {
			t.Fatalf("%q: %s with %d rows in pieces of %d, %s with %d whole", body, out, rows, step, whole, wholeRows)
		}
		var objs []map[string]json.RawMessage
		valid := json.Valid(body) && json.Unmarshal(body, &objs) == nil && bytes.HasPrefix(bytes.TrimLeft(body, ws), []byte("[")) && !bytes.Contains(body, []byte("null"))
		if valid && out != result.OutcomeOK && out != result.OutcomeErrorRecord {
			t.Fatalf("checker says %s for valid %q", out, body)
		}
		if !json.Valid(body) && (out == result.OutcomeOK || out == result.OutcomeErrorRecord) {
			t.Fatalf("checker says %s for invalid %q", out, body)
		}
	})
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
				v, _ := New(result.BodyCheck(kind), 0, true)
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
		v, _ := New(kind, 0, true)
		v.Write([]byte(body))
		if out, _, detail := v.Finish(); out != result.OutcomeIDGap {
			t.Errorf("%s %q: %s (%s), want %s", kind, body, out, detail, result.OutcomeIDGap)
		}
		v, _ = New(kind, 0, false) // without resume, ids are not checked
		v.Write([]byte(body))
		if out, _, _ := v.Finish(); out != result.OutcomeOK {
			t.Errorf("%s %q without id checks: %s", kind, body, out)
		}
	}
	v, _ := New("json", 41, true)
	v.Write([]byte(`[{"id":42,"a":[1,{"id":7}]},{"id":43}]`))
	if out, rows, _ := v.Finish(); out != result.OutcomeOK || rows != 2 || v.LastID() != 43 {
		t.Errorf("ids after since=41: %s, %d rows, last %d", out, rows, v.LastID())
	}
}
