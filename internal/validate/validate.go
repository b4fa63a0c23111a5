// Package validate checks response bodies as they stream by, in pieces of
// any size, without holding one whole: JSON arrays, NDJSON and CSV, each
// row's id following the last (so a resumed export proves no row was lost
// or repeated), and where a body broke off — a truncated record, a
// per-item error row — as the outcome a run counts.
package validate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/floodharness/harness/internal/result"
)

// Checker checks a body as it streams by, in pieces of any size.
type Checker interface {
	Write(p []byte)
	// Finish reports the outcome once the body has ended, and the rows seen.
	Finish() (outcome string, rows int64, detail string)
	// LastID is the id of the last complete row (or where the ids began).
	LastID() int64
	// Rows is the number of complete rows so far.
	Rows() int64
}

// ids follows the id of every row: each must be the one after the last,
// so a resumed export proves no row was lost or repeated.
type ids struct {
	check bool
	last  int64
	gap   string
}

func (d *ids) next(id int64) {
	if d.check && d.gap == "" && id != d.last+1 {
		d.gap = fmt.Sprintf("row id %d after %d", id, d.last)
	}
	d.last = id
}

// LastID implements Checker.
func (d *ids) LastID() int64 { return d.last }

// Options say what a checker checks besides the format.
type Options struct {
	// CheckIDs makes every row's id follow the last one, starting after
	// Since.
	CheckIDs bool
	Since    int64
	// Rows, for JSON, is the path of the array whose elements are the
	// rows ("data", "results.0.series.0.values": keys, and indexes into
	// arrays); "": the first array of the body not inside another.
	Rows string
}

// New is a checker of bodies of kind (nil for none and upload, which the
// client checks whole).
func New(kind result.BodyCheck, o Options) (Checker, error) {
	d := ids{check: o.CheckIDs, last: o.Since}
	switch kind {
	case "", result.CheckNone, result.CheckUpload: // upload: checked whole by checkUpload
		return nil, nil
	case result.CheckJSON:
		return newJSON(false, o.Rows, d), nil
	case result.CheckNDJSON:
		return newJSON(true, "", d), nil
	case result.CheckCSV:
		return &csvChecker{ids: d}, nil
	}
	return nil, fmt.Errorf("unknown Checker %q (want none, json, ndjson, csv or upload)", kind)
}

// firstControl is the index of the first byte below 0x20 in b, or -1. It
// tests eight bytes at a time: a word has such a byte exactly when
// (x - 0x20…20) & ^x & 0x80…80 is not zero.
func firstControl(b []byte) int {
	const lo, hi = 0x2020202020202020, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if (x-lo)&^x&hi != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 {
			return i
		}
	}
	return -1
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// csvChecker counts RFC 4180 records and checks each has the header's
// field count. A record whose first field is "error" is an error record.
type csvChecker struct {
	inQuotes, quoteSeen, afterCR bool
	field                        []byte // the first field of the record, up to 6 bytes
	fieldNo                      int
	fields                       int // the header's field count
	records                      int64
	errRecords                   int64
	atRecordStart                bool
	started                      bool
	bad                          string
	pos, recordAt                int64  // bytes before this Write; where the record began
	firstErr                     string // where the first error record is
	ids
}

func (c *csvChecker) Write(p []byte) {
	defer func() { c.pos += int64(len(p)) }()
	for i := 0; i < len(p); i++ {
		if c.bad != "" {
			return
		}
		c.started = true
		c.atRecordStart = false
		b := p[i]
		if c.inQuotes {
			if c.quoteSeen {
				c.quoteSeen = false
				if b == '"' {
					c.keep(b)
					continue
				}
				c.inQuotes = false // the quote closed the field; b follows it
			} else {
				if b == '"' {
					c.quoteSeen = true
				} else if c.fieldNo > 0 {
					// Inside a quoted field only a quote matters: jump to it.
					k := bytes.IndexByte(p[i:], '"')
					if k < 0 {
						return
					}
					i += k - 1
				} else {
					c.keep(b)
				}
				continue
			}
		}
		switch b {
		case '"':
			c.inQuotes = true
		case ',':
			c.fieldNo++
		case '\r':
			c.afterCR = true
			continue
		case '\n':
			c.endRecord(c.pos + int64(i) + 1)
		default:
			if c.fieldNo > 0 {
				// An unquoted field past the first ends at a comma or line end.
				k := bytes.IndexAny(p[i:], ",\r\n\"")
				if k < 0 {
					return
				}
				i += k - 1
				continue
			}
			c.keep(b)
		}
		c.afterCR = false
	}
}

func (c *csvChecker) keep(b byte) {
	if c.fieldNo == 0 && len(c.field) < 20 { // "error", or an id
		c.field = append(c.field, b)
	}
}

// endRecord ends the record at next, the offset after its line end.
func (c *csvChecker) endRecord(next int64) {
	n := c.fieldNo + 1
	switch {
	case c.records == 0:
		c.fields = n
	case n != c.fields:
		c.bad = fmt.Sprintf("byte %d: record %d has %d fields, the header %d", c.recordAt, c.records, n, c.fields)
	case string(c.field) == "error":
		if c.errRecords++; c.firstErr == "" {
			c.firstErr = fmt.Sprintf("byte %d: record %d is an error record", c.recordAt, c.records)
		}
	default:
		id, err := strconv.ParseInt(string(c.field), 10, 64)
		if err != nil && c.check {
			c.bad = fmt.Sprintf("byte %d: record %d: id %q is not a number", c.recordAt, c.records, c.field)
		}
		c.next(id)
	}
	c.records++
	c.recordAt = next
	c.fieldNo, c.field, c.atRecordStart = 0, c.field[:0], true
}

func (c *csvChecker) Rows() int64 { return max(c.records-1-c.errRecords, 0) }

func (c *csvChecker) Finish() (string, int64, string) {
	rows := max(c.records-1-c.errRecords, 0)
	switch {
	case c.bad != "":
		return result.OutcomeInvalid, rows, c.bad
	case c.gap != "":
		return result.OutcomeIDGap, rows, c.gap
	case !c.started:
		return result.OutcomeTruncated, rows, "an empty body: no header record"
	case !c.atRecordStart || c.inQuotes:
		return result.OutcomeTruncated, rows, fmt.Sprintf("the body ended at byte %d inside record %d (it began at byte %d)", c.pos, c.records, c.recordAt)
	case c.errRecords > 0:
		return result.OutcomeErrorRecord, rows, c.firstErr
	}
	return result.OutcomeOK, rows, ""
}
