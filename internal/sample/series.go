package sample

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
)

// ReadSeries reads a series CSV the Sampler wrote as (seconds, bytes):
// the one measure (memory_bytes) where the file has it, else the summed
// RSS of files written before it existed.
func ReadSeries(path string) (ts, ys []float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err == io.EOF {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	col := 1
	if i := slices.Index(head, "memory_bytes"); i > 0 {
		col = i
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return ts, ys, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(rec) <= col {
			return nil, nil, fmt.Errorf("%s: bad line %q", path, rec)
		}
		ms, err1 := strconv.ParseFloat(rec[0], 64)
		v, err2 := strconv.ParseFloat(rec[col], 64)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("%s: bad line %q", path, rec)
		}
		ts, ys = append(ts, ms/1000), append(ys, v)
	}
}
