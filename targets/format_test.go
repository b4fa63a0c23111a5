package targets

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// syntheticRows returns rows since < id <= n of width w, as a client should
// see them after decoding.
func syntheticRows(since, n int64, w int) []Row {
	s := NewSynthetic()
	rows := []Row{}
	for id := since + 1; id <= n; id++ {
		var r Row
		s.Fill(&r, id, w)
		rows = append(rows, r)
	}
	return rows
}

// encodeStreamed encodes rows the way the streamed impl does.
func encodeStreamed(f Format, rows []Row) []byte {
	b := f.AppendHeader(nil)
	for i := range rows {
		b = f.AppendRow(b, &rows[i], i == 0)
	}
	return f.AppendTrailer(b)
}

// decodeRows parses a whole export body back into rows.
func decodeRows(format string, body []byte) ([]Row, error) {
	rows := []Row{}
	switch format {
	case "json":
		err := json.Unmarshal(body, &rows)
		return rows, err
	case "ndjson":
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r Row
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return nil, fmt.Errorf("line %d: %w", len(rows)+1, err)
			}
			rows = append(rows, r)
		}
		return rows, sc.Err()
	case "csv":
		cr := csv.NewReader(bytes.NewReader(body))
		header, err := cr.Read()
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		if !cmp.Equal(header, csvHeader) {
			return nil, fmt.Errorf("header = %q, want %q", header, csvHeader)
		}
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return rows, nil
			}
			if err != nil {
				return nil, err
			}
			id, err := strconv.ParseInt(rec[0], 10, 64)
			if err != nil {
				return nil, err
			}
			r := Row{ID: id, Name: rec[1], Note: rec[2], Payload: rec[4]}
			if err := r.Blob.UnmarshalText([]byte(rec[3])); err != nil {
				return nil, err
			}
			rows = append(rows, r)
		}
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

func TestStreamedEncodingMatchesStdlib(t *testing.T) {
	t.Parallel()
	for _, name := range Formats() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, err := FormatFor(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int64{0, 1, 2, 40} {
				rows := syntheticRows(0, n, 24)
				want, err := f.Marshal(rows)
				if err != nil {
					t.Fatal(err)
				}
				if got := encodeStreamed(f, rows); !bytes.Equal(got, want) {
					t.Errorf("%d rows: streamed encoding differs from the stdlib's\n got: %q\nwant: %q", n, got, want)
				}
			}
		})
	}
}

// The text tables hold no CR or invalid UTF-8, which CSV and JSON would not
// carry back, so a synthetic export must decode to exactly its rows.
func TestEncodingRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range Formats() {
		f, _ := FormatFor(name)
		rows := syntheticRows(0, 64, 16)
		got, err := decodeRows(name, encodeStreamed(f, rows))
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if diff := cmp.Diff(rows, got); diff != "" {
			t.Errorf("%s: decoded rows differ (-want +got):\n%s", name, diff)
		}
	}
}

func FuzzJSONRowMatchesStdlib(f *testing.F) {
	for _, s := range append(names[:], notes[:]...) {
		f.Add(int64(1), s, "payload")
	}
	f.Add(int64(-5), "\xff\xfe bad utf8", "\u2029")
	f.Fuzz(func(t *testing.T, id int64, text, payload string) {
		r := Row{ID: id, Name: text, Note: payload + text, Payload: payload}
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONRow(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONRow(%+v)\n got: %q\nwant: %q", r, got, want)
		}
	})
}

func FuzzCSVRowMatchesStdlib(f *testing.F) {
	for _, s := range append(names[:], notes[:]...) {
		f.Add(int64(1), s, "payload")
	}
	f.Add(int64(7), "\r\n", " \t")
	f.Fuzz(func(t *testing.T, id int64, text, payload string) {
		r := Row{ID: id, Name: text, Note: payload, Payload: payload + text}
		var want bytes.Buffer
		w := csv.NewWriter(&want)
		w.UseCRLF = true
		_ = w.Write([]string{strconv.FormatInt(id, 10), r.Name, r.Note, hex.EncodeToString(r.Blob[:]), r.Payload})
		w.Flush()
		if got := (csvTable{}).AppendRow(nil, &r, true); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("AppendRow(%+v)\n got: %q\nwant: %q", r, got, want.Bytes())
		}
	})
}

func TestFillIsDeterministicAndSized(t *testing.T) {
	t.Parallel()
	a, b := NewSynthetic(), NewSynthetic()
	for _, w := range []int{0, 1, 64, MaxWidth} {
		for id := int64(1); id < 100; id++ {
			var ra, rb Row
			a.Fill(&ra, id, w)
			b.Fill(&rb, id, w)
			if ra != rb {
				t.Fatalf("Fill(%d, %d) differs between two sources: %+v vs %+v", id, w, ra, rb)
			}
			if len(ra.Payload) != w {
				t.Fatalf("Fill(%d, %d): payload is %d bytes", id, w, len(ra.Payload))
			}
		}
	}
}

func TestStreamedEncodingDoesNotAllocate(t *testing.T) {
	s := NewSynthetic()
	for _, name := range Formats() {
		f, _ := FormatFor(name)
		buf := make([]byte, 0, 64<<10)
		var r Row
		id := int64(0)
		allocs := testing.AllocsPerRun(1000, func() {
			id++
			s.Fill(&r, id, 256)
			buf = f.AppendRow(buf[:0], &r, false)
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per row, want 0", name, allocs)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	const rows, width = 1000, 64
	for _, name := range Formats() {
		f, _ := FormatFor(name)
		b.Run("impl=streamed/format="+name, func(b *testing.B) {
			s := NewSynthetic()
			buf := make([]byte, 0, 64<<10)
			var r Row
			b.ReportAllocs()
			for b.Loop() {
				buf = f.AppendHeader(buf[:0])
				for id := int64(1); id <= rows; id++ {
					s.Fill(&r, id, width)
					buf = f.AppendRow(buf, &r, id == 1)
					if len(buf) >= 32<<10 {
						buf = buf[:0]
					}
				}
				buf = f.AppendTrailer(buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
		b.Run("impl=buffered/format="+name, func(b *testing.B) {
			s := NewSynthetic()
			b.ReportAllocs()
			for b.Loop() {
				var all []Row
				var r Row
				for id := int64(1); id <= rows; id++ {
					s.Fill(&r, id, width)
					all = append(all, r)
				}
				if _, err := f.Marshal(all); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
