package targets

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
)

// Bounds on a request, so a typo cannot ask a reference server for a
// payload it cannot even describe. Rows are not bounded tighter: asking a
// buffered server for too many rows is the experiment, not an error.
const (
	MaxWidth = 64 << 10
	MaxRows  = 1_000_000_000
)

// Query is what one GET /export asks for: the rows with Since < id <= Rows,
// each with a Width-byte payload, in Format ("" means the server's default).
type Query struct {
	Rows   int64
	Width  int
	Since  int64
	Format string
	// FailAt, when ≥ 0, makes the response fail after that many rows, the
	// way FailMode says: record, abort or stall. -1 means no failure.
	FailAt   int64
	FailMode string
}

// Failure modes for ?fail_mode=.
const (
	// FailRecord ends the body well-formed with an error record.
	FailRecord = "record"
	// FailAbort drops the connection: the client sees a truncated body.
	FailAbort = "abort"
	// FailStall stops sending; only the client's idle timeout ends it.
	FailStall = "stall"
)

// ParseQuery reads /export's query string over defaults. Unknown or
// repeated keys and out-of-range values are errors with a one-line reason.
func ParseQuery(v url.Values, defaults Query) (Query, error) {
	q := defaults
	q.FailAt, q.FailMode = -1, FailRecord
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same key first every time
	for _, k := range keys {
		vals := v[k]
		if len(vals) != 1 {
			return Query{}, fmt.Errorf("query %q: given %d times, want once", k, len(vals))
		}
		s := vals[0]
		var err error
		switch k {
		case "rows":
			q.Rows, err = parseInt(s, 0, MaxRows)
		case "since":
			q.Since, err = parseInt(s, 0, MaxRows)
		case "width":
			var w int64
			w, err = parseInt(s, 0, MaxWidth)
			q.Width = int(w)
		case "fail_at":
			q.FailAt, err = parseInt(s, 0, MaxRows)
		case "fail_mode":
			if s != FailRecord && s != FailAbort && s != FailStall {
				err = fmt.Errorf("%q: want record, abort or stall", s)
			}
			q.FailMode = s
		case "format":
			if _, ferr := FormatFor(s); ferr != nil {
				err = ferr
			}
			q.Format = s
		default:
			// %q: a key is the client's text, and the reason stays on one line.
			return Query{}, fmt.Errorf("query %q: unknown parameter (want rows, width, since, format, fail_at or fail_mode)", k)
		}
		if err != nil {
			return Query{}, fmt.Errorf("query %s: %w", k, err)
		}
	}
	return q, nil
}

func parseInt(s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
	}
	return n, nil
}
