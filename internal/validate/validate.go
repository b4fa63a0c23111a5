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

// New is a checker of bodies of kind (nil for none and upload, which the
// client checks whole); with checkIDs, every row's id must
// follow the last one, starting after since.
func New(kind result.BodyCheck, since int64, checkIDs bool) (Checker, error) {
	d := ids{check: checkIDs, last: since}
	switch kind {
	case "", result.CheckNone, result.CheckUpload: // upload: checked whole by checkUpload
		return nil, nil
	case result.CheckJSON:
		return &jsonChecker{recordDepth: 1, st: jStart, ids: d}, nil
	case result.CheckNDJSON:
		return &jsonChecker{recordDepth: 0, st: jTop, ids: d}, nil
	case result.CheckCSV:
		return &csvChecker{ids: d}, nil
	}
	return nil, fmt.Errorf("unknown Checker %q (want none, json, ndjson, csv or upload)", kind)
}

type jstate uint8

const (
	jStart      jstate = iota // array mode: before the top-level '['
	jTop                      // ndjson: between records
	jDone                     // array mode: after the top-level ']'
	jValue                    // a value must come
	jValueOrEnd               // after '[': a value or ']'
	jKeyOrEnd                 // after '{': a key or '}'
	jKey                      // after ',' in an object
	jColon
	jCommaOrEnd
	jString
	jEscape
	jUnicode
	jNumber
	jLiteral
)

// jsonChecker checks JSON syntax byte by byte. Records are the values at
// recordDepth: the elements of the top-level array (json), or the top-level
// values themselves (ndjson). Each record must be an object; one whose
// first key is "error" is an error record.
type jsonChecker struct {
	recordDepth int
	st          jstate
	stack       []byte
	isKey       bool
	lit         string
	litPos      int
	hexLeft     int
	rows        int64
	errRecords  int64
	capture     bool // capturing the first key of a record
	key         []byte
	isError     bool // the current record's first key is "error"
	isIDKey     bool // the current record's first key is "id": its value is the row id
	numCapture  bool // reading that value
	num         numState
	id          int64
	bad         string
	ids
}

const ws = " \t\r\n"

func (j *jsonChecker) fail(format string, args ...any) {
	if j.bad == "" {
		j.bad = fmt.Sprintf(format, args...)
	}
}

func (j *jsonChecker) Write(p []byte) {
	for i := 0; i < len(p) && j.bad == ""; i++ {
		c := p[i]
		switch j.st {
		case jString:
			// Fast path: jump to the next quote or backslash (both SIMD
			// searches), checking the bytes skipped for control bytes.
			seg := p[i:]
			if q := bytes.IndexByte(seg, '"'); q >= 0 {
				seg = seg[:q]
			}
			if e := bytes.IndexByte(seg, '\\'); e >= 0 {
				seg = seg[:e]
			}
			if k := firstControl(seg); k >= 0 {
				j.fail("control byte 0x%02x in a string", seg[k])
				return
			}
			j.keep(seg)
			i += len(seg)
			if i == len(p) {
				return
			}
			if p[i] == '"' {
				j.endString()
			} else {
				j.st = jEscape
				j.key = append(j.key, 0) // an escaped key is never "error"
			}
		case jEscape:
			switch c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j.st = jString
			case 'u':
				j.st, j.hexLeft = jUnicode, 4
			default:
				j.fail("bad escape \\%c", c)
			}
		case jUnicode:
			if !isHex(c) {
				j.fail("bad \\u escape")
			}
			if j.hexLeft--; j.hexLeft == 0 {
				j.st = jString
			}
		case jNumber:
			if c >= '0' && c <= '9' && j.num == nInt && j.numCapture {
				j.id = j.id*10 + int64(c-'0')
			}
			next, ok := j.num.next(c)
			switch {
			case ok:
				j.num = next
			case j.num.complete():
				j.valueDone()
				i-- // this byte belongs to what follows the number
			default:
				j.fail("bad number")
			}
		case jLiteral:
			if c != j.lit[j.litPos] {
				j.fail("bad literal")
			} else if j.litPos++; j.litPos == len(j.lit) {
				j.valueDone()
			}
		default:
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			}
			j.structural(c)
		}
	}
}

func (j *jsonChecker) keep(b []byte) {
	if j.capture && j.isKey && len(j.key) <= len("error") {
		j.key = append(j.key, b[:min(len(b), len("error")+1-len(j.key))]...)
	}
}

func (j *jsonChecker) endString() {
	if !j.isKey {
		j.valueDone()
		return
	}
	if j.capture {
		j.isError = string(j.key) == "error"
		j.isIDKey = string(j.key) == "id"
		j.capture = false
	}
	j.st = jColon
}

// structural handles a non-space byte outside strings, numbers and literals.
func (j *jsonChecker) structural(c byte) {
	top := byte(0)
	if len(j.stack) > 0 {
		top = j.stack[len(j.stack)-1]
	}
	switch j.st {
	case jStart:
		if c != '[' {
			j.fail("want a JSON array, got %q", c)
			return
		}
		j.stack = append(j.stack, '[')
		j.st = jValueOrEnd
	case jDone:
		j.fail("data after the end of the array")
	case jTop, jValue:
		j.startValue(c)
	case jValueOrEnd:
		if c == ']' {
			j.pop()
		} else {
			j.startValue(c)
		}
	case jKeyOrEnd, jKey:
		switch {
		case c == '"':
			j.st, j.isKey = jString, true
		case c == '}' && j.st == jKeyOrEnd:
			j.pop()
		default:
			j.fail("want an object key, got %q", c)
		}
	case jColon:
		if c != ':' {
			j.fail("want ':', got %q", c)
		}
		j.st = jValue
	case jCommaOrEnd:
		switch {
		case c == ',' && top == '{':
			j.st = jKey
		case c == ',':
			j.st = jValue
		case c == '}' && top == '{', c == ']' && top == '[':
			j.pop()
		default:
			j.fail("want ',' or the container's end, got %q", c)
		}
	}
}

func (j *jsonChecker) startValue(c byte) {
	if len(j.stack) == j.recordDepth {
		if c != '{' {
			j.fail("a record must be an object, got %q", c)
			return
		}
		j.capture, j.key, j.isError = true, j.key[:0], false
	}
	switch {
	case c == '{':
		j.stack = append(j.stack, '{')
		j.st = jKeyOrEnd
	case c == '[':
		j.stack = append(j.stack, '[')
		j.st = jValueOrEnd
	case c == '"':
		j.st, j.isKey = jString, false
	case c == '-' || (c >= '0' && c <= '9'):
		j.st, j.num = jNumber, nStart
		j.num, _ = j.num.next(c)
		if j.isIDKey && len(j.stack) == j.recordDepth+1 {
			// A row id: digits of a non-negative integer; anything else
			// (a sign, a fraction) makes it no id, and the id check says so.
			j.numCapture, j.id = true, int64(c-'0')
			if c == '-' || c == '0' {
				j.id = -1
			}
		}
	case c == 't':
		j.st, j.lit, j.litPos = jLiteral, "true", 1
	case c == 'f':
		j.st, j.lit, j.litPos = jLiteral, "false", 1
	case c == 'n':
		j.st, j.lit, j.litPos = jLiteral, "null", 1
	default:
		j.fail("want a value, got %q", c)
	}
}

// numState walks RFC 8259's number grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
type numState uint8

const (
	nStart     numState = iota
	nMinus              // after '-': a digit must come
	nZero               // a leading 0: no more integer digits
	nInt                // integer digits
	nDot                // after '.': a digit must come
	nFrac               // fraction digits
	nExp                // after 'e': a sign or digit must come
	nExpSign            // after the exponent's sign: a digit must come
	nExpDigits          // exponent digits
)

// next is the state after byte c, or false if c cannot continue the number.
func (n numState) next(c byte) (numState, bool) {
	digit := c >= '0' && c <= '9'
	switch {
	case n == nStart && c == '-':
		return nMinus, true
	case (n == nStart || n == nMinus) && c == '0':
		return nZero, true
	case (n == nStart || n == nMinus || n == nInt) && digit:
		return nInt, true
	case (n == nZero || n == nInt) && c == '.':
		return nDot, true
	case (n == nDot || n == nFrac) && digit:
		return nFrac, true
	case (n == nZero || n == nInt || n == nFrac) && (c == 'e' || c == 'E'):
		return nExp, true
	case n == nExp && (c == '+' || c == '-'):
		return nExpSign, true
	case (n == nExp || n == nExpSign || n == nExpDigits) && digit:
		return nExpDigits, true
	}
	return n, false
}

// complete reports whether the number may end here.
func (n numState) complete() bool {
	return n == nZero || n == nInt || n == nFrac || n == nExpDigits
}

func (j *jsonChecker) pop() {
	j.stack = j.stack[:len(j.stack)-1]
	j.valueDone()
}

func (j *jsonChecker) valueDone() {
	if j.numCapture {
		j.numCapture, j.isIDKey = false, false
	}
	if len(j.stack) == j.recordDepth {
		if j.isError {
			j.errRecords++
		} else {
			j.rows++
			j.next(j.id)
		}
		j.isIDKey, j.id = false, 0
	}
	switch {
	case len(j.stack) > 0:
		j.st = jCommaOrEnd
	case j.recordDepth == 0:
		j.st = jTop
	default:
		j.st = jDone
	}
}

func (j *jsonChecker) Rows() int64 { return j.rows }

func (j *jsonChecker) Finish() (string, int64, string) {
	switch {
	case j.bad != "":
		return result.OutcomeInvalid, j.rows, j.bad
	case j.gap != "":
		return result.OutcomeIDGap, j.rows, j.gap
	case j.recordDepth > 0 && j.st != jDone, j.recordDepth == 0 && j.st != jTop:
		return result.OutcomeTruncated, j.rows, "body ended inside a value"
	case j.errRecords > 0:
		return result.OutcomeErrorRecord, j.rows, ""
	}
	return result.OutcomeOK, j.rows, ""
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
	ids
}

func (c *csvChecker) Write(p []byte) {
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
			c.endRecord()
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

func (c *csvChecker) endRecord() {
	n := c.fieldNo + 1
	switch {
	case c.records == 0:
		c.fields = n
	case n != c.fields:
		c.bad = fmt.Sprintf("record %d has %d fields, the header %d", c.records, n, c.fields)
	case string(c.field) == "error":
		c.errRecords++
	default:
		id, err := strconv.ParseInt(string(c.field), 10, 64)
		if err != nil && c.check {
			c.bad = fmt.Sprintf("record %d: id %q is not a number", c.records, c.field)
		}
		c.next(id)
	}
	c.records++
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
	case !c.started || !c.atRecordStart || c.inQuotes:
		return result.OutcomeTruncated, rows, "body ended inside a record"
	case c.errRecords > 0:
		return result.OutcomeErrorRecord, rows, ""
	}
	return result.OutcomeOK, rows, ""
}
